import { defineKernel, expandWgsl, foldWorkgroups, GROUP_SIZE, numel, ShapeError, type Dispatch, type Gpu, type Kernel, type Tensor } from '@g3n/gpu';
import matmulRaw from '../../../shaders/matmul.wgsl?raw';
import matmulUnitsRaw from '../../../shaders/matmul_units.wgsl?raw';
import matvecRaw from '../../../shaders/matvec.wgsl?raw';
import matvecRowsRaw from '../../../shaders/matvec_rows.wgsl?raw';
import matvecSubgroupsRaw from '../../../shaders/matvec_subgroups.wgsl?raw';
import type { WeightDType } from './quant.ts';
import { WGSL_INCLUDES } from './wgsl-includes.ts';

/**
 * A shader source with the weight-format helpers of weight_formats.wgsl: its `#include` lines expanded,
 * or the file appended after the shader's own directives where it has none. Kernels pass their raw
 * source and WGSL_INCLUDES to defineKernel instead; this stays for shaders written before the include step.
 */
export function withWeightFormats(source: string): string {
  return expandWgsl(source.includes('#include "weight_formats.wgsl"') ? source : `${source}\n// #include "weight_formats.wgsl"\n`, WGSL_INCLUDES);
}

const I = WGSL_INCLUDES;

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
/**
 * GEMM for a few rows (a short prefill, a follow-up turn): 4 x 16 threads, 4 x 4 outputs each (16 x 64
 * tiles), K staged 32 at a time, so 16 rows compute no absent rows and each weight is dequantized once.
 */
const GEMM_FEW_ROWS = { WG_M: 4, WG_N: 16, TILE_K: 32 };
/** The GEMM tile configurations (the overrides of matmul.wgsl besides DTYPE), for variants on other layouts. */
export const GEMM_TILES = { large: GEMM, fewRows: GEMM_FEW_ROWS } as const;
/** The DTYPE override of the linear shaders, per weight dtype. */
export const LINEAR_DTYPE_CODE: Readonly<Record<WeightDType, number>> = DTYPE_CODE;
/** Outputs per thread along each axis (TM, TN in matmul.wgsl). */
export const GEMM_THREAD_TILE = 4;
/** Row counts from 2 up to this run the few-rows GEMM (or the multi-row matvec where the rows are whole units). */
export const FEW_ROWS_MAX = 32;
/**
 * Multi-row matvec: threads per workgroup, output columns (weight rows) per thread (fixed in the shader),
 * and the x-row blocks of its two variants; a workgroup covers 128 columns.
 */
const MATVEC_ROWS_WG = 32;
const MATVEC_ROWS_OR = 4;
const MATVEC_ROWS_RB = { rows4: 4, rows8: 8 } as const;
/**
 * GEMM with register tiles for more than FEW_ROWS_MAX rows of whole units: threads per workgroup, rows
 * and output columns per thread (both fixed in the shader); a workgroup covers 256 columns of 16 rows.
 */
const MATMUL_UNITS = { WG: 32, RB: 16, COLS: 8 } as const;

type Variant =
  | 'matvec'
  | 'matvec_masked'
  | 'matvec_skip'
  | 'matvec_subgroups'
  | 'matvec_subgroups_masked'
  | 'matvec_subgroups_skip'
  | 'matvec_rows4'
  | 'matvec_rows8'
  | 'matmul_units'
  | 'matmul';
/** Float weights: the only ones whose rows can miss whole 16-byte units and so need the few-rows GEMM. */
const FLOAT_DTYPES = ['f32', 'bf16', 'f16'] as const;
type LinearKernelName = `${Variant}_${WeightDType}` | `matmul_few_rows_${(typeof FLOAT_DTYPES)[number]}`;

