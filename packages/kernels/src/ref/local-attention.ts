/** f64 reference of local_attention.wgsl (spec §5.6), written like gemma3n_audio_ref.local_attention. */

export interface LocalAttentionRefArgs {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  rel: Float32Array;
  qscale: Float32Array;
  mask: ArrayLike<number>;
  rows: number;
  heads: number;
  headDim: number;
  left: number;
  right: number;
  chunk: number;
  cap: number;
}

/** q, k, v [rows, heads * headDim]; the chunked formulation of the reference, query by query. */
export function localAttentionRef(a: LocalAttentionRefArgs): Float32Array {
  const { q, k, v, rel, qscale, mask, rows, heads, headDim: hd, left, right, chunk, cap } = a;
  const width = heads * hd;
  const out = new Float32Array(rows * width);
  const ctxLen = chunk + left + right;
  for (let t = 0; t < rows; t++) {
    const u = Math.floor(t / chunk);
    for (let n = 0; n < heads; n++) {
      const logits: number[] = [];
      const pos: number[] = [];
      for (let c = 0; c < ctxLen; c++) {
        const s = u * chunk - left + c;
        const d = t - s;
        if (d < -right || d > left || s < 0 || s >= rows || !mask[s]) continue;
        let acc = 0;
        for (let e = 0; e < hd; e++) acc += q[t * width + n * hd + e] * qscale[e] * (k[s * width + n * hd + e] + rel[(left - d) * width + n * hd + e]);
        logits.push(cap * Math.tanh(acc / cap));
        pos.push(s);
      }
      const o = out.subarray(t * width + n * hd, t * width + (n + 1) * hd);
      if (logits.length === 0) {
        for (let c = 0; c < ctxLen; c++) {
          const s = u * chunk - left + c;
          if (s < 0 || s >= rows) continue;
          for (let e = 0; e < hd; e++) o[e] += v[s * width + n * hd + e] / ctxLen;
        }
        continue;
      }
      const m = Math.max(...logits);
      const p = logits.map((l) => Math.exp(l - m));
      const z = p.reduce((x, y) => x + y, 0);
      for (let e = 0; e < hd; e++) {
        let acc = 0;
        for (let j = 0; j < p.length; j++) acc += p[j] * v[pos[j] * width + n * hd + e];
        o[e] = acc / z;
      }
    }
  }
  return out;
}
