/** CPU reference for copy_rows: rows of u32 words from `src` into `dst`, each with its own offset and stride. */
export function copyRowsRef(
  src: Uint32Array,
  dst: Uint32Array,
  a: { rows: number; rowWords: number; srcOffset: number; srcStride: number; dstOffset: number; dstStride: number },
): Uint32Array {
  const out = dst.slice();
  for (let r = 0; r < a.rows; r++) {
    for (let j = 0; j < a.rowWords; j++) out[a.dstOffset + r * a.dstStride + j] = src[a.srcOffset + r * a.srcStride + j];
  }
  return out;
}
