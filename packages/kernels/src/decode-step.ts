/**
 * The fused kernels of one decode step (shaders/decode_step.wgsl, shaders/matvec_fused.wgsl): the per-token
 * vector chains of a layer as single-workgroup kernels, the q/k/v post-processing with the KV append, and
 * matrix-vector products several per dispatch with their GeGLU follow-up. Their inputs and outputs are two
 * f32 arenas `a` and `b` at element offsets; `vecs` packs the f32 vector weights. The layout is the caller's
 * (packages/gemma3n/src/decode-step.ts); these functions check what a kernel cannot: shapes, offsets, and
 * whole 16-byte weight units.
 */
import { defineKernel, numel, ShapeError, type Dispatch, type Gpu, type Kernel, type Tensor } from '@g3n/gpu';
import stepSource from '../../../shaders/decode_step.wgsl?raw';
import fusedSource from '../../../shaders/matvec_fused.wgsl?raw';
import fusedSubgroupsSource from '../../../shaders/matvec_fused_subgroups.wgsl?raw';
import { LINEAR_DTYPE_CODE, matvecFits, WEIGHT_DTYPES } from './linear.ts';
import type { WeightDType } from './quant.ts';
import { WGSL_INCLUDES } from './wgsl-includes.ts';

/** Threads of a row kernel: rows up to SMALL_ROW wide use the smaller workgroup (fewer idle threads and barrier steps). */
const ROW_WG = { small: 64, large: 256 } as const;
const SMALL_ROW = 512;
const ROW_ENTRIES = ['layer_in', 'post_attn', 'layer_out', 'ple_add', 'pre_row', 'final_row', 'qkv_post'] as const;
export type DecodeRowEntry = (typeof ROW_ENTRIES)[number];
/** Entries that read a DTYPE weight (LAuReL's): one variant per weight dtype; the others use f32's. */
const WEIGHTED: ReadonlySet<DecodeRowEntry> = new Set(['layer_in', 'post_attn']);
/** Threads per workgroup of the fused matvecs, per weight dtype (as matvec.wgsl: 2048 inputs give each a unit). */
const MV_WG: Record<WeightDType, number> = { f32: 256, bf16: 256, f16: 256, q8: 128, q4: 64 };
const MV_ROWS = 4;
const MV_ENTRIES = ['mv_group', 'mv_pair', 'mv_masked'] as const;
type MvEntry = (typeof MV_ENTRIES)[number];
/** Streams the row kernels hold per token (AltUp n). */
export const DECODE_MAX_STREAMS = 8;

function kernels(): Record<string, Kernel> {
  const out: Record<string, Kernel> = {};
  for (const entry of ROW_ENTRIES) {
    for (const dt of WEIGHTED.has(entry) ? WEIGHT_DTYPES : (['f32'] as const)) {
      for (const [size, WG] of Object.entries(ROW_WG)) {
        out[`${entry}_${size}_${dt}`] = defineKernel('decode_step', stepSource, entry, { WG, DTYPE: LINEAR_DTYPE_CODE[dt] }, WGSL_INCLUDES);
      }
    }
  }
  for (const entry of MV_ENTRIES) {
    for (const dt of WEIGHT_DTYPES) {
      const c = { DTYPE: LINEAR_DTYPE_CODE[dt], WG: MV_WG[dt], ROWS: MV_ROWS };
      out[`${entry}_${dt}`] = defineKernel('matvec_fused', fusedSource, entry, c, WGSL_INCLUDES);
      out[`${entry}_subgroups_${dt}`] = defineKernel('matvec_fused_subgroups', fusedSubgroupsSource, entry, c, WGSL_INCLUDES);
    }
  }
  return out;
}

/**
 * Every variant: the row entries (per LAuReL weight dtype where they read one) and the fused matvecs per
 * weight dtype, with a shared-memory reduction and with subgroupAdd (chosen where the adapter has subgroups).
 */
export const decodeStepKernels = kernels();

/** Every field of decode_step.wgsl's Params: each dispatch gives the ones its entry reads, the rest are 0. */
const ROW_FIELDS = decodeStepKernels.layer_in_large_f32.params?.fields.map((f) => f.name).filter((n) => !n.startsWith('_')) ?? [];

export type DecodeRowParams = Partial<Record<string, number>>;

