/**
 * CPU reference for the argmax and sampling kernels (f64 math), with the same candidate set, tie
 * rules and counter-based RNG as shaders/sample.wgsl, so the same inputs give the same token.
 */

/** Candidates the GPU sampler sorts in one workgroup: top-k is clamped to this. */
export const SAMPLE_MAX_K = 1024;

/** PCG-RXS-M-XS hash of a u32 (Jarzynski and Olano 2020), wrapping u32 arithmetic. */
export function pcgHash(v: number): number {
  const s = (Math.imul(v, 747796405) + 2891336453) >>> 0;
  const w = Math.imul((s >>> ((s >>> 28) + 4)) ^ s, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}

/** The sampler's uniform draw for (seed, step): a multiple of 2^-24 in [0, 1), identical on every device. */
export function samplerUniform(seed: number, step: number): number {
  return (pcgHash((pcgHash(seed >>> 0) + (step >>> 0)) >>> 0) >>> 8) / 16777216;
}

const bits = new DataView(new ArrayBuffer(4));

/** A u32 that orders like the f32 value (negative: all bits flipped; otherwise: sign bit set). */
export function orderKey(x: number): number {
  bits.setFloat32(0, x, true);
  const b = bits.getUint32(0, true);
  return (b & 0x80000000 ? ~b : b | 0x80000000) >>> 0;
}

/** Index of the largest of logits[0, n), the lowest index on ties. */
export function argmaxRef(logits: Float32Array, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

export interface SampleOptions {
  n: number;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
  step: number;
}

/** The k largest of logits[0, n) by (value desc, index asc), where order is the f32 order key. */
function topCandidates(logits: Float32Array, n: number, k: number): number[] {
  const keys = new Uint32Array(n);
  for (let i = 0; i < n; i++) keys[i] = orderKey(logits[i]);
  const tau = keys.slice().sort()[n - k];
  const picked: number[] = [];
  for (let i = 0; i < n; i++) if (keys[i] > tau) picked.push(i);
  for (let i = 0; i < n && picked.length < k; i++) if (keys[i] === tau) picked.push(i);
  return picked.sort((a, b) => keys[b] - keys[a] || a - b);
}

export interface SampleDetail {
  token: number;
  /**
   * Distance, relative to the candidates' total mass, from the draw's target u * c_{kept-1} (and from
   * the top-p cut top_p * Z) to the nearest cumulative sum: below ~1e-6 an f32 computation may
   * legitimately pick a neighbouring token.
   */
  margin: number;
}

/**
 * temperature <= 0: argmax. Otherwise: the k = min(topK || n, n, SAMPLE_MAX_K) largest logits (ties:
 * lower index first), p_i = exp((x_i - x_max) / temperature) in that order, cumulative sums c_i, kept =
 * the shortest prefix with c >= topP * c_{k-1} (all k when topP >= 1), and the token is the first kept
 * i with c_i > u * c_{kept-1}, u = samplerUniform(seed, step).
 */
export function sampleRefDetail(logits: Float32Array, o: SampleOptions): SampleDetail {
  if (o.temperature <= 0) return { token: argmaxRef(logits, o.n), margin: Infinity };
  const k = Math.min(o.topK === 0 ? o.n : o.topK, o.n, SAMPLE_MAX_K);
  const order = topCandidates(logits, o.n, k);
  const top = logits[order[0]];
  const cum = new Float64Array(k);
  let s = 0;
  for (let i = 0; i < k; i++) {
    s += Math.exp((logits[order[i]] - top) / o.temperature);
    cum[i] = s;
  }
  const z = cum[k - 1];
  let kept = k;
  let margin = Infinity;
  if (o.topP < 1) {
    const i = cum.findIndex((c) => c >= o.topP * z);
    kept = i < 0 ? k : i + 1;
    for (const c of cum) margin = Math.min(margin, Math.abs(c - o.topP * z) / z);
  }
  const target = samplerUniform(o.seed, o.step) * cum[kept - 1];
  const pick = cum.subarray(0, kept).findIndex((c) => c > target);
  for (const c of cum.subarray(0, kept)) margin = Math.min(margin, Math.abs(c - target) / z);
  return { token: order[pick < 0 ? kept - 1 : pick], margin };
}

export function sampleRef(logits: Float32Array, o: SampleOptions): number {
  return sampleRefDetail(logits, o).token;
}
