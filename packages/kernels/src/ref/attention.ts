/**
 * CPU reference for causal GQA attention (f64 math). Keys and values are given by absolute position,
 * [nKV, positions, headDim], independent of any cache layout; query t sits at position pos0 + t and
 * sees positions max(0, P - window + 1) .. P (window > 0) or 0 .. P (window == 0).
 */
export interface AttentionRefArgs {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  /** Positions held by k and v (their middle axis). */
  positions: number;
  rows: number;
  nHeads: number;
  nKV: number;
  headDim: number;
  pos0: number;
  window: number;
  scale: number;
}

export function attentionRef(a: AttentionRefArgs): Float32Array {
  const { q, k, v, positions, rows, nHeads, nKV, headDim: D, pos0, window, scale } = a;
  const group = nHeads / nKV;
  const out = new Float32Array(rows * nHeads * D);
  for (let t = 0; t < rows; t++) {
    const p = pos0 + t;
    const lo = window > 0 ? Math.max(0, p - window + 1) : 0;
    for (let h = 0; h < nHeads; h++) {
      const g = Math.floor(h / group);
      const qo = (t * nHeads + h) * D;
      const scores = new Float64Array(p - lo + 1);
      let m = -Infinity;
      for (let s = lo; s <= p; s++) {
        const ko = (g * positions + s) * D;
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[qo + d] * k[ko + d];
        scores[s - lo] = scale * dot;
        m = Math.max(m, scores[s - lo]);
      }
      let l = 0;
      for (let i = 0; i < scores.length; i++) {
        scores[i] = Math.exp(scores[i] - m);
        l += scores[i];
      }
      const acc = new Float64Array(D);
      for (let s = lo; s <= p; s++) {
        const w = scores[s - lo] / l;
        const vo = (g * positions + s) * D;
        for (let d = 0; d < D; d++) acc[d] += w * v[vo + d];
      }
      for (let d = 0; d < D; d++) out[qo + d] = acc[d];
    }
  }
  return out;
}
