import { defineKernel, foldWorkgroups, numel, ShapeError, type Dispatch, type Gpu, type Tensor } from '@g3n/gpu';
import source from '../../../shaders/local_attention.wgsl?raw';
import { guardCount, guardF32, guardHolds, guardSeparate } from './norm.ts';
import { WGSL_INCLUDES } from './wgsl-includes.ts';

const WG = 64;
/** Keys one query may see (left + 1 + right), heads, and heads x keys: MAX_KEYS, MAX_HEADS, MAX_LOGITS in local_attention.wgsl. */
export const LOCAL_ATTENTION_MAX_KEYS = 256;
export const LOCAL_ATTENTION_MAX_HEADS = 64;
export const LOCAL_ATTENTION_MAX_LOGITS = 1024;

export const localAttentionKernels = {
  localAttention: defineKernel('local_attention', source, 'local_attention', { WG }, WGSL_INCLUDES),
};

const ZERO = { rows: 0, heads: 0, head_dim: 0, row_stride: 0, q_offset: 0, k_offset: 0, v_offset: 0, left: 0, right: 0, chunk: 0, cap: 0, _pad0: 0, _pad1: 0 };

export interface LocalAttentionArgs {
  /** f32 rows of `rowStride` values holding q, k and v (each heads * headDim wide) at their offsets. */
  qkv: Tensor;
  rowStride: number;
  qOffset: number;
  kOffset: number;
  vOffset: number;
  /** f32 [left + 1 + right, heads * headDim]: row i is the embedding of distance left - i. */
  rel: Tensor;
  /** f32 [headDim] query scale per dimension. */
  qscale: Tensor;
  /** u32 [rows], nonzero where the frame is valid. */
  mask: Tensor;
  /** f32 [rows, heads * headDim], in another buffer. */
  out: Tensor;
  rows: number;
  heads: number;
  headDim: number;
  /** Past keys a query sees (context_left - 1) and future keys (context_right). */
  left: number;
  right: number;
  /** Chunk size of the chunked formulation (only the uniform output of a query without visible keys uses it). */
  chunk: number;
  /** Logit soft-cap. */
  cap: number;
}

/**
 * Local self-attention of the audio conformer (spec §5.6), one workgroup per query over all heads:
 * query t, head n attends to keys t - left .. t + right that are valid frames; logit = (q * qscale) . (k + rel[distance]), soft-capped, softmax in
 * f32. A query with no visible key averages the values of its chunk context (the chunked formulation's
 * result there), so no NaN arises.
 */
export function localAttention(gpu: Gpu, args: LocalAttentionArgs): Dispatch {
  const { qkv, rel, qscale, mask, out, rows, heads, headDim, left, right, chunk, cap, rowStride, qOffset, kOffset, vOffset } = args;
  const op = 'local_attention';
  guardF32(op, qkv, rel, qscale, out);
  if (mask.dtype !== 'u32') throw new ShapeError(op, `${mask.label} must be u32, got ${mask.dtype}`);
  guardCount(op, 'rows', rows);
  guardCount(op, 'heads', heads);
  guardCount(op, 'headDim', headDim);
  guardCount(op, 'chunk', chunk);
  const width = heads * headDim;
  const window = left + 1 + right;
  for (const [name, v] of [['left', left], ['right', right]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new ShapeError(op, `${name} = ${v} must be a non-negative integer`);
  }
  if (window > LOCAL_ATTENTION_MAX_KEYS) throw new ShapeError(op, `window ${window} exceeds ${LOCAL_ATTENTION_MAX_KEYS} keys`);
  if (heads > LOCAL_ATTENTION_MAX_HEADS) throw new ShapeError(op, `${heads} heads exceed ${LOCAL_ATTENTION_MAX_HEADS}`);
  if (heads * window > LOCAL_ATTENTION_MAX_LOGITS) throw new ShapeError(op, `${heads} heads x ${window} keys exceed ${LOCAL_ATTENTION_MAX_LOGITS} logits`);
  for (const [name, off] of [['qOffset', qOffset], ['kOffset', kOffset], ['vOffset', vOffset]] as const) {
    if (!Number.isInteger(off) || off < 0 || off + width > rowStride) throw new ShapeError(op, `${name} ${off} + ${width} does not fit rows of ${rowStride}`);
  }
  if (rows * rowStride > 0xffffffff) throw new ShapeError(op, `rows * rowStride exceeds u32 indexing`);
  guardHolds(op, qkv, rows * rowStride);
  guardHolds(op, rel, window * width);
  if (numel(qscale.shape) !== headDim) throw new ShapeError(op, `${qscale.label} has ${numel(qscale.shape)} values, headDim is ${headDim}`);
  guardHolds(op, mask, rows);
  guardHolds(op, out, rows * width);
  if (!(cap > 0) || !Number.isFinite(cap)) throw new ShapeError(op, `cap = ${cap} must be finite and > 0`);
  guardSeparate(op, out, qkv, rel, qscale, mask);

  return {
    kernel: localAttentionKernels.localAttention,
    bindings: { qkv, rel, qscale, mask, out },
    params: { ...ZERO, rows, heads, head_dim: headDim, row_stride: rowStride, q_offset: qOffset, k_offset: kOffset, v_offset: vOffset, left, right, chunk, cap },
    workgroups: foldWorkgroups(rows, gpu.caps.limits.maxComputeWorkgroupsPerDimension),
  };
}
