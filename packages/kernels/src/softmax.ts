import { defineKernel, foldWorkgroups, ShapeError, type Dispatch, type Gpu, type Tensor } from '@g3n/gpu';
import source from '../../../shaders/softmax.wgsl?raw';
import { guardCount, guardF32, guardHolds } from './guards.ts';
import { WGSL_INCLUDES } from './wgsl-includes.ts';

/** Rows per workgroup (one invocation each). */
const WG = 64;

/** Every softmax variant: in place, one invocation per row. */
export const softmaxKernels = {
  rows: defineKernel('softmax', source, 'softmax_rows', { WG }, WGSL_INCLUDES),
};

export interface SoftmaxRowsArgs {
  /** [rows, cols] f32 logits, replaced by the probabilities. */
  x: Tensor;
  rows: number;
  cols: number;
  /** Factor on the logits (> 0, finite); default 1. */
  scale?: number;
}

/**
 * x[r, :] = softmax(scale * x[r, :]) in place, one invocation per row: for many short rows (the
 * attention probabilities of the vision tower's queries x heads over its downsampled keys).
 */
export function softmaxRows(gpu: Gpu, args: SoftmaxRowsArgs): Dispatch {
  const { x, rows, cols } = args;
  const scale = args.scale ?? 1;
  guardF32('softmax', x);
  guardCount('softmax', 'rows', rows);
  guardCount('softmax', 'cols', cols);
  if (rows * cols > 0xffffffff) throw new ShapeError('softmax', `rows * cols = ${rows * cols} exceeds u32 indexing`);
  guardHolds('softmax', x, rows * cols);
  if (!(scale > 0) || !Number.isFinite(scale)) throw new ShapeError('softmax', `scale = ${scale} must be finite and > 0`);
  return {
    kernel: softmaxKernels.rows,
    bindings: { io: x },
    params: { rows, cols, scale },
    workgroups: foldWorkgroups(Math.ceil(rows / WG), gpu.caps.limits.maxComputeWorkgroupsPerDimension),
  };
}
