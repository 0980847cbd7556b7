import { defineKernel, foldWorkgroups, GROUP_SIZE, numel, ShapeError, type Dispatch, type DType, type Gpu, type Kernel, type Tensor } from '@g3n/gpu';
import source from '../../../shaders/embedding.wgsl?raw';
import { guardCount, guardF32, guardHolds, guardSeparate } from './guards.ts';

const WG = 256;
export const embeddingKernels = {
  f32: defineKernel('embedding', source, 'embed_f32', { WG }),
  bf16: defineKernel('embedding', source, 'embed_bf16', { WG }),
  f16: defineKernel('embedding', source, 'embed_f16', { WG }),
  q8: defineKernel('embedding', source, 'embed_q8', { WG }),
  q4: defineKernel('embedding', source, 'embed_q4', { WG }),
};

export type EmbeddingDType = keyof typeof embeddingKernels;

export interface EmbedGatherArgs {
  /** One row chunk [rows, cols] of the table, in f32, bf16, f16, q8 or q4 (with `scales`). */
  table: Tensor;
  /** Token ids, u32, at least `count` of them. */
  ids: Tensor;
  /** [count, cols] f32; rows of tokens whose id is outside this chunk are left as they are. */
  out: Tensor;
  /** Token id of the chunk's first row. */
  rowStart: number;
  rows: number;
  cols: number;
  /** Multiplier applied to every gathered element (sqrt(hidden) for text, 16 for PLE rows). */
  scale: number;
  /** Tokens to gather. */
  count: number;
}

function isEmbeddingDType(d: DType): d is EmbeddingDType {
  return d in embeddingKernels;
}

/**
 * out[t, :] = table[ids[t] - rowStart, :] * scale for every t < count whose id lies in
 * [rowStart, rowStart + rows): one dispatch per row chunk of a split table.
 */
export function embedGather(gpu: Gpu, args: EmbedGatherArgs): Dispatch {
  const { table, ids, out, rowStart, rows, cols, scale, count } = args;
  const dtype = table.dtype;
  if (!isEmbeddingDType(dtype)) throw new ShapeError('embedding', `${table.label} has dtype ${dtype}; expected f32, bf16, f16, q8 or q4`);
  if (ids.dtype !== 'u32') throw new ShapeError('embedding', `${ids.label} must be u32, got ${ids.dtype}`);
  guardF32('embedding', out);
  guardCount('embedding', 'rows', rows);
  guardCount('embedding', 'cols', cols);
  guardCount('embedding', 'count', count);
  if (!Number.isInteger(rowStart) || rowStart < 0 || rowStart > 0xffffffff) throw new ShapeError('embedding', `rowStart = ${rowStart} must be a u32`);
  if (rows * cols > 0xfffffffe || count * cols > 0xffffffff) throw new ShapeError('embedding', `rows * cols or count * cols exceeds u32 indexing`);
  if (!Number.isFinite(scale)) throw new ShapeError('embedding', `scale = ${scale} must be finite`);
  guardHolds('embedding', table, rows * cols);
  guardHolds('embedding', ids, count);
  guardHolds('embedding', out, count * cols);
  const quantized = dtype === 'q8' || dtype === 'q4';
  if (quantized) {
    if (cols % GROUP_SIZE !== 0) throw new ShapeError('embedding', `${dtype} rows need cols (${cols}) to be a multiple of ${GROUP_SIZE}`);
    if (!table.scales) throw new ShapeError('embedding', `${table.label} is ${dtype} but has no scales`);
    if (numel(table.scales.shape) < (rows * cols) / GROUP_SIZE) throw new ShapeError('embedding', `${table.scales.label} holds fewer than ${(rows * cols) / GROUP_SIZE} scales`);
  }
  guardSeparate('embedding', out, ids, table, ...(quantized ? [table.scales!] : []));

  const kernel: Kernel = embeddingKernels[dtype];

  const bindings: Dispatch['bindings'] = { ids, table, out };
  if (quantized) bindings.scales = table.scales!;

  return {
    kernel,
    bindings,
    params: { row_start: rowStart, rows, cols, count, scale },
    workgroups: foldWorkgroups(count, gpu.caps.limits.maxComputeWorkgroupsPerDimension),
  };
}