export interface DecodeRowArgs {
  entry: DecodeRowEntry;
  a: Tensor;
  b: Tensor;
  vecs: Tensor;
  params: DecodeRowParams;
  /** layer_in / post_attn: the LAuReL matrix (one part, any weight dtype). */
  w?: Tensor;
  /** qkv_post: the RoPE table and the caches. */
  invFreq?: Tensor;
  kCache?: Tensor;
  vCache?: Tensor;
}

function f32Arena(op: string, ...ts: Tensor[]): void {
  for (const t of ts) if (t.dtype !== 'f32') throw new ShapeError(op, `${t.label} must be f32, got ${t.dtype}`);
}

/** One dispatch of a decode_step.wgsl entry point. */
export function decodeRow(gpu: Gpu, args: DecodeRowArgs): Dispatch {
  const { entry, a, b, vecs, params } = args;
  const op = `decode_step.${entry}`;
  f32Arena(op, a, b, vecs);
  if (a.buffer === b.buffer) throw new ShapeError(op, 'the arenas a and b must be different buffers');
  const values: Record<string, number> = {};
  for (const name of ROW_FIELDS) values[name] = params[name] ?? 0;
  for (const name of Object.keys(params)) if (!ROW_FIELDS.includes(name)) throw new ShapeError(op, `unknown param '${name}'`);
  if ((values.n_streams ?? 0) > DECODE_MAX_STREAMS) throw new ShapeError(op, `${values.n_streams} AltUp streams (at most ${DECODE_MAX_STREAMS})`);
  const bindings: Dispatch['bindings'] = { arena_a: a, arena_b: b, vecs };
  let dt: WeightDType = 'f32';
  if (WEIGHTED.has(entry)) {
    const w = args.w;
    if (!w || w.shape.length !== 2 || !(WEIGHT_DTYPES as readonly string[]).includes(w.dtype)) throw new ShapeError(op, 'needs its LAuReL weight [out, in]');
    dt = w.dtype as WeightDType;
    if ((dt === 'q8' || dt === 'q4') && !w.scales) throw new ShapeError(op, `${w.label}: ${dt} needs scales`);
    bindings.w = w;
    bindings.scales = w.scales ?? w;
  }
  let workgroups: [number, number, number] = [1, 1, 1];
  if (entry === 'qkv_post') {
    const { invFreq, kCache, vCache } = args;
    if (!invFreq || !kCache || !vCache) throw new ShapeError(op, 'needs inv_freq and the K/V caches');
    f32Arena(op, invFreq, kCache, vCache);
    const hd = values.head_dim;
    if (hd < 2 || hd % 2 !== 0 || hd > 4 * ROW_WG.small) throw new ShapeError(op, `head_dim ${hd} must be even and at most ${4 * ROW_WG.small}`);
    if (numel(invFreq.shape) < hd / 2) throw new ShapeError(op, `${invFreq.label} holds fewer than ${hd / 2} values`);
    if (values.has_kv && numel(kCache.shape) < values.n_kv * values.capacity * hd) throw new ShapeError(op, `${kCache.label} is smaller than [${values.n_kv}, ${values.capacity}, ${hd}]`);
    Object.assign(bindings, { inv_freq: invFreq, k_cache: kCache, v_cache: vCache });
    workgroups = [values.n_heads + (values.has_kv ? 2 * values.n_kv : 0), 1, 1];
  }
  const width = entry === 'qkv_post' ? values.head_dim : Math.max(values.dim, values.ple_cols);
  const size = width <= SMALL_ROW ? 'small' : 'large';
  return { kernel: decodeStepKernels[`${entry}_${size}_${dt}`], bindings, params: values, workgroups };
}

/** Where a fused matvec reads x and writes its rows: arena and element offset. */
export interface ArenaRef {
  inB: boolean;
  offset: number;
}

export interface MvSegment {
  /** [rows, in] in any weight dtype, whole 16-byte units per row (matvecFits). */
  w: Tensor;
  x: ArenaRef;
  out: ArenaRef;
}

export interface FusedMatvecArgs {
  a: Tensor;
  b: Tensor;
  /** mv_group: 1 to 3 products; mv_pair: [gate, up] on the same x and out; mv_masked: [up]. */
  segments: MvSegment[];
  /** mv_group only: GeGLU against a[auxOffset + r]. */
  auxOffset?: number;
  /** mv_masked only: the top-k gate at b[maskOffset + r]. */
  maskOffset?: number;
}

