import { defineKernel, foldWorkgroups, numel, ShapeError, tensorFromF32, type Dispatch, type Gpu, type Tensor } from '@g3n/gpu';
import source from '../../../shaders/rope.wgsl?raw';
import { WGSL_INCLUDES } from './wgsl-includes.ts';
import { guardCount, guardF32, guardHolds, guardSeparate, isInPlace } from './guards.ts';

const WG = 256;
export const ropeKernels = {
  rope: defineKernel('rope', source, 'rope', { WG }, WGSL_INCLUDES),
  ropeInplace: defineKernel('rope', source, 'rope_inplace', { WG }, WGSL_INCLUDES),
};

/** Positions at which the shader's sin/cos reduction stays exact (see shaders/rope.wgsl). */
export const ROPE_MAX_POSITION = 1 << 17;

export interface RopeArgs {
  /** [rows, heads, headDim] f32. Rotated in place unless `out` is given. */
  x: Tensor;
  /** Optional [rows, heads, headDim] f32 output, in another buffer than x. */
  out?: Tensor;
  /** Tokens; token t has position pos0 + t. */
  rows: number;
  heads: number;
  /** Any even number. */
  headDim: number;
  /** RoPE base (10 000 on sliding layers, 1 000 000 on full layers in Gemma 3n). */
  theta: number;
  /** Position of token 0; a uniform, so a Plan updates it per decode step with setParams. */
  pos0: number;
  /** The [headDim / 2] table of ropeInvFreq(theta, headDim); by default one cached per device. */
  invFreq?: Tensor;
}

/**
 * inv_freq exactly as the Hugging Face reference (gemma3n_ref.rope_inv_freq, dtype f32):
 * exponent f32(2j) / f32(headDim) rounded to f32, theta^-exponent in f64, rounded to f32.
 */
export function ropeInvFreq(theta: number, headDim: number): Float32Array {
  const half = headDim / 2;
  const inv = new Float32Array(half);
  for (let j = 0; j < half; j++) inv[j] = 1 / Math.pow(theta, Math.fround((2 * j) / headDim));
  return inv;
}

const tables = new WeakMap<GPUDevice, Map<string, Tensor>>();

/** The inv_freq table of (theta, headDim) on this device, created on first use and kept. */
export function ropeInvFreqTensor(gpu: Gpu, theta: number, headDim: number): Tensor {
  let perDevice = tables.get(gpu.device);
  if (!perDevice) {
    perDevice = new Map();
    tables.set(gpu.device, perDevice);
  }
  const key = `rope.inv_freq{theta=${theta},head_dim=${headDim}}`;
  let t = perDevice.get(key);
  if (!t) {
    t = tensorFromF32(gpu, key, [headDim / 2], ropeInvFreq(theta, headDim));
    perDevice.set(key, t);
  }
  return t;
}

/** Rotate q or k of `rows` tokens by their positions (NeoX half-split form). */
export function rope(gpu: Gpu, args: RopeArgs): Dispatch {
  const { x, rows, heads, headDim, theta, pos0 } = args;
  const out = args.out ?? x;
  guardF32('rope', x, out);
  guardCount('rope', 'rows', rows);
  guardCount('rope', 'heads', heads);
  guardCount('rope', 'headDim', headDim);
  if (headDim % 2 !== 0) throw new ShapeError('rope', `headDim = ${headDim} must be even`);
  if (!(theta > 1) || !Number.isFinite(theta)) throw new ShapeError('rope', `theta = ${theta} must be a finite number > 1`);
  if (!Number.isInteger(pos0) || pos0 < 0 || pos0 + rows > ROPE_MAX_POSITION) {
    throw new ShapeError('rope', `positions ${pos0}..${pos0 + rows - 1} must lie in [0, ${ROPE_MAX_POSITION})`);
  }
  const n = rows * heads * headDim;
  if (n > 0xffffffff) throw new ShapeError('rope', `${n} elements exceed u32 indexing`);
  guardHolds('rope', x, n);
  guardHolds('rope', out, n);
  if (args.invFreq) {
    guardF32('rope', args.invFreq);
    if (numel(args.invFreq.shape) !== headDim / 2) throw new ShapeError('rope', `${args.invFreq.label} must hold headDim / 2 = ${headDim / 2} values`);
  }
  const inPlace = isInPlace('rope', x, out);
  if (args.invFreq) guardSeparate('rope', out, args.invFreq);

  const kernel = inPlace ? ropeKernels.ropeInplace : ropeKernels.rope;

  const invFreq = args.invFreq ?? ropeInvFreqTensor(gpu, theta, headDim);
  const bindings: Dispatch['bindings'] = inPlace ? { inv_freq: invFreq, io: x } : { inv_freq: invFreq, x, out };

  return {
    kernel,
    bindings,
    params: { rows, heads, half: headDim / 2, pos0 },
    workgroups: foldWorkgroups(Math.ceil((rows * heads * headDim) / 2 / WG), gpu.caps.limits.maxComputeWorkgroupsPerDimension),
  };
}
