import { defineKernel, foldWorkgroups, G3nError, numel, ShapeError, type Dispatch, type Gpu, type Kernel, type Tensor } from '@g3n/gpu';
import source from '../../../shaders/attention.wgsl?raw';

/** Largest head_dim the kernels hold in workgroup memory (Gemma 3n uses 256). */
export const MAX_HEAD_DIM = 256;

const PREFILL = { WG: 64, ROWS: 8, BK: 32, DC: 32, MAX_D: MAX_HEAD_DIM };
const DECODE = { WG: 64, ROWS: 4, BK: 64, DC: 32, MAX_D: MAX_HEAD_DIM };
const COMBINE_WG = 256;
/** Decode splits the keys until about this many workgroups are in flight. */
const TARGET_WORKGROUPS = 256;

export const attentionKernels = {
  /** rows > 1: one workgroup per (row block, kv head) over all its keys. */
  prefill: defineKernel('attention', source, 'attention_prefill', PREFILL),
  /** rows == 1: the keys split across workgroups (flash-decoding), partials merged by `combine`. */
  split: defineKernel('attention', source, 'attention_split', DECODE),
  combine: defineKernel('attention', source, 'attention_combine', { WG: COMBINE_WG }),
};

export interface AttentionArgs {
  /** Queries [rows, nHeads, headDim] (normed and RoPE'd). */
  q: Tensor;
  /** The layer's (or its KV source layer's) caches [nKV, capacity, headDim]. */
  kCache: Tensor;
  vCache: Tensor;
  /** Output [rows, nHeads * headDim]. */
  out: Tensor;
  rows: number;
  nHeads: number;
  nKV: number;
  headDim: number;
  /** Absolute position of query 0 (a uniform: change it per decode step with Plan.setParams on dispatch 0). */
  pos0: number;
  capacity: number;
  /** Sliding window in positions (the query and window - 1 earlier keys); 0 for a global layer. */
  window: number;
  /** Score multiplier (1.0 for Gemma 3n, whose q/k norms replace 1/sqrt(headDim)). */
  scale: number;
  /** Key splits of the decode path (default: enough to fill about 256 workgroups). */
  splits?: number;
  /**
   * Decode partials (rows = 1: required), at least attentionScratchShape(args) elements of f32, owned by
   * the caller (one buffer can serve every layer's decode attention, as they run one after another).
   */
  scratch?: Tensor;
  /**
   * false: every query sees all `capacity` keys of the cache (slots 0 .. capacity - 1), as in the vision
   * tower's multi-query attention; pos0 and window are then ignored. Default true.
   */
  causal?: boolean;
}

function sharedBytes(c: typeof PREFILL): number {
  return 4 * (c.ROWS * c.DC + c.BK * (c.DC + 1) + c.ROWS * c.BK + c.ROWS * c.MAX_D + 3 * c.ROWS);
}

/** Key splits of the decode path: enough to spread the largest key range the cache can hold over the GPU. */
export function decodeSplits(args: Pick<AttentionArgs, 'nHeads' | 'nKV' | 'capacity' | 'window' | 'splits'>): number {
  if (args.splits !== undefined) return args.splits;
  const maxKeys = args.window > 0 ? Math.min(args.window, args.capacity) : args.capacity;
  const blocks = args.nKV * Math.ceil(args.nHeads / args.nKV / DECODE.ROWS);
  return Math.max(1, Math.min(Math.ceil(maxKeys / DECODE.BK), Math.floor(TARGET_WORKGROUPS / blocks)));
}

/** Shape of the f32 scratch the decode path needs: [splits, nHeads, headDim + 2] (O, m, l per split and head). */
export function attentionScratchShape(args: Pick<AttentionArgs, 'nHeads' | 'nKV' | 'headDim' | 'capacity' | 'window' | 'splits'>): number[] {
  return [decodeSplits(args), args.nHeads, args.headDim + 2];
}