function variants(): Record<LinearKernelName, Kernel> {
  const out = {} as Record<LinearKernelName, Kernel>;
  for (const dt of WEIGHT_DTYPES) {
    const c = { DTYPE: DTYPE_CODE[dt], WG: MATVEC_WG[dt], ROWS: MATVEC_ROWS };
    out[`matvec_${dt}`] = defineKernel('matvec', matvecRaw, 'matvec', c, I);
    out[`matvec_masked_${dt}`] = defineKernel('matvec', matvecRaw, 'matvec_masked', c, I);
    out[`matvec_skip_${dt}`] = defineKernel('matvec', matvecRaw, 'matvec_skip', c, I);
    out[`matvec_subgroups_${dt}`] = defineKernel('matvec_subgroups', matvecSubgroupsRaw, 'matvec', c, I);
    out[`matvec_subgroups_masked_${dt}`] = defineKernel('matvec_subgroups', matvecSubgroupsRaw, 'matvec_masked', c, I);
    out[`matvec_subgroups_skip_${dt}`] = defineKernel('matvec_subgroups', matvecSubgroupsRaw, 'matvec_skip', c, I);
    for (const [name, rb] of Object.entries(MATVEC_ROWS_RB) as Array<[keyof typeof MATVEC_ROWS_RB, number]>) {
      out[`matvec_${name}_${dt}`] = defineKernel('matvec_rows', matvecRowsRaw, 'matvec_rows', { DTYPE: DTYPE_CODE[dt], WG: MATVEC_ROWS_WG, RB: rb }, I);
    }
    out[`matmul_units_${dt}`] = defineKernel('matmul_units', matmulUnitsRaw, 'matmul_units', { DTYPE: DTYPE_CODE[dt], WG: MATMUL_UNITS.WG }, I);
    out[`matmul_${dt}`] = defineKernel('matmul', matmulRaw, 'matmul', { DTYPE: DTYPE_CODE[dt], ...GEMM }, I);
  }
  for (const dt of FLOAT_DTYPES) out[`matmul_few_rows_${dt}`] = defineKernel('matmul', matmulRaw, 'matmul', { DTYPE: DTYPE_CODE[dt], ...GEMM_FEW_ROWS }, I);
  return out;
}

/**
 * Every linear-layer variant, per weight dtype: matrix-vector (plain and subgroup reduction; dense, with
 * rows masked by a vector, with zero blocks of x skipped), multi-row matrix-vector (a few rows of x, 4 or 8
 * per thread), register-tiled GEMM over whole 16-byte units for many rows (16 rows x 8 columns per thread,
 * no workgroup memory) and the workgroup-tiled GEMM (64-row tiles; 16-row tiles for a few rows) for float
 * weights whose rows are not whole units.
 */
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

/** The arguments of the one-token products that skip weights: `x` is one row, `out` one row at `outOffset`. */
export interface SparseMatvecArgs {
  /** f32, in_features values. */
  x: Tensor;
  /** [outFeatures, in] as for `linear`, with whole 16-byte units per row (see `matvecFits`). */
  w: Tensor;
  /** f32; column o is written at out[outOffset + o]. */
  out: Tensor;
  outOffset?: number;
}

export interface MaskedMatvecArgs extends SparseMatvecArgs {
  /** f32; row o of W is used where mask[outOffset + o] != 0, and out[outOffset + o] = 0 elsewhere. */
  mask: Tensor;
}

function isFloat(dt: WeightDType): dt is (typeof FLOAT_DTYPES)[number] {
  return (FLOAT_DTYPES as readonly string[]).includes(dt);
}

export function isWeightDType(d: string): d is WeightDType {
  return (WEIGHT_DTYPES as readonly string[]).includes(d);
}

