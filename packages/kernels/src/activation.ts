import { defineKernel, foldWorkgroups, ShapeError, type Dispatch, type Gpu, type Tensor } from '@g3n/gpu';
import source from '../../../shaders/activation.wgsl?raw';
import { guardCount, guardF32, guardHolds, guardSeparate, isInPlace } from './guards.ts';
import { WGSL_INCLUDES } from './wgsl-includes.ts';

const WG = 256;
export const activationKernels = {
  gelu: defineKernel('activation', source, 'gelu', { WG }, WGSL_INCLUDES),
  geluInplace: defineKernel('activation', source, 'gelu_inplace', { WG }, WGSL_INCLUDES),
  geglu: defineKernel('activation', source, 'geglu', { WG }, WGSL_INCLUDES),
  gegluInplace: defineKernel('activation', source, 'geglu_inplace', { WG }, WGSL_INCLUDES),
  gaussianTopK: defineKernel('activation', source, 'gaussian_top_k', { WG }, WGSL_INCLUDES),
  gaussianTopKInplace: defineKernel('activation', source, 'gaussian_top_k_inplace', { WG }, WGSL_INCLUDES),
  softcap: defineKernel('activation', source, 'softcap', { WG }, WGSL_INCLUDES),
  softcapInplace: defineKernel('activation', source, 'softcap_inplace', { WG }, WGSL_INCLUDES),
  silu: defineKernel('activation', source, 'silu', { WG }, WGSL_INCLUDES),
  siluInplace: defineKernel('activation', source, 'silu_inplace', { WG }, WGSL_INCLUDES),
  relu: defineKernel('activation', source, 'relu', { WG }, WGSL_INCLUDES),
  reluInplace: defineKernel('activation', source, 'relu_inplace', { WG }, WGSL_INCLUDES),
  clip: defineKernel('activation', source, 'clip', { WG }, WGSL_INCLUDES),
  clipInplace: defineKernel('activation', source, 'clip_inplace', { WG }, WGSL_INCLUDES),
  glu: defineKernel('activation', source, 'glu', { WG }, WGSL_INCLUDES),
};

const NO_PARAMS = { n: 0, rows: 0, cols: 0, up_stride: 0, up_offset: 0, z: 0, cap: 0 };

function pointwiseGrid(gpu: Gpu, n: number) {
  return foldWorkgroups(Math.ceil(n / WG), gpu.caps.limits.maxComputeWorkgroupsPerDimension);
}

/** out = gelu_tanh(x) over n elements; `out` may be `x` itself. */
export function gelu(gpu: Gpu, args: { x: Tensor; out: Tensor; n: number }): Dispatch {
  const { x, out, n } = args;
  guardF32('gelu', x, out);
  guardCount('gelu', 'n', n);
  guardHolds('gelu', x, n);
  guardHolds('gelu', out, n);
  const inPlace = isInPlace('gelu', x, out);

  const kernel = inPlace ? activationKernels.geluInplace : activationKernels.gelu;

  return { kernel, bindings: inPlace ? { io: x } : { x, out }, params: { ...NO_PARAMS, n }, workgroups: pointwiseGrid(gpu, n) };
}

export interface GegluArgs {
  /** [rows, cols] f32 gate pre-activation. */
  gate: Tensor;
  /** f32; row r of the multiplier starts at r * upStride + upOffset. */
  up: Tensor;
  /** [rows, cols] f32 output; may be `gate` itself, otherwise in another buffer than gate and up. */
  out: Tensor;
  rows: number;
  cols: number;
  /** Elements between rows of `up` (default cols); L * P for per_layer_inputs [T, L, P]. */
  upStride?: number;
  /** Element offset of row 0 in `up` (default 0); l * P for layer l of per_layer_inputs. */
  upOffset?: number;
}

