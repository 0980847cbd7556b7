/** CPU references for the AltUp stream kernels (f64 math). Streams are arrays of [T*D] rows. */
export function altupPredictRef(X: Float32Array[], coefs: Float32Array, T: number, D: number): Float32Array[] {
  const n = X.length;
  return X.map((_, k) => {
    const out = new Float32Array(T * D);
    for (let i = 0; i < T * D; i++) {
      const t = Math.floor(i / D);
      let acc = X[k][i];
      for (let j = 0; j < n; j++) acc += coefs[t * n * n + k * n + j] * X[j][i];
      out[i] = acc;
    }
    return out;
  });
}

export function altupCorrectRef(pred: Float32Array[], act: Float32Array, cc: Float32Array, active: number, T: number, D: number): Float32Array[] {
  const n = pred.length;
  return pred.map((p, k) => p.map((x, i) => x + (cc[Math.floor(i / D) * n + k] + 1) * (act[i] - pred[active][i])));
}

export function altupRescaleRef(y: Float32Array, ref: Float32Array, T: number, D: number): Float32Array {
  const out = new Float32Array(T * D);
  for (let t = 0; t < T; t++) {
    let sy = 0;
    let sr = 0;
    for (let c = 0; c < D; c++) {
      sy += y[t * D + c] ** 2;
      sr += ref[t * D + c] ** 2;
    }
    const f = Math.sqrt(sr / D) / Math.sqrt(Math.max(sy / D, 1e-5));
    for (let c = 0; c < D; c++) out[t * D + c] = y[t * D + c] * f;
  }
  return out;
}
