/** f64 reference of the causal cumulative group norm (spec §5.4) on channels-last x [rows, rowLen]. */
export function cumulativeGroupNormRef(x: Float32Array, weight: Float32Array, rows: number, rowLen: number, channels: number, eps: number, relu = false): Float32Array {
  const out = new Float32Array(rows * rowLen);
  let sum = 0;
  let sq = 0;
  for (let t = 0; t < rows; t++) {
    const row = x.subarray(t * rowLen, (t + 1) * rowLen);
    for (const v of row) sum += v;
    const n = (t + 1) * rowLen;
    const mean = sum / n;
    for (const v of row) sq += (v - mean) * (v - mean);
    const inv = 1 / Math.sqrt(sq / n + eps);
    for (let j = 0; j < rowLen; j++) {
      const y = (row[j] - mean) * inv * weight[j % channels];
      out[t * rowLen + j] = relu ? Math.max(y, 0) : y;
    }
  }
  return out;
}
