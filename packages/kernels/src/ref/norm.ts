/** CPU reference for the rms_norm family (f64 math, f32 results), as gemma3n_ref.rms_norm. */
export function rmsNormRef(
  x: Float32Array,
  rows: number,
  cols: number,
  eps: number,
  weight: Float32Array | null = null,
  scale = 1,
): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let j = 0; j < cols; j++) ss += x[r * cols + j] * x[r * cols + j];
    const inv = 1 / Math.sqrt(ss / cols + eps);
    for (let j = 0; j < cols; j++) out[r * cols + j] = x[r * cols + j] * inv * (weight ? weight[j] : 1) * scale;
  }
  return out;
}