/** Throw before any GPU work unless the shapes fit; returns the matrix sizes and the output placement. */
function guard(op: string, args: LinearArgs): { dt: WeightDType; outFeatures: number; inFeatures: number; outOffset: number; outStride: number } {
  const { x, w, out, rows } = args;
  if (w.shape.length !== 2) throw new ShapeError(op, `${w.label} must be [out, in], got [${w.shape.join(', ')}]`);
  const [outFeatures, inFeatures] = w.shape;
  const outOffset = args.outOffset ?? 0;
  const outStride = args.outStride ?? outFeatures;
  const dt = w.dtype;
  if (!isWeightDType(dt)) throw new ShapeError(op, `${w.label}: ${dt} is not a weight dtype`);
  if (x.dtype !== 'f32' || out.dtype !== 'f32') throw new ShapeError(op, `x and out must be f32, got ${x.dtype} and ${out.dtype}`);
  if (!Number.isInteger(rows) || rows < 1) throw new ShapeError(op, `rows must be a positive integer, got ${rows}`);
  if (outFeatures < 1 || inFeatures < 1) throw new ShapeError(op, `${w.label} is empty`);
  if (numel(x.shape) < rows * inFeatures) throw new ShapeError(op, `${x.label} has ${numel(x.shape)} values, ${rows} rows of ${inFeatures} need ${rows * inFeatures}`);
  if (!Number.isInteger(outOffset) || outOffset < 0 || !Number.isInteger(outStride) || outOffset + outFeatures > outStride) {
    throw new ShapeError(op, `columns [${outOffset}, ${outOffset + outFeatures}) do not fit out rows of stride ${outStride}`);
  }
  if (numel(out.shape) < (rows - 1) * outStride + outOffset + outFeatures) throw new ShapeError(op, `${out.label} is too small for ${rows} rows of stride ${outStride}`);
  if ((dt === 'q8' || dt === 'q4') && (inFeatures % GROUP_SIZE !== 0 || !w.scales)) {
    throw new ShapeError(op, `${w.label}: ${dt} needs in % ${GROUP_SIZE} == 0 and scales (in = ${inFeatures})`);
  }
  if ((dt === 'bf16' || dt === 'f16') && inFeatures % 2 !== 0) throw new ShapeError(op, `${w.label}: ${dt} rows must start on a word (in = ${inFeatures} is odd)`);
  return { dt, outFeatures, inFeatures, outOffset, outStride };
}

/** Whether one row through W runs as a matrix-vector product: rows of whole 16-byte units (the sparse variants need it). */
export function matvecFits(w: Tensor): boolean {
  return w.shape.length === 2 && isWeightDType(w.dtype) && w.shape[1] % UNIT[w.dtype] === 0;
}

/**
 * y = x W^T (a Linear without bias, W in the Hugging Face [out, in] layout). One token (rows == 1) runs
 * the matrix-vector kernel; up to FEW_ROWS_MAX rows the multi-row matrix-vector kernel (4 columns times 4
 * rows per thread up to 4 rows, else 4 x 8), or the GEMM with 16-row tiles where W's rows are not whole 16-byte units; more
 * rows the register-tiled GEMM (16 rows x 8 columns per thread; every q4/q8 weight) or, where W's rows are
 * not whole units, the GEMM with 64-row tiles. Weights are dequantized in the shader.
 */
export function linear(gpu: Gpu, args: LinearArgs): Dispatch {
  const { x, w, out, rows } = args;
  const { dt, outFeatures, inFeatures, outOffset, outStride } = guard('linear', args);
  const maxPerDim = gpu.caps.limits.maxComputeWorkgroupsPerDimension;
  const bindings = { x, w, scales: w.scales ?? w, out };
  if (rows === 1 && matvecFits(w)) {
    const kernel = gpu.caps.features.subgroups ? linearKernels[`matvec_subgroups_${dt}`] : linearKernels[`matvec_${dt}`];
    return {
      kernel,
      bindings,
      params: { in_features: inFeatures, out_features: outFeatures, out_offset: outOffset },
      workgroups: foldWorkgroups(Math.ceil(outFeatures / MATVEC_ROWS), maxPerDim),
    };
  }
  if (rows <= FEW_ROWS_MAX && matvecFits(w)) {
    const rb = rows <= MATVEC_ROWS_RB.rows4 ? 'rows4' : 'rows8';
    const colGroups = Math.ceil(outFeatures / (MATVEC_ROWS_WG * MATVEC_ROWS_OR));
    return {
      kernel: linearKernels[`matvec_${rb}_${dt}`],
      bindings,
      params: { rows, in_features: inFeatures, out_features: outFeatures, out_offset: outOffset, out_stride: outStride, tiles_n: colGroups },
      workgroups: foldWorkgroups(colGroups * Math.ceil(rows / MATVEC_ROWS_RB[rb]), maxPerDim),
    };
  }
  if (matvecFits(w)) {
    const tilesN = Math.ceil(outFeatures / (MATMUL_UNITS.WG * MATMUL_UNITS.COLS));
    return {
      kernel: linearKernels[`matmul_units_${dt}`],
      bindings,
      params: { rows, in_features: inFeatures, out_features: outFeatures, out_offset: outOffset, out_stride: outStride, tiles_n: tilesN },
      workgroups: foldWorkgroups(tilesN * Math.ceil(rows / MATMUL_UNITS.RB), maxPerDim),
    };
  }
  // Quantized rows are whole units (in % 32 == 0), so only float weights get here.
  const fewRows = rows <= FEW_ROWS_MAX && isFloat(dt);
  const tile = fewRows ? GEMM_FEW_ROWS : GEMM;
  const tilesN = Math.ceil(outFeatures / (GEMM_THREAD_TILE * tile.WG_N));
  const tilesM = Math.ceil(rows / (GEMM_THREAD_TILE * tile.WG_M));
  return {
    kernel: fewRows && isFloat(dt) ? linearKernels[`matmul_few_rows_${dt}`] : linearKernels[`matmul_${dt}`],
    bindings,
    params: { rows, in_features: inFeatures, out_features: outFeatures, out_offset: outOffset, out_stride: outStride, tiles_n: tilesN },
    workgroups: foldWorkgroups(tilesN * tilesM, maxPerDim),
  };
}

