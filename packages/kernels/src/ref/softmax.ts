/** CPU reference for the softmax family (f64 math, f32 results): softmax(scale * x) over each row of [rows, cols]. */
export function softmaxRowsRef(x: Float32Array, rows: number, cols: number, scale = 1): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let j = 0; j < cols; j++) m = Math.max(m, scale * x[r * cols + j]);
    let l = 0;
    const e = new Float64Array(cols);
    for (let j = 0; j < cols; j++) l += e[j] = Math.exp(scale * x[r * cols + j] - m);
    for (let j = 0; j < cols; j++) out[r * cols + j] = e[j] / l;
  }
  return out;
}