function guard(gpu: Gpu, a: AttentionArgs): void {
  const name = 'attention';
  for (const t of [a.q, a.kCache, a.vCache, a.out]) if (t.dtype !== 'f32') throw new ShapeError(name, `${t.label} must be f32, got ${t.dtype}`);
  for (const [what, x] of [['rows', a.rows], ['nHeads', a.nHeads], ['nKV', a.nKV], ['headDim', a.headDim], ['capacity', a.capacity]] as const) {
    if (!Number.isInteger(x) || x < 1) throw new ShapeError(name, `${what} must be a positive integer, got ${x}`);
  }
  if (!Number.isInteger(a.pos0) || a.pos0 < 0) throw new ShapeError(name, `pos0 must be a non-negative integer, got ${a.pos0}`);
  if (!Number.isInteger(a.window) || a.window < 0) throw new ShapeError(name, `window must be a non-negative integer, got ${a.window}`);
  if (a.nHeads % a.nKV !== 0) throw new ShapeError(name, `nHeads ${a.nHeads} is not a multiple of nKV ${a.nKV}`);
  if (a.headDim > MAX_HEAD_DIM) throw new ShapeError(name, `headDim ${a.headDim} exceeds ${MAX_HEAD_DIM}`);
  const qn = a.rows * a.nHeads * a.headDim;
  if (numel(a.q.shape) !== qn) throw new ShapeError(name, `${a.q.label} has ${numel(a.q.shape)} elements, expected [${a.rows}, ${a.nHeads}, ${a.headDim}]`);
  if (numel(a.out.shape) !== qn) throw new ShapeError(name, `${a.out.label} has ${numel(a.out.shape)} elements, expected [${a.rows}, ${a.nHeads * a.headDim}]`);
  const cn = a.nKV * a.capacity * a.headDim;
  for (const t of [a.kCache, a.vCache]) {
    if (numel(t.shape) !== cn) throw new ShapeError(name, `${t.label} has ${numel(t.shape)} elements, expected [${a.nKV}, ${a.capacity}, ${a.headDim}]`);
  }
  if (a.causal === false) {
    // Full attention runs as a sliding window of `capacity` keys ending at positions >= capacity - 1: each
    // query then sees every slot exactly once, whatever its position.
  } else if (a.window > 0 && a.capacity < a.window + a.rows - 1) {
    throw new ShapeError(name, `sliding cache of capacity ${a.capacity} cannot serve ${a.rows} queries with window ${a.window} (needs ${a.window + a.rows - 1})`);
  }
  if (a.causal !== false && a.window === 0 && a.capacity < a.pos0 + a.rows) {
    throw new ShapeError(name, `global cache of capacity ${a.capacity} cannot hold positions up to ${a.pos0 + a.rows - 1}`);
  }
  if (a.splits !== undefined && (!Number.isInteger(a.splits) || a.splits < 1)) throw new ShapeError(name, `splits must be a positive integer, got ${a.splits}`);
  const partN = numel(attentionScratchShape(a));
  if (a.rows === 1 && !a.scratch) throw new ShapeError(name, `one query (rows = 1) needs its scratch: an f32 tensor of at least ${partN} elements (attentionScratchShape)`);
  if (a.rows === 1 && a.scratch && (a.scratch.dtype !== 'f32' || numel(a.scratch.shape) < partN)) {
    throw new ShapeError(name, `${a.scratch.label} must be f32 with at least ${partN} elements`);
  }
  const limit = gpu.caps.limits.maxComputeWorkgroupStorageSize;
  for (const c of [PREFILL, DECODE]) {
    if (sharedBytes(c) > limit) throw new G3nError('LIMIT_TOO_SMALL', `attention needs ${sharedBytes(c)} bytes of workgroup memory; this GPU allows ${limit}.`);
  }
}

/**
 * Causal GQA attention of `rows` queries at positions pos0 .. pos0 + rows - 1 over a ring-buffer KV
 * cache. Returns one dispatch for rows > 1 (prefill) and two for rows == 1 (split keys, then combine);
 * pos0 is a uniform (read by the first dispatch), so a recorded decode step is replayed after setParams({ pos0 }).
 */
export function attention(gpu: Gpu, args: AttentionArgs): Dispatch[] {
  guard(gpu, args);
  const { q, kCache, vCache, out, rows, nHeads, nKV, headDim, capacity, scale } = args;
  const full = args.causal === false;
  const pos0 = full ? capacity - 1 : args.pos0;
  const window = full ? capacity : args.window;
  const decode = rows === 1;
  const kernel: Kernel = decode ? attentionKernels.split : attentionKernels.prefill;
  const rowsPerGroup = decode ? DECODE.ROWS : PREFILL.ROWS;
  const splits = decode ? decodeSplits(args) : 1;
  const maxDim = gpu.caps.limits.maxComputeWorkgroupsPerDimension;
  const params = { rows, n_heads: nHeads, n_kv: nKV, head_dim: headDim, pos0, capacity, window, n_split: splits, scale };
  const blocks = Math.ceil((rows * nHeads) / nKV / rowsPerGroup);
  const workgroups = foldWorkgroups(blocks * nKV * splits, maxDim);
  if (!decode) return [{ kernel, bindings: { q, k_cache: kCache, v_cache: vCache, out }, params, workgroups }];
  const part = args.scratch as Tensor;
  return [
    { kernel, bindings: { q, k_cache: kCache, v_cache: vCache, part }, params, workgroups },
    {
      kernel: attentionKernels.combine,
      bindings: { part, out },
      params,
      workgroups: foldWorkgroups(Math.ceil((nHeads * headDim) / COMBINE_WG), maxDim),
    },
  ];
}