/** One dispatch of a matvec_fused.wgsl entry point. */
export function fusedMatvec(gpu: Gpu, entry: MvEntry, args: FusedMatvecArgs): Dispatch {
  const op = `matvec_fused.${entry}`;
  const { a, b, segments } = args;
  f32Arena(op, a, b);
  if (a.buffer === b.buffer) throw new ShapeError(op, 'the arenas a and b must be different buffers');
  const count = entry === 'mv_group' ? segments.length : entry === 'mv_pair' ? 2 : 1;
  if (segments.length !== count || count < 1 || count > 3) throw new ShapeError(op, `takes ${entry === 'mv_group' ? '1 to 3' : count} products, got ${segments.length}`);
  const dt = segments[0].w.dtype;
  for (const s of segments) {
    if (s.w.dtype !== dt) throw new ShapeError(op, `every weight must share one dtype (${s.w.label} is ${s.w.dtype}, not ${dt})`);
    if (!matvecFits(s.w)) throw new ShapeError(op, `${s.w.label}: rows are not whole 16-byte units`);
    if ((dt === 'q8' || dt === 'q4') && !s.w.scales) throw new ShapeError(op, `${s.w.label}: ${dt} needs scales`);
    for (const [what, r, n] of [['x', s.x, s.w.shape[1]], ['out', s.out, s.w.shape[0]]] as const) {
      const arena = r.inB ? b : a;
      if (!Number.isInteger(r.offset) || r.offset < 0 || r.offset + n > numel(arena.shape)) throw new ShapeError(op, `${s.w.label}: ${what} [${r.offset}, +${n}) overruns ${arena.label}`);
    }
    if (s.x.offset % 4 !== 0) throw new ShapeError(op, `${s.w.label}: x offset ${s.x.offset} is not a multiple of 4`);
  }
  if (entry === 'mv_pair' && (segments[1].w.shape[0] !== segments[0].w.shape[0] || segments[1].w.shape[1] !== segments[0].w.shape[1])) {
    throw new ShapeError(op, 'gate and up must have one shape');
  }
  if (entry === 'mv_masked' && args.maskOffset === undefined) throw new ShapeError(op, 'needs the gate (maskOffset)');
  const pad = (f: (s: MvSegment, i: number) => number) => [0, 1, 2, 3].map((i) => (segments[i] ? f(segments[i], i) : 0));
  const perSeg = segments.map((s) => Math.ceil(s.w.shape[0] / MV_ROWS));
  const ends = perSeg.map((_, i) => perSeg.slice(0, i + 1).reduce((x, y) => x + y, 0));
  const total = ends[ends.length - 1];
  const wgEnd = [0, 1, 2, 3].map((i) => (entry === 'mv_group' ? (ends[i] ?? total) : perSeg[0]));
  if (total > gpu.caps.limits.maxComputeWorkgroupsPerDimension) throw new ShapeError(op, `${total} workgroups exceed the per-dimension limit`);
  const bindings: Dispatch['bindings'] = { arena_a: a, arena_b: b };
  const names = [['w0', 'scales'], ['w1', 's1'], ['w2', 's2']] as const;
  // Every entry point reaches all three weight slots through one switch: unused slots repeat weight 0.
  names.forEach(([wn, sn], i) => {
    const w = (segments[i] ?? segments[0]).w;
    bindings[wn] = w;
    bindings[sn] = w.scales ?? w;
  });
  return {
    kernel: decodeStepKernels[gpu.caps.features.subgroups ? `${entry}_subgroups_${dt}` : `${entry}_${dt}`],
    bindings,
    params: {
      wg_end: wgEnd,
      rows: pad((s) => s.w.shape[0]),
      in_f: pad((s) => s.w.shape[1]),
      x_off: pad((s) => s.x.offset),
      out_off: pad((s) => s.out.offset),
      bufs: pad((s) => (s.x.inB ? 1 : 0) | (s.out.inB ? 2 : 0)),
      mode: args.auxOffset !== undefined ? 1 : 0,
      aux_off: args.auxOffset ?? 0,
      mask_off: args.maskOffset ?? 0,
    },
    workgroups: [entry === 'mv_group' ? total : perSeg[0], 1, 1],
  };
}
