/**
 * CPU reference for rope (gemma3n_ref.rope_cos_sin + apply_rope with dtype f32): inv_freq and the
 * angle pos * inv_freq rounded to f32 as Hugging Face computes them, cos/sin and the rotation in f64.
 */
export function ropeRef(x: Float32Array, rows: number, heads: number, headDim: number, theta: number, pos0: number): Float32Array {
  const half = headDim / 2;
  const out = new Float32Array(rows * heads * headDim);
  for (let t = 0; t < rows; t++) {
    const pos = Math.fround(pos0 + t);
    for (let j = 0; j < half; j++) {
      const inv = Math.fround(1 / Math.pow(theta, Math.fround(Math.fround(2 * j) / Math.fround(headDim))));
      const a = Math.fround(pos * inv);
      const c = Math.cos(a);
      const s = Math.sin(a);
      for (let h = 0; h < heads; h++) {
        const base = (t * heads + h) * headDim;
        const x0 = x[base + j];
        const x1 = x[base + j + half];
        out[base + j] = x0 * c - x1 * s;
        out[base + j + half] = x1 * c + x0 * s;
      }
    }
  }
  return out;
}
