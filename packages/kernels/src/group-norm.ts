import { defineKernel, foldWorkgroups, numel, ShapeError, type Dispatch, type Gpu, type Tensor } from '@g3n/gpu';
import source from '../../../shaders/group_norm.wgsl?raw';
import { guardCount, guardF32, guardHolds, guardSeparate } from './norm.ts';
import { WGSL_INCLUDES } from './wgsl-includes.ts';

const WG = 256;
/** The three passes of the causal cumulative group norm, dispatched in this order. */
export const groupNormKernels = {
  rowSums: defineKernel('cumulative_group_norm', source, 'row_sums', { WG }, WGSL_INCLUDES),
  rowDeviations: defineKernel('cumulative_group_norm', source, 'row_deviations', { WG }, WGSL_INCLUDES),
  normalize: defineKernel('cumulative_group_norm', source, 'normalize', { WG }, WGSL_INCLUDES),
};

export interface CumulativeGroupNormArgs {
  /** f32 channels-last [rows, row_len] (time, freq * channels), normalized in place. */
  x: Tensor;
  /** f32 [channels] scale. */
  weight: Tensor;
  /** f32 scratch of at least 2 * rows values, in its own buffer. */
  stats: Tensor;
  rows: number;
  rowLen: number;
  channels: number;
  eps: number;
  /** Apply ReLU after the scale (the SSCP's next step). */
  relu?: boolean;
}

/**
 * Causal cumulative group norm over time (spec §5.4), in place: at step t the mean and variance run over
 * every (freq, channel) value of steps 0..t, each step's squared deviations taken from its own running
 * mean; y = (x - mu_t) / sqrt(V_t + eps) * weight[c]. Three dispatches (row sums, deviations, normalize).
 */
export function cumulativeGroupNorm(gpu: Gpu, args: CumulativeGroupNormArgs): Dispatch[] {
  const { x, weight, stats, rows, rowLen, channels, eps } = args;
  guardF32('cumulative_group_norm', x, weight, stats);
  guardCount('cumulative_group_norm', 'rows', rows);
  guardCount('cumulative_group_norm', 'rowLen', rowLen);
  guardCount('cumulative_group_norm', 'channels', channels);
  if (rowLen % channels !== 0) throw new ShapeError('cumulative_group_norm', `rowLen ${rowLen} is not a multiple of channels ${channels}`);
  if (rows * rowLen > 0xffffffff) throw new ShapeError('cumulative_group_norm', `rows * rowLen = ${rows * rowLen} exceeds u32 indexing`);
  guardHolds('cumulative_group_norm', x, rows * rowLen);
  guardHolds('cumulative_group_norm', stats, 2 * rows);
  if (numel(weight.shape) !== channels) throw new ShapeError('cumulative_group_norm', `${weight.label} has ${numel(weight.shape)} values, channels is ${channels}`);
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new ShapeError('cumulative_group_norm', `eps = ${eps} must be finite and >= 0`);
  guardSeparate('cumulative_group_norm', x, weight, stats);
  guardSeparate('cumulative_group_norm', stats, weight);

  const bindings = { x, weight, stats };
  const params = { rows, row_len: rowLen, channels, relu: args.relu ? 1 : 0, eps, _pad0: 0, _pad1: 0, _pad2: 0 };
  const workgroups = foldWorkgroups(rows, gpu.caps.limits.maxComputeWorkgroupsPerDimension);
  return [groupNormKernels.rowSums, groupNormKernels.rowDeviations, groupNormKernels.normalize].map((kernel) => ({ kernel, bindings, params, workgroups }));
}
