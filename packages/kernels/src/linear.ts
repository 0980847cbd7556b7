import { defineKernel, foldWorkgroups, GROUP_SIZE, numel, ShapeError, type Dispatch, type Gpu, type Kernel, type Tensor } from '@g3n/gpu';
import matmulSource from '../../../shaders/matmul.wgsl?raw';
import matvecSource from '../../../shaders/matvec.wgsl?raw';
import matvecSubgroupsSource from '../../../shaders/matvec_subgroups.wgsl?raw';
import type { WeightDType } from './quant.ts';

export const WEIGHT_DTYPES = ['f32', 'bf16', 'f16', 'q8', 'q4'] as const satisfies readonly WeightDType[];

/** The DTYPE override of the shaders. */
const DTYPE_CODE: Record<WeightDType, number> = { f32: 0, bf16: 1, f16: 2, q8: 3, q4: 4 };
/** Weights in one 16-byte matvec unit: `in` must be a multiple for the matvec kernels. */
const UNIT: Record<WeightDType, number> = { f32: 4, bf16: 8, f16: 8, q8: 16, q4: 32 };
/** Matvec threads per workgroup: at in = 2048 every thread has a unit (2048 / UNIT, capped at 256). */
const MATVEC_WG: Record<WeightDType, number> = { f32: 256, bf16: 256, f16: 256, q8: 128, q4: 64 };
const MATVEC_ROWS = 4;
/** GEMM: 16 x 16 threads, 4 x 4 outputs each (64 x 64 tiles), K staged 16 at a time. */
const GEMM = { WG_M: 16, WG_N: 16, TILE_K: 16 };
const GEMM_TILE = 4 * GEMM.WG_M;

type Variant = 'matvec' | 'matvec_subgroups' | 'matmul';

function variants(): Record<`${Variant}_${WeightDType}`, Kernel> {
  const out = {} as Record<`${Variant}_${WeightDType}`, Kernel>;
  for (const dt of WEIGHT_DTYPES) {
    const DTYPE = DTYPE_CODE[dt];
    out[`matvec_${dt}`] = defineKernel('matvec', matvecSource, 'matvec', { DTYPE, WG: MATVEC_WG[dt], ROWS: MATVEC_ROWS });
    out[`matvec_subgroups_${dt}`] = defineKernel('matvec_subgroups', matvecSubgroupsSource, 'matvec', { DTYPE, WG: MATVEC_WG[dt], ROWS: MATVEC_ROWS });
    out[`matmul_${dt}`] = defineKernel('matmul', matmulSource, 'matmul', { DTYPE, ...GEMM });
  }
  return out;
}

/** Every linear-layer variant: matrix-vector (plain and subgroup reduction) and tiled GEMM, per weight dtype. */
export const linearKernels = variants();

export interface LinearArgs {
  /** f32 [rows, in] (a larger buffer is fine: the first rows * in values are read). */
  x: Tensor;
  /** [outFeatures, in] in f32, bf16, f16, q8 or q4 (with `scales`). */
  w: Tensor;
  /** f32; row r, column o is written at out[r * outStride + outOffset + o]. */
  out: Tensor;
  rows: number;
  outOffset?: number;
  outStride?: number;
}

function isWeightDType(d: string): d is WeightDType {
  return (WEIGHT_DTYPES as readonly string[]).includes(d);
}

/**
 * y = x W^T (a Linear without bias, W in the Hugging Face [out, in] layout). One token (rows == 1) runs
 * the matrix-vector kernel, several rows the tiled GEMM; weights are dequantized in the shader.
 */
export function linear(gpu: Gpu, args: LinearArgs): Dispatch {
  const { x, w, out, rows } = args;
  if (w.shape.length !== 2) throw new ShapeError('linear', `${w.label} must be [out, in], got [${w.shape.join(', ')}]`);
  const [outFeatures, inFeatures] = w.shape;
  const outOffset = args.outOffset ?? 0;
  const outStride = args.outStride ?? outFeatures;
  const dt = w.dtype;
  if (!isWeightDType(dt)) throw new ShapeError('linear', `${w.label}: ${dt} is not a weight dtype`);
  if (x.dtype !== 'f32' || out.dtype !== 'f32') throw new ShapeError('linear', `x and out must be f32, got ${x.dtype} and ${out.dtype}`);
  if (!Number.isInteger(rows) || rows < 1) throw new ShapeError('linear', `rows must be a positive integer, got ${rows}`);
  if (outFeatures < 1 || inFeatures < 1) throw new ShapeError('linear', `${w.label} is empty`);
  if (numel(x.shape) < rows * inFeatures) throw new ShapeError('linear', `${x.label} has ${numel(x.shape)} values, ${rows} rows of ${inFeatures} need ${rows * inFeatures}`);
  if (!Number.isInteger(outOffset) || outOffset < 0 || !Number.isInteger(outStride) || outOffset + outFeatures > outStride) {
    throw new ShapeError('linear', `columns [${outOffset}, ${outOffset + outFeatures}) do not fit out rows of stride ${outStride}`);
  }
  if (numel(out.shape) < (rows - 1) * outStride + outOffset + outFeatures) throw new ShapeError('linear', `${out.label} is too small for ${rows} rows of stride ${outStride}`);
  if ((dt === 'q8' || dt === 'q4') && (inFeatures % GROUP_SIZE !== 0 || !w.scales)) {
    throw new ShapeError('linear', `${w.label}: ${dt} needs in % ${GROUP_SIZE} == 0 and scales (in = ${inFeatures})`);
  }
  if ((dt === 'bf16' || dt === 'f16') && inFeatures % 2 !== 0) throw new ShapeError('linear', `${w.label}: ${dt} rows must start on a word (in = ${inFeatures} is odd)`);

  const maxPerDim = gpu.caps.limits.maxComputeWorkgroupsPerDimension;
  const bindings = { x, w, scales: w.scales ?? w, out };
  if (rows === 1 && inFeatures % UNIT[dt] === 0) {
    const kernel = gpu.caps.features.subgroups ? linearKernels[`matvec_subgroups_${dt}`] : linearKernels[`matvec_${dt}`];
    return {
      kernel,
      bindings,
      params: { in_features: inFeatures, out_features: outFeatures, out_offset: outOffset, _pad: 0 },
      workgroups: foldWorkgroups(Math.ceil(outFeatures / MATVEC_ROWS), maxPerDim),
    };
  }
  const tilesN = Math.ceil(outFeatures / GEMM_TILE);
  return {
    kernel: linearKernels[`matmul_${dt}`],
    bindings,
    params: { rows, in_features: inFeatures, out_features: outFeatures, out_offset: outOffset, out_stride: outStride, tiles_n: tilesN, _pad0: 0, _pad1: 0 },
    workgroups: foldWorkgroups(tilesN * Math.ceil(rows / GEMM_TILE), maxPerDim),
  };
}
