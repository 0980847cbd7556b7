import { defineKernel, foldWorkgroups, numel, ShapeError, type Dispatch, type Gpu, type Kernel, type Tensor } from '@g3n/gpu';
import raw from '../../../shaders/conv2d.wgsl?raw';
import { guardSeparate } from './norm.ts';
import { withWeightFormats } from './linear.ts';

const source = withWeightFormats(raw);

const CONV_DTYPES = ['f32', 'bf16', 'f16'] as const;
export type ConvWeightDType = (typeof CONV_DTYPES)[number];
const DTYPE_CODE: Record<ConvWeightDType, number> = { f32: 0, bf16: 1, f16: 2 };
const WG = 64;
/** Output channels and pixels per invocation of the general entry point (OCT, PXT in conv2d.wgsl). */
const OCT = 4;
const PXT = 4;

type Conv2dKernelName = `conv2d_${ConvWeightDType}` | `depthwise_${ConvWeightDType}`;

/** Every conv2d variant: the general (any groups) and the depthwise entry point, per weight dtype. */
export const conv2dKernels = Object.fromEntries(
  CONV_DTYPES.flatMap((dt) => [
    [`conv2d_${dt}`, defineKernel('conv2d', source, 'conv2d', { WG, DTYPE: DTYPE_CODE[dt] })],
    [`depthwise_${dt}`, defineKernel('conv2d', source, 'conv2d_depthwise', { WG, DTYPE: DTYPE_CODE[dt] })],
  ]),
) as Record<Conv2dKernelName, Kernel>;

export interface Conv2dArgs {
  /** f32 activations, channels-last [inH, inW, inC]. */
  x: Tensor;
  /** Checkpoint layout [outC, inC / groups, kh, kw]; f32, f16 or bf16 storage. */
  w: Tensor;
  /** f32 [outC], added to every output pixel. */
  bias?: Tensor | null;
  /** f32 [outH, outW, outC], in another buffer than x, w and bias. */
  out: Tensor;
  inH: number;
  inW: number;
  inC: number;
  outC: number;
  kh: number;
  kw: number;
  strideH: number;
  strideW: number;
  /** Zero rows above / columns left of the input; the bottom/right padding follows from outH/outW. */
  padTop: number;
  padLeft: number;
  outH: number;
  outW: number;
  /** 1 (full convolution), inC (depthwise) or any common divisor of inC and outC. */
  groups: number;
}

/**
 * TensorFlow 'SAME' padding along one axis (timm pad_type='same', spec §4.2): out = ceil(in / stride),
 * total = max((out - 1) * stride + k - in, 0), the smaller half before (top/left).
 */
export function samePadding(inSize: number, k: number, stride: number): { out: number; before: number; after: number } {
  const out = Math.ceil(inSize / stride);
  const total = Math.max((out - 1) * stride + k - inSize, 0);
  const before = Math.floor(total / 2);
  return { out, before, after: total - before };
}

function guard(a: Conv2dArgs): ConvWeightDType {
  const op = 'conv2d';
  const sizes = { inH: a.inH, inW: a.inW, inC: a.inC, outC: a.outC, kh: a.kh, kw: a.kw, strideH: a.strideH, strideW: a.strideW, outH: a.outH, outW: a.outW, groups: a.groups };
  for (const [name, v] of Object.entries(sizes)) {
    if (!Number.isInteger(v) || v < 1 || v > 0xffffff) throw new ShapeError(op, `${name} = ${v} must be a positive integer`);
  }
  for (const [name, v] of [['padTop', a.padTop], ['padLeft', a.padLeft]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new ShapeError(op, `${name} = ${v} must be a non-negative integer`);
  }
  if (a.inC % a.groups !== 0 || a.outC % a.groups !== 0) throw new ShapeError(op, `groups = ${a.groups} must divide inC = ${a.inC} and outC = ${a.outC}`);
  if (a.x.dtype !== 'f32' || a.out.dtype !== 'f32') throw new ShapeError(op, `x and out must be f32, got ${a.x.dtype} and ${a.out.dtype}`);
  if (!(CONV_DTYPES as readonly string[]).includes(a.w.dtype)) throw new ShapeError(op, `${a.w.label}: weight dtype ${a.w.dtype} is not one of ${CONV_DTYPES.join(', ')}`);
  const wShape = [a.outC, a.inC / a.groups, a.kh, a.kw];
  if (numel(a.w.shape) !== numel(wShape) || (a.w.shape.length === 4 && a.w.shape.some((d, i) => d !== wShape[i]))) {
    throw new ShapeError(op, `${a.w.label} is [${a.w.shape.join(', ')}], expected [${wShape.join(', ')}]`);
  }
  if (numel(a.x.shape) < a.inH * a.inW * a.inC) throw new ShapeError(op, `${a.x.label} has ${numel(a.x.shape)} values, [${a.inH}, ${a.inW}, ${a.inC}] needs ${a.inH * a.inW * a.inC}`);
  const outN = a.outH * a.outW * a.outC;
  if (numel(a.out.shape) < outN) throw new ShapeError(op, `${a.out.label} has ${numel(a.out.shape)} values, [${a.outH}, ${a.outW}, ${a.outC}] needs ${outN}`);
  if (outN > 0xffffffff / OCT) throw new ShapeError(op, `${outN} outputs exceed u32 indexing`);
  // Every output must see at least one input row/column (a window entirely inside the padding is a caller error).
  if ((a.outH - 1) * a.strideH >= a.inH + a.padTop || (a.outW - 1) * a.strideW >= a.inW + a.padLeft) {
    throw new ShapeError(op, `output ${a.outH} x ${a.outW} reaches past the input ${a.inH} x ${a.inW} and its padding`);
  }
  if (a.bias) {
    if (a.bias.dtype !== 'f32' || numel(a.bias.shape) !== a.outC) throw new ShapeError(op, `${a.bias.label} must be f32 [${a.outC}]`);
  }
  guardSeparate(op, a.out, a.x, a.w, ...(a.bias ? [a.bias] : []));
  return a.w.dtype as ConvWeightDType;
}

/**
 * 2-D convolution, channels-last activations, checkpoint-layout weights (see conv2d.wgsl). Depthwise
 * (groups == inC == outC) runs one invocation per output value; every other grouping runs 4 output
 * channels of 4 neighbouring pixels per invocation, sharing weight and input loads within a group.
 */
export function conv2d(gpu: Gpu, args: Conv2dArgs): Dispatch {
  const dt = guard(args);
  const { x, w, out, groups } = args;
  const bias = args.bias ?? null;
  const depthwise = groups === args.inC && groups === args.outC;
  const ocBlocks = Math.ceil(args.outC / OCT);
  const invocations = depthwise ? args.outH * args.outW * args.outC : args.outH * Math.ceil(args.outW / PXT) * ocBlocks;
  return {
    kernel: conv2dKernels[depthwise ? (`depthwise_${dt}` as const) : (`conv2d_${dt}` as const)],
    bindings: { x, w, bias: bias ?? x, out },
    params: {
      in_h: args.inH,
      in_w: args.inW,
      in_c: args.inC,
      out_c: args.outC,
      kh: args.kh,
      kw: args.kw,
      stride_h: args.strideH,
      stride_w: args.strideW,
      pad_top: args.padTop,
      pad_left: args.padLeft,
      out_h: args.outH,
      out_w: args.outW,
      groups,
      oc_blocks: ocBlocks,
      has_bias: bias ? 1 : 0,
      _pad: 0,
    },
    workgroups: foldWorkgroups(Math.ceil(invocations / WG), gpu.caps.limits.maxComputeWorkgroupsPerDimension),
  };
}
