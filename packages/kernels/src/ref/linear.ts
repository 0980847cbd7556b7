/** CPU reference for the linear family: y[r, o] = sum_i x[r, i] * w[o, i] in f64 (w already decoded to f32). */
export function linearRef(x: Float32Array, w: Float32Array, rows: number, inFeatures: number, outFeatures: number): Float64Array {
  const y = new Float64Array(rows * outFeatures);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outFeatures; o++) {
      let s = 0;
      for (let i = 0; i < inFeatures; i++) s += x[r * inFeatures + i] * w[o * inFeatures + i];
      y[r * outFeatures + o] = s;
    }
  }
  return y;
}

/** CPU reference of linearMaskedRows: one row, y[o] = sum_i x[i] * w[o, i] where mask[o] != 0, else 0 (f64). */
export function linearMaskedRowsRef(x: Float32Array, w: Float32Array, mask: ArrayLike<number>, inFeatures: number, outFeatures: number): Float64Array {
  const y = linearRef(x, w, 1, inFeatures, outFeatures);
  for (let o = 0; o < outFeatures; o++) if (mask[o] === 0) y[o] = 0;
  return y;
}
