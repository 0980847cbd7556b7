/** CPU reference for the KV cache append: token t of k/v ([rows, nKV, headDim]) goes to slot (pos0 + t) % capacity. */
export function kvAppendRef(
  cache: Float32Array,
  x: Float32Array,
  dims: { rows: number; nKV: number; headDim: number; pos0: number; capacity: number },
): Float32Array {
  const { rows, nKV, headDim, pos0, capacity } = dims;
  const out = cache.slice();
  for (let t = 0; t < rows; t++) {
    const slot = (pos0 + t) % capacity;
    for (let h = 0; h < nKV; h++) {
      for (let d = 0; d < headDim; d++) out[(h * capacity + slot) * headDim + d] = x[(t * nKV + h) * headDim + d];
    }
  }
  return out;
}
