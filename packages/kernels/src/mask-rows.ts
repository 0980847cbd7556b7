import { defineKernel, foldWorkgroups, numel, ShapeError, type Dispatch, type Gpu, type Tensor } from '@g3n/gpu';
import source from '../../../shaders/mask_rows.wgsl?raw';
import { guardCount, guardF32, guardHolds, guardSeparate } from './norm.ts';

const WG = 256;
export const maskRowsKernels = {
  gatherRows: defineKernel('mask_rows', source, 'gather_rows', { WG }),
  maskRowsInplace: defineKernel('mask_rows', source, 'mask_rows_inplace', { WG }),
  fillMaskedRows: defineKernel('mask_rows', source, 'fill_masked_rows', { WG }),
};

function guardMask(op: string, mask: Tensor, n: number): void {
  if (mask.dtype !== 'u32') throw new ShapeError(op, `${mask.label} must be u32, got ${mask.dtype}`);
  guardHolds(op, mask, n);
}

function grid(gpu: Gpu, n: number) {
  return foldWorkgroups(Math.ceil(n / WG), gpu.caps.limits.maxComputeWorkgroupsPerDimension);
}

function guardRows(op: string, rows: number, cols: number): number {
  guardCount(op, 'rows', rows);
  guardCount(op, 'cols', cols);
  if (rows * cols > 0xffffffff) throw new ShapeError(op, `rows * cols = ${rows * cols} exceeds u32 indexing`);
  return rows * cols;
}

/**
 * out[outRow0 + r, :] = x[r * stride, :] where mask[r * stride] != 0, else 0, for r < rows: the audio
 * encoder's time reduction (stride = conf_reduction_factor), zeroing padded frames on the way.
 */
export function gatherRows(gpu: Gpu, args: { x: Tensor; mask: Tensor; out: Tensor; rows: number; cols: number; stride?: number; outRow0?: number }): Dispatch {
  const { x, mask, out, rows, cols } = args;
  const stride = args.stride ?? 1;
  const outRow0 = args.outRow0 ?? 0;
  const op = 'gather_rows';
  guardF32(op, x, out);
  const n = guardRows(op, rows, cols);
  guardCount(op, 'stride', stride);
  if (!Number.isInteger(outRow0) || outRow0 < 0) throw new ShapeError(op, `outRow0 = ${outRow0} must be a non-negative integer`);
  const srcRows = (rows - 1) * stride + 1;
  guardHolds(op, x, srcRows * cols);
  guardMask(op, mask, srcRows);
  guardHolds(op, out, (outRow0 + rows) * cols);
  guardSeparate(op, out, x, mask);
  return { kernel: maskRowsKernels.gatherRows, bindings: { x, mask, out }, params: { rows, cols, stride, out_row0: outRow0 }, workgroups: grid(gpu, n) };
}

/** x[r, :] = 0 where mask[r] == 0, in place (padded frames between conformer modules). */
export function maskRows(gpu: Gpu, args: { x: Tensor; mask: Tensor; rows: number; cols: number }): Dispatch {
  const { x, mask, rows, cols } = args;
  const op = 'mask_rows';
  guardF32(op, x);
  const n = guardRows(op, rows, cols);
  guardHolds(op, x, n);
  guardMask(op, mask, rows);
  guardSeparate(op, x, mask);
  return { kernel: maskRowsKernels.maskRowsInplace, bindings: { io: x, mask }, params: { rows, cols, stride: 1, out_row0: 0 }, workgroups: grid(gpu, n) };
}

/** x[r, :] = fill where mask[r] == 0, in place (padded audio soft tokens take the padding embedding). */
export function fillMaskedRows(gpu: Gpu, args: { x: Tensor; mask: Tensor; fill: Tensor; rows: number; cols: number }): Dispatch {
  const { x, mask, fill, rows, cols } = args;
  const op = 'fill_masked_rows';
  guardF32(op, x, fill);
  const n = guardRows(op, rows, cols);
  guardHolds(op, x, n);
  guardMask(op, mask, rows);
  if (numel(fill.shape) < cols) throw new ShapeError(op, `${fill.label} has ${numel(fill.shape)} values, cols is ${cols}`);
  guardSeparate(op, x, mask, fill);
  return { kernel: maskRowsKernels.fillMaskedRows, bindings: { io: x, mask, fill }, params: { rows, cols, stride: 1, out_row0: 0 }, workgroups: grid(gpu, n) };
}
