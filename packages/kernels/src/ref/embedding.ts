/** CPU reference for the embedding family: gather rows of an f32 (decoded) table chunk, times scale. */
export interface EmbedGatherRefArgs {
  rowStart: number;
  rows: number;
  cols: number;
  scale: number;
  count: number;
}

/**
 * `table` holds the chunk's rows as f32 values (decoded from the storage dtype); `out` is the
 * output's prior content, returned updated for tokens whose id lies in the chunk. Each element is
 * rounded to f32 once after the scale, as the kernel does.
 */
export function embedGatherRef(table: Float32Array, ids: Uint32Array, out: Float32Array, a: EmbedGatherRefArgs): Float32Array {
  const result = out.slice();
  const scale = Math.fround(a.scale);
  for (let t = 0; t < a.count; t++) {
    const r = ids[t] - a.rowStart;
    if (r < 0 || r >= a.rows) continue;
    for (let j = 0; j < a.cols; j++) result[t * a.cols + j] = table[r * a.cols + j] * scale;
  }
  return result;
}

export function bf16ToF32(bits: number): number {
  return new Float32Array(new Uint32Array([(bits & 0xffff) << 16]).buffer)[0];
}

export function f16ToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? Number.NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}
