import { defineKernel, foldWorkgroups, ShapeError, type Dispatch, type Gpu, type Tensor } from '@g3n/gpu';
import source from '../../../shaders/altup.wgsl?raw';

const WG = 256;
export const altupKernels = {
  predict: defineKernel('altup', source, 'predict', { WG }),
  correct: defineKernel('altup', source, 'correct', { WG }),
  addRest: defineKernel('altup', source, 'add_rest', { WG }),
  rescale: defineKernel('altup', source, 'rescale', { WG }),
  /** Rows of at most 512 are reduced by 64 invocations (fewer idle threads and barrier steps). */
  rescaleShort: defineKernel('altup', source, 'rescale', { WG: 64 }),
  tanh: defineKernel('altup', source, 'tanh_inplace', { WG }),
};

/** The n streams of T tokens of width D, stream k at element offset k * stride. */
export interface StreamStack {
  tensor: Tensor;
  streams: number;
  tokens: number;
  dim: number;
  stride: number;
}

function params(s: StreamStack, active = 0, count = 0) {
  return { n_streams: s.streams, tokens: s.tokens, dim: s.dim, stride: s.stride, active_idx: active, count };
}

function grid(gpu: Gpu, elements: number) {
  return foldWorkgroups(Math.ceil(elements / WG), gpu.caps.limits.maxComputeWorkgroupsPerDimension);
}

function guardStack(name: string, s: StreamStack): void {
  if (s.stride < s.tokens * s.dim) throw new ShapeError(name, `stride ${s.stride} < T*D = ${s.tokens * s.dim}`);
  if (s.tensor.byteLength < 4 * s.stride * s.streams) throw new ShapeError(name, `${s.tensor.label} too small for ${s.streams} streams`);
}

/** pred[k] = X[k] + sum_j C[k][j] X[j], with C[t] = coefs[t, k*n + j] ([T, n*n]). */
export function altupPredict(gpu: Gpu, args: { streams: StreamStack; coefs: Tensor; pred: Tensor }): Dispatch {
  const s = args.streams;
  guardStack('altup.predict', s);
  if (args.pred.byteLength < 4 * s.stride * s.streams) throw new ShapeError('altup.predict', 'pred too small');
  return { kernel: altupKernels.predict, bindings: { streams: s.tensor, coefs: args.coefs, pred: args.pred }, params: params(s), workgroups: grid(gpu, s.tokens * s.dim) };
}

/** X[k] = pred[k] + (cc[t, k] + 1) * (act - pred[active]); `pred` and the output stack share the layout of `out`. */
export function altupCorrect(gpu: Gpu, args: { pred: Tensor; act: Tensor; cc: Tensor; out: StreamStack; active: number }): Dispatch {
  const s = args.out;
  guardStack('altup.correct', s);
  return {
    kernel: altupKernels.correct,
    bindings: { pred_in: args.pred, act: args.act, cc: args.cc, x: s.tensor },
    params: params(s, args.active),
    workgroups: grid(gpu, s.tokens * s.dim),
  };
}

/** X[k] += v for every stream but the active one. */
export function altupAddRest(gpu: Gpu, args: { streams: StreamStack; v: Tensor; active: number }): Dispatch {
  const s = args.streams;
  guardStack('altup.add_rest', s);
  return { kernel: altupKernels.addRest, bindings: { x: s.tensor, v: args.v }, params: params(s, args.active), workgroups: grid(gpu, s.tokens * s.dim) };
}

/** out[t] = y[t] * rms(ref[t]) / sqrt(max(mean(y[t]^2), 1e-5)) for T rows of width D (magnitude matching). */
export function altupRescale(gpu: Gpu, args: { y: Tensor; ref: Tensor; out: Tensor; tokens: number; dim: number }): Dispatch {
  const { tokens, dim } = args;
  return {
    kernel: dim <= 512 ? altupKernels.rescaleShort : altupKernels.rescale,
    bindings: { y: args.y, ref_rows: args.ref, out: args.out },
    params: { n_streams: 1, tokens, dim, stride: tokens * dim, active_idx: 0, count: 0 },
    workgroups: foldWorkgroups(tokens, gpu.caps.limits.maxComputeWorkgroupsPerDimension),
  };
}

/** x = tanh(x) in place over `count` elements. */
export function tanhInplace(gpu: Gpu, x: Tensor, count: number): Dispatch {
  return {
    kernel: altupKernels.tanh,
    bindings: { x },
    params: { n_streams: 0, tokens: 0, dim: 0, stride: 0, active_idx: 0, count },
    workgroups: grid(gpu, count),
  };
}