/** out[r, j] = gelu_tanh(gate[r, j]) * up[r * upStride + upOffset + j]: the FFN and per-layer-input gates. */
export function geglu(gpu: Gpu, args: GegluArgs): Dispatch {
  const { gate, up, out, rows, cols } = args;
  const upStride = args.upStride ?? cols;
  const upOffset = args.upOffset ?? 0;
  guardF32('geglu', gate, up, out);
  guardCount('geglu', 'rows', rows);
  guardCount('geglu', 'cols', cols);
  const n = rows * cols;
  if (n > 0xffffffff) throw new ShapeError('geglu', `rows * cols = ${n} exceeds u32 indexing`);
  for (const [name, v] of [['upStride', upStride], ['upOffset', upOffset]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new ShapeError('geglu', `${name} = ${v} must be a u32`);
  }
  guardHolds('geglu', gate, n);
  guardHolds('geglu', out, n);
  guardHolds('geglu', up, (rows - 1) * upStride + upOffset + cols);
  const inPlace = isInPlace('geglu', gate, out);
  guardSeparate('geglu', out, up);

  const kernel = inPlace ? activationKernels.gegluInplace : activationKernels.geglu;

  return {
    kernel,
    bindings: inPlace ? { io: gate, up } : { gate, up, out },
    params: { ...NO_PARAMS, n, rows, cols, up_stride: upStride, up_offset: upOffset },
    workgroups: pointwiseGrid(gpu, n),
  };
}

/**
 * Activation sparsity, per row: x[r, :] = relu(x[r, :] - (mean + z * std)) with the population std.
 * In place unless `out` is given. `z` is sparsityZ(sparsity).
 */
export function gaussianTopK(gpu: Gpu, args: { x: Tensor; rows: number; cols: number; z: number; out?: Tensor }): Dispatch {
  const { x, rows, cols, z } = args;
  const out = args.out ?? x;
  guardF32('gaussian_top_k', x, out);
  guardCount('gaussian_top_k', 'rows', rows);
  guardCount('gaussian_top_k', 'cols', cols);
  if (rows * cols > 0xffffffff) throw new ShapeError('gaussian_top_k', `rows * cols = ${rows * cols} exceeds u32 indexing`);
  guardHolds('gaussian_top_k', x, rows * cols);
  guardHolds('gaussian_top_k', out, rows * cols);
  if (!Number.isFinite(z)) throw new ShapeError('gaussian_top_k', `z = ${z} must be finite`);
  const inPlace = isInPlace('gaussian_top_k', x, out);

  const kernel = inPlace ? activationKernels.gaussianTopKInplace : activationKernels.gaussianTopK;

  return {
    kernel,
    bindings: inPlace ? { io: x } : { x, out },
    params: { ...NO_PARAMS, rows, cols, z },
    workgroups: foldWorkgroups(rows, gpu.caps.limits.maxComputeWorkgroupsPerDimension),
  };
}

/** x = cap * tanh(x / cap) over n elements (final logits: cap 30). In place unless `out` is given. */
export function softcap(gpu: Gpu, args: { x: Tensor; n: number; cap: number; out?: Tensor }): Dispatch {
  const { x, n, cap } = args;
  const out = args.out ?? x;
  guardF32('softcap', x, out);
  guardCount('softcap', 'n', n);
  guardHolds('softcap', x, n);
  guardHolds('softcap', out, n);
  if (!(cap > 0) || !Number.isFinite(cap)) throw new ShapeError('softcap', `cap = ${cap} must be finite and > 0`);
  const inPlace = isInPlace('softcap', x, out);

  const kernel = inPlace ? activationKernels.softcapInplace : activationKernels.softcap;

  return { kernel, bindings: inPlace ? { io: x } : { x, out }, params: { ...NO_PARAMS, n, cap }, workgroups: pointwiseGrid(gpu, n) };
}

type Pointwise = 'silu' | 'relu' | 'clip';

function pointwise(gpu: Gpu, op: Pointwise, x: Tensor, n: number, out: Tensor, cap = 0): Dispatch {
  guardF32(op, x, out);
  guardCount(op, 'n', n);
  guardHolds(op, x, n);
  guardHolds(op, out, n);
  const inPlace = isInPlace(op, x, out);

  const kernel = activationKernels[inPlace ? (`${op}Inplace` as const) : op];

  return { kernel, bindings: inPlace ? { io: x } : { x, out }, params: { ...NO_PARAMS, n, cap }, workgroups: pointwiseGrid(gpu, n) };
}

/** out = x * sigmoid(x) over n elements. In place unless `out` is given. */
export function silu(gpu: Gpu, args: { x: Tensor; n: number; out?: Tensor }): Dispatch {
  return pointwise(gpu, 'silu', args.x, args.n, args.out ?? args.x);
}

/** out = max(x, 0) over n elements. In place unless `out` is given. */
export function relu(gpu: Gpu, args: { x: Tensor; n: number; out?: Tensor }): Dispatch {
  return pointwise(gpu, 'relu', args.x, args.n, args.out ?? args.x);
}

/** out = clamp(x, -limit, limit) over n elements (the audio encoder's gradient clipping). In place unless `out` is given. */
export function clip(gpu: Gpu, args: { x: Tensor; n: number; limit: number; out?: Tensor }): Dispatch {
  const { limit } = args;
  if (!(limit > 0) || !Number.isFinite(Math.fround(limit))) throw new ShapeError('clip', `limit = ${limit} must be > 0 and finite in f32`);
  return pointwise(gpu, 'clip', args.x, args.n, args.out ?? args.x, limit);
}

/**
 * GLU over rows: out[r, j] = x[r, j] * sigmoid(x[r, cols + j]) for x [rows, 2 * cols] and out
 * [rows, cols] in another buffer (the audio light-conv module's gate).
 */
export function glu(gpu: Gpu, args: { x: Tensor; out: Tensor; rows: number; cols: number }): Dispatch {
  const { x, out, rows, cols } = args;
  guardF32('glu', x, out);
  guardCount('glu', 'rows', rows);
  guardCount('glu', 'cols', cols);
  if (2 * rows * cols > 0xffffffff) throw new ShapeError('glu', `rows * 2 * cols = ${2 * rows * cols} exceeds u32 indexing`);
  guardHolds('glu', x, 2 * rows * cols);
  guardHolds('glu', out, rows * cols);
  guardSeparate('glu', out, x);
  const n = rows * cols;

  return { kernel: activationKernels.glu, bindings: { x, out }, params: { ...NO_PARAMS, n, rows, cols }, workgroups: pointwiseGrid(gpu, n) };
}

function poly(r: number, c: readonly number[]): number {
  let acc = 0;
  for (const k of c) acc = acc * r + k;
  return acc;
}

// Wichura, AS241 (PPND16), highest power first: the algorithm of Python's statistics.NormalDist.inv_cdf.
const CENTRAL_NUM = [2509.0809287301226727, 33430.575583588128105, 67265.770927008700853, 45921.953931549871457, 13731.693765509461125, 1971.5909503065514427, 133.14166789178437745, 3.387132872796366608];
const CENTRAL_DEN = [5226.495278852854561, 28729.085735721942674, 39307.89580009271061, 21213.794301586595867, 5394.1960214247511077, 687.1870074920579083, 42.313330701600911252, 1];
const INTER_NUM = [7.7454501427834140764e-4, 0.0227238449892691845833, 0.24178072517745061177, 1.27045825245236838258, 3.64784832476320460504, 5.7694972214606914055, 4.6303378461565452959, 1.42343711074968357734];
const INTER_DEN = [1.05075007164441684324e-9, 5.475938084995344946e-4, 0.0151986665636164571966, 0.14810397642748007459, 0.68976733498510000455, 1.6763848301838038494, 2.05319162663775882187, 1];
const TAIL_NUM = [2.01033439929228813265e-7, 2.71155556874348757815e-5, 0.0012426609473880784386, 0.026532189526576123093, 0.29656057182850489123, 1.7848265399172913358, 5.4637849111641143699, 6.6579046435011037772];
const TAIL_DEN = [2.04426310338993978564e-15, 1.4215117583164458887e-7, 1.8463183175100546818e-5, 7.868691311456132591e-4, 0.0148753612908506148525, 0.13692988092273580531, 0.59983220655588793769, 1];

/**
 * z = Phi^-1(f32(sparsity)), the standard-normal quantile in f64 (relative error ~1e-16), matching
 * gemma3n_ref: NormalDist().inv_cdf(float(np.float32(s))). For s = 0.95 this is 1.6448535113665228.
 */
export function sparsityZ(s: number): number {
  const p = Math.fround(s);
  if (!(p > 0 && p < 1)) throw new ShapeError('sparsity_z', `sparsity ${s} must lie in (0, 1)`);
  const q = p - 0.5;
  if (Math.abs(q) <= 0.425) {
    const r = 0.180625 - q * q;
    return (poly(r, CENTRAL_NUM) * q) / poly(r, CENTRAL_DEN);
  }
  let r = Math.sqrt(-Math.log(q <= 0 ? p : 1 - p));
  let x: number;
  if (r <= 5) {
    r -= 1.6;
    x = poly(r, INTER_NUM) / poly(r, INTER_DEN);
  } else {
    r -= 5;
    x = poly(r, TAIL_NUM) / poly(r, TAIL_DEN);
  }
  return q < 0 ? -x : x;
}
