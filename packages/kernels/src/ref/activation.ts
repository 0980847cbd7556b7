/** CPU references for the activation family (f64 math, f32 results), as gemma3n_ref. */
export function geluTanhRef(v: number): number {
  return 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
}

export function geluRef(x: Float32Array): Float32Array {
  return x.map(geluTanhRef);
}

export function gegluRef(gate: Float32Array, up: Float32Array, rows: number, cols: number, upStride = cols, upOffset = 0): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) out[r * cols + j] = geluTanhRef(gate[r * cols + j]) * up[r * upStride + upOffset + j];
  }
  return out;
}

/** relu(x - (mean + z * std)) per row, std the population std (gemma3n_ref.mlp's sparsity step). */
export function gaussianTopKRef(x: Float32Array, rows: number, cols: number, z: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const row = x.subarray(r * cols, (r + 1) * cols);
    let s = 0;
    for (const v of row) s += v;
    const mean = s / cols;
    let d2 = 0;
    for (const v of row) d2 += (v - mean) * (v - mean);
    const threshold = mean + z * Math.sqrt(d2 / cols);
    for (let j = 0; j < cols; j++) out[r * cols + j] = Math.max(row[j] - threshold, 0);
  }
  return out;
}

export function softcapRef(x: Float32Array, cap: number): Float32Array {
  return x.map((v) => (Number.isFinite(v) ? cap * Math.tanh(v / cap) : NaN));
}

export function sigmoidRef(v: number): number {
  return 1 / (1 + Math.exp(-v));
}

export function siluRef(x: Float32Array): Float32Array {
  return x.map((v) => v * sigmoidRef(v));
}

export function reluRef(x: Float32Array): Float32Array {
  return x.map((v) => Math.max(v, 0));
}

export function clipRef(x: Float32Array, limit: number): Float32Array {
  return x.map((v) => Math.min(limit, Math.max(-limit, v)));
}

/** out[r, j] = x[r, j] * sigmoid(x[r, cols + j]) for x [rows, 2 * cols]. */
export function gluRef(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) out[r * cols + j] = x[r * 2 * cols + j] * sigmoidRef(x[r * 2 * cols + cols + j]);
  }
  return out;
}
