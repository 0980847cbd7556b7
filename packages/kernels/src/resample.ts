import { defineKernel, foldWorkgroups, numel, ShapeError, type Dispatch, type Gpu, type Tensor } from '@g3n/gpu';
import source from '../../../shaders/resample.wgsl?raw';
import { guardF32, guardSeparate } from './norm.ts';

const WG = 256;
export const resampleKernels = {
  resizeNearest: defineKernel('resample', source, 'resize_nearest', { WG }),
  avgPool: defineKernel('resample', source, 'avg_pool', { WG }),
  resizeBilinear: defineKernel('resample', source, 'resize_bilinear', { WG }),
};

export interface ResampleArgs {
  /** f32 channels-last [inH, inW, channels]. */
  x: Tensor;
  /** f32 [outH, outW, outChannelStride], in another buffer than x. */
  out: Tensor;
  inH: number;
  inW: number;
  channels: number;
  outH: number;
  outW: number;
  /** Channels per output pixel (default `channels`): a wider map receives this one as a channel slice. */
  outChannelStride?: number;
  /** First output channel written (default 0). */
  outChannelOffset?: number;
}

function guard(op: string, a: ResampleArgs): { stride: number; offset: number } {
  const stride = a.outChannelStride ?? a.channels;
  const offset = a.outChannelOffset ?? 0;
  for (const [name, v] of Object.entries({ inH: a.inH, inW: a.inW, channels: a.channels, outH: a.outH, outW: a.outW, outChannelStride: stride })) {
    if (!Number.isInteger(v) || v < 1 || v > 0xffffff) throw new ShapeError(op, `${name} = ${v} must be a positive integer`);
  }
  if (!Number.isInteger(offset) || offset < 0 || offset + a.channels > stride) throw new ShapeError(op, `channels [${offset}, ${offset + a.channels}) do not fit output pixels of ${stride}`);
  guardF32(op, a.x, a.out);
  if (numel(a.x.shape) < a.inH * a.inW * a.channels) throw new ShapeError(op, `${a.x.label} has ${numel(a.x.shape)} values, needs [${a.inH}, ${a.inW}, ${a.channels}]`);
  if (numel(a.out.shape) < a.outH * a.outW * stride) throw new ShapeError(op, `${a.out.label} has ${numel(a.out.shape)} values, needs [${a.outH}, ${a.outW}, ${stride}]`);
  if (a.outH * a.outW * stride > 0xffffffff) throw new ShapeError(op, 'output exceeds u32 indexing');
  guardSeparate(op, a.out, a.x);
  return { stride, offset };
}

function dispatch(gpu: Gpu, kernel: (typeof resampleKernels)[keyof typeof resampleKernels], a: ResampleArgs, k: { kh: number; kw: number }): Dispatch {
  const { stride, offset } = guard(kernel.entry, a);
  return {
    kernel,
    bindings: { x: a.x, out: a.out },
    params: { in_h: a.inH, in_w: a.inW, c: a.channels, out_h: a.outH, out_w: a.outW, out_c_stride: stride, out_c_offset: offset, kh: k.kh, kw: k.kw, _pad0: 0, _pad1: 0, _pad2: 0 },
    workgroups: foldWorkgroups(Math.ceil((a.outH * a.outW * a.channels) / WG), gpu.caps.limits.maxComputeWorkgroupsPerDimension),
  };
}

/** Nearest-neighbour resize (torch 'nearest': source index floor(o * in / out)); a 2x upsample, or a strided copy at equal sizes. */
export function resizeNearest(gpu: Gpu, args: ResampleArgs): Dispatch {
  return dispatch(gpu, resampleKernels.resizeNearest, args, { kh: 1, kw: 1 });
}

/** Average pool with a kh x kw window and the same stride, no padding: outH = floor(inH / kh), outW = floor(inW / kw). */
export function avgPool(gpu: Gpu, args: Omit<ResampleArgs, 'outH' | 'outW'> & { kh: number; kw: number }): Dispatch {
  const { kh, kw } = args;
  if (!Number.isInteger(kh) || kh < 1 || kh > args.inH || !Number.isInteger(kw) || kw < 1 || kw > args.inW) {
    throw new ShapeError('avg_pool', `window ${kh} x ${kw} must be positive and fit in ${args.inH} x ${args.inW}`);
  }
  return dispatch(gpu, resampleKernels.avgPool, { ...args, outH: Math.floor(args.inH / kh), outW: Math.floor(args.inW / kw) }, { kh, kw });
}

/** Bilinear resize as torch interpolate(mode='bilinear', align_corners=False), without antialiasing. */
export function resizeBilinear(gpu: Gpu, args: ResampleArgs): Dispatch {
  return dispatch(gpu, resampleKernels.resizeBilinear, args, { kh: 1, kw: 1 });
}
