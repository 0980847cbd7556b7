import { defineKernel, foldWorkgroups, numel, ShapeError, type Dispatch, type Gpu, type Tensor } from '@g3n/gpu';
import source from '../../../shaders/elementwise.wgsl?raw';

const WG = 256;
export const elementwiseKernels = {
  add: defineKernel('elementwise', source, 'add', { WG }),
  mul: defineKernel('elementwise', source, 'mul', { WG }),
  scale: defineKernel('elementwise', source, 'scale', { WG }),
  addInplace: defineKernel('elementwise', source, 'add_inplace', { WG }),
  copy: defineKernel('elementwise', source, 'copy', { WG }),
};

function guardF32(name: string, ...ts: Tensor[]): void {
  for (const t of ts) if (t.dtype !== 'f32') throw new ShapeError(name, `${t.label} must be f32, got ${t.dtype}`);
}

function grid(gpu: Gpu, n: number) {
  return foldWorkgroups(Math.ceil(n / WG), gpu.caps.limits.maxComputeWorkgroupsPerDimension);
}

/** out = (a + b) * scale; b broadcasts over a when shorter (its length must divide a's). */
export function add(gpu: Gpu, a: Tensor, b: Tensor, out: Tensor, scale = 1): Dispatch {
  return binary(gpu, 'add', a, b, out, scale);
}

/** out = a * b * scale; b broadcasts over a when shorter. */
export function mul(gpu: Gpu, a: Tensor, b: Tensor, out: Tensor, scale = 1): Dispatch {
  return binary(gpu, 'mul', a, b, out, scale);
}

function binary(gpu: Gpu, op: 'add' | 'mul', a: Tensor, b: Tensor, out: Tensor, scale: number): Dispatch {
  guardF32(op, a, b, out);
  const n = numel(a.shape);
  const bLen = numel(b.shape);
  if (bLen === 0 || n % bLen !== 0) throw new ShapeError(op, `b (${bLen}) does not broadcast over a (${n})`);
  if (numel(out.shape) !== n) throw new ShapeError(op, `out has ${numel(out.shape)} elements, a has ${n}`);
  return { kernel: elementwiseKernels[op], bindings: { a, b, out }, params: { n, b_len: bLen, scale, a_offset: 0, out_offset: 0 }, workgroups: grid(gpu, n) };
}

/** out = a * scale. */
export function scale(gpu: Gpu, a: Tensor, out: Tensor, s: number): Dispatch {
  guardF32('scale', a, out);
  const n = numel(a.shape);
  if (numel(out.shape) !== n) throw new ShapeError('scale', `out has ${numel(out.shape)} elements, a has ${n}`);
  return { kernel: elementwiseKernels.scale, bindings: { a, out }, params: { n, b_len: 1, scale: s, a_offset: 0, out_offset: 0 }, workgroups: grid(gpu, n) };
}

/** acc += b * scale, in place; b broadcasts over acc when shorter. */
export function addInplace(gpu: Gpu, acc: Tensor, b: Tensor, s = 1): Dispatch {
  guardF32('add_inplace', acc, b);
  const n = numel(acc.shape);
  const bLen = numel(b.shape);
  if (bLen === 0 || n % bLen !== 0) throw new ShapeError('add_inplace', `b (${bLen}) does not broadcast over acc (${n})`);
  return { kernel: elementwiseKernels.addInplace, bindings: { acc, b }, params: { n, b_len: bLen, scale: s, a_offset: 0, out_offset: 0 }, workgroups: grid(gpu, n) };
}

/** out[outOffset + i] = a[aOffset + i] * scale for i < n (element offsets, no alignment needed). */
export function copy(gpu: Gpu, args: { a: Tensor; out: Tensor; n: number; aOffset?: number; outOffset?: number; scale?: number }): Dispatch {
  const { a, out, n } = args;
  const aOffset = args.aOffset ?? 0;
  const outOffset = args.outOffset ?? 0;
  guardF32('copy', a, out);
  if (aOffset + n > numel(a.shape)) throw new ShapeError('copy', `reading ${n} at ${aOffset} overruns ${a.label} (${numel(a.shape)})`);
  if (outOffset + n > numel(out.shape)) throw new ShapeError('copy', `writing ${n} at ${outOffset} overruns ${out.label} (${numel(out.shape)})`);
  return {
    kernel: elementwiseKernels.copy,
    bindings: { a, out },
    params: { n, b_len: 1, scale: args.scale ?? 1, a_offset: aOffset, out_offset: outOffset },
    workgroups: grid(gpu, n),
  };
}