/** The one-token dispatch of a sparse matvec entry point (`masked` or `skip`) after the shared guards. */
function sparseMatvec(gpu: Gpu, op: string, entry: 'masked' | 'skip', args: SparseMatvecArgs, mask?: Tensor): Dispatch {
  const { x, w, out } = args;
  // One row: the stride only has to hold the columns written.
  const { dt, outFeatures, inFeatures, outOffset } = guard(op, { x, w, out, rows: 1, outOffset: args.outOffset, outStride: (args.outOffset ?? 0) + (w.shape[0] ?? 0) });
  if (!matvecFits(w)) throw new ShapeError(op, `${w.label}: rows of ${inFeatures} ${dt} values are not whole 16-byte units (${UNIT[dt]} values)`);
  const variant = gpu.caps.features.subgroups ? (`matvec_subgroups_${entry}_${dt}` as const) : (`matvec_${entry}_${dt}` as const);
  return {
    kernel: linearKernels[variant],
    bindings: { x, w, scales: w.scales ?? w, out, ...(mask ? { mask } : {}) },
    params: { in_features: inFeatures, out_features: outFeatures, out_offset: outOffset },
    workgroups: foldWorkgroups(Math.ceil(outFeatures / MATVEC_ROWS), gpu.caps.limits.maxComputeWorkgroupsPerDimension),
  };
}

/**
 * One token through W with its rows masked: out[outOffset + o] = x . W[o] where mask[outOffset + o] != 0
 * (bit-identical to `linear`'s matvec there) and 0 elsewhere, without reading the masked rows: the FFN
 * up_proj of a layer whose gate went through Gaussian top-k (gelu(0) = 0 makes those rows irrelevant).
 */
export function linearMaskedRows(gpu: Gpu, args: MaskedMatvecArgs): Dispatch {
  const { mask, w } = args;
  const need = (args.outOffset ?? 0) + (w.shape[0] ?? 0);
  if (mask.dtype !== 'f32' || numel(mask.shape) < need) throw new ShapeError('linear_masked_rows', `${mask.label} must be f32 with at least ${need} values, got ${mask.dtype} [${mask.shape.join(', ')}]`);
  return sparseMatvec(gpu, 'linear_masked_rows', 'masked', args, mask);
}

/**
 * One token through W, skipping the weights of every 32-column block where x is all zero (the FFN
 * down_proj of a sparse activation). Those weights only add zeros, so the result is bit-identical to
 * `linear`'s matvec.
 */
export function linearSkipZeroBlocks(gpu: Gpu, args: SparseMatvecArgs): Dispatch {
  return sparseMatvec(gpu, 'linear_skip_zero_blocks', 'skip', args);
}
