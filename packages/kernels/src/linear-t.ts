/**
 * Linear layers on a transposed ("input-major") weight: WT = W^T of shape [in, out], for the FFN down_proj
 * of a sparse layer, where one token only needs the rows of WT whose x[i] is nonzero.
 *
 * The layout (shaders/linear_t.wgsl defines it too): element (i, o) = W[o, i] is element i * out + o of the
 * codes, packed along `out` as quant.ts packs along a row (bf16/f16 two per u32, q8 four, q4 eight). q8/q4
 * keep the groups of W (32 consecutive inputs of one output), so dequantized values are bit-identical to
 * W's; their f16 scales have shape [in / 32, out], the scale of (i, o) at (i / 32) * out + o. It needs
 * out % (elements per word) == 0 and, for q8/q4, in % 32 == 0 (`transposedFits`).
 */
import { createTensor, defineKernel, foldWorkgroups, GROUP_SIZE, numel, ShapeError, storageBytes, type Dispatch, type Gpu, type Kernel, type Tensor } from '@g3n/gpu';
import matmulRaw from '../../../shaders/matmul.wgsl?raw';
import linearTRaw from '../../../shaders/linear_t.wgsl?raw';
import { FEW_ROWS_MAX, GEMM_THREAD_TILE, GEMM_TILES, isWeightDType, LINEAR_DTYPE_CODE as DTYPE_CODE, WEIGHT_DTYPES, type LinearArgs } from './linear.ts';
import { WGSL_INCLUDES as I } from './wgsl-includes.ts';
import type { WeightDType } from './quant.ts';

/** Elements per u32 storage word. */
const PER_WORD: Record<WeightDType, number> = { f32: 1, bf16: 2, f16: 2, q8: 4, q4: 8 };
/** Outputs per gather workgroup: its threads own one storage word each (256 f32 threads ... 32 q4 threads). */
const GATHER_OUTPUTS = 256;
/** Inputs per gather split: a multiple of 32, at least MIN_CHUNK unless `in` is shorter, at most MAX_CHUNK (the shader's mask array). */
const MIN_CHUNK = 256;
const MAX_CHUNK = 1024;
/** Gather workgroups aimed at: enough for a big GPU (D = 2048, I = 8192 gives 8 column tiles x 16 splits). */
const GATHER_TARGET_WORKGROUPS = 128;
/** Threads of the transpose and gather_sum kernels. */
const WG = 256;

type Variant = 'transpose' | 'gather' | 'matmul_t' | 'matmul_t_few_rows';

function variants(): Record<`${Variant}_${WeightDType}` | 'gather_sum', Kernel> {
  const out = { gather_sum: defineKernel('linear_t', linearTRaw, 'gather_sum', { WG }, I) } as Record<`${Variant}_${WeightDType}` | 'gather_sum', Kernel>;
  for (const dt of WEIGHT_DTYPES) {
    const DTYPE = DTYPE_CODE[dt];
    out[`transpose_${dt}`] = defineKernel('linear_t', linearTRaw, 'transpose', { DTYPE, WG }, I);
    out[`gather_${dt}`] = defineKernel('linear_t', linearTRaw, 'gather', { DTYPE, WG: GATHER_OUTPUTS / PER_WORD[dt] }, I);
    // The tiles of linear's GEMM variants, reading the transposed weight.
    out[`matmul_t_${dt}`] = defineKernel('matmul', matmulRaw, 'matmul', { DTYPE, ...GEMM_TILES.large, W_T: 1 }, I);
    out[`matmul_t_few_rows_${dt}`] = defineKernel('matmul', matmulRaw, 'matmul', { DTYPE, ...GEMM_TILES.fewRows, W_T: 1 }, I);
  }
  return out;
}

/**
 * Every variant on transposed weights, per weight dtype: the transpose itself, the one-token gather over
 * the nonzero inputs (with `gather_sum`, shared by all dtypes) and the GEMM with 64-row and 16-row tiles.
 */
export const linearTKernels = variants();

function isQuant(dt: WeightDType): boolean {
  return dt === 'q8' || dt === 'q4';
}

/** The divisibility rules of the layout for a matrix [outFeatures, inFeatures] of `dt`; a reason, or null when it fits. */
function layoutProblem(dt: WeightDType, outFeatures: number, inFeatures: number): string | null {
  if (outFeatures % PER_WORD[dt] !== 0) return `out = ${outFeatures} is not a multiple of ${PER_WORD[dt]} (${dt} values per word)`;
  if (isQuant(dt) && inFeatures % GROUP_SIZE !== 0) return `in = ${inFeatures} is not a multiple of ${GROUP_SIZE} (${dt} groups)`;
  return null;
}

/** Whether a standard-layout weight [out, in] can be transposed: out a multiple of the values per word, in % 32 == 0 for q8/q4. */
export function transposedFits(w: Tensor): boolean {
  if (w.shape.length !== 2 || !isWeightDType(w.dtype)) return false;
  const [outFeatures, inFeatures] = w.shape;
  return outFeatures > 0 && inFeatures > 0 && layoutProblem(w.dtype, outFeatures, inFeatures) === null;
}

/** Sizes of a weight of `dt` (2-D, a weight dtype, non-empty, in the layout rules, scales where quantized). */
function weightSizes(op: string, w: Tensor, what: string): { dt: WeightDType; a: number; b: number } {
  if (w.shape.length !== 2) throw new ShapeError(op, `${w.label} must be ${what}, got [${w.shape.join(', ')}]`);
  const dt = w.dtype;
  if (!isWeightDType(dt)) throw new ShapeError(op, `${w.label}: ${dt} is not a weight dtype`);
  const [a, b] = w.shape;
  if (a < 1 || b < 1) throw new ShapeError(op, `${w.label} is empty`);
  if (w.byteLength < storageBytes(dt, a * b)) throw new ShapeError(op, `${w.label}: ${w.byteLength} bytes hold less than [${a}, ${b}] ${dt}`);
  if (isQuant(dt) && (!w.scales || w.scales.byteLength < 2 * ((a * b) / GROUP_SIZE))) throw new ShapeError(op, `${w.label}: ${dt} needs scales for ${(a * b) / GROUP_SIZE} groups`);
  return { dt, a, b };
}

/** A fresh transposed tensor [in, out] (with scales [in / 32, out] for q8/q4) for the standard weight `w` [out, in]. */
export function createTransposed(gpu: Gpu, w: Tensor, label = `${w.label}.T`): Tensor {
  const { dt, a: outFeatures, b: inFeatures } = weightSizes('create_transposed', w, '[out, in]');
  const problem = layoutProblem(dt, outFeatures, inFeatures);
  if (problem) throw new ShapeError('create_transposed', `${w.label}: ${problem}`);
  const t = createTensor(gpu, label, dt, [inFeatures, outFeatures]);
  if (t.scales) t.scales = { ...t.scales, shape: [inFeatures / GROUP_SIZE, outFeatures] };
  return t;
}

function transposeDispatch(gpu: Gpu, dt: WeightDType, src: Tensor, dst: Tensor, rows: number, cols: number): Dispatch {
  return {
    kernel: linearTKernels[`transpose_${dt}`],
    bindings: { src, dst },
    params: { in_features: cols, out_features: rows, out_offset: 0, chunk: 0, splits: 0, col_tiles: 0 },
    workgroups: foldWorkgroups(Math.ceil((rows * cols) / PER_WORD[dt] / WG), gpu.caps.limits.maxComputeWorkgroupsPerDimension),
  };
}

/**
 * WT = W^T: the standard weight `w` [out, in] copied into the transposed `out` [in, out] of the same dtype
 * (see `createTransposed`), every code and scale bit for bit. One dispatch for the codes, and for q8/q4 a
 * second one for the scales (the f16 transpose of W's [out, in / 32] scale matrix).
 */
export function transposeWeight(gpu: Gpu, w: Tensor, out: Tensor): Dispatch[] {
  const op = 'transpose_weight';
  const { dt, a: outFeatures, b: inFeatures } = weightSizes(op, w, '[out, in]');
  const problem = layoutProblem(dt, outFeatures, inFeatures);
  if (problem) throw new ShapeError(op, `${w.label}: ${problem}`);
  if (out.dtype !== dt) throw new ShapeError(op, `${out.label} must be ${dt}, got ${out.dtype}`);
  if (out.shape.length !== 2 || out.shape[0] !== inFeatures || out.shape[1] !== outFeatures) {
    throw new ShapeError(op, `${out.label} must be [${inFeatures}, ${outFeatures}], got [${out.shape.join(', ')}]`);
  }
  weightSizes(op, out, '[in, out]');
  const dispatches = [transposeDispatch(gpu, dt, w, out, outFeatures, inFeatures)];
  if (w.scales && out.scales) dispatches.push(transposeDispatch(gpu, 'f16', w.scales, out.scales, outFeatures, inFeatures / GROUP_SIZE));
  return dispatches;
}

/** How the gather splits the input axis: column tiles, inputs per split, splits. */
function gatherPlan(inFeatures: number, outFeatures: number): { colTiles: number; chunk: number; splits: number } {
  const colTiles = Math.ceil(outFeatures / GATHER_OUTPUTS);
  const blocks = Math.ceil(inFeatures / GROUP_SIZE);
  const wanted = Math.ceil(GATHER_TARGET_WORKGROUPS / colTiles);
  const chunk = Math.min(MAX_CHUNK, Math.max(MIN_CHUNK, GROUP_SIZE * Math.ceil(blocks / wanted)), GROUP_SIZE * blocks);
  return { colTiles, chunk, splits: Math.ceil(inFeatures / chunk) };
}

/** The f32 values of scratch that a one-token `linearTransposed` through [inFeatures, outFeatures] needs (its split partial sums). */
export function gatherScratchElements(inFeatures: number, outFeatures: number): number {
  return gatherPlan(inFeatures, outFeatures).splits * outFeatures;
}

/** `linear`'s arguments, with W transposed and, for one row, the gather's scratch. */
export interface LinearTransposedArgs extends LinearArgs {
  /** The transposed weight [in, out] (see `createTransposed`). */
  w: Tensor;
  /** f32 with at least gatherScratchElements(in, out) values; needed for one row. */
  scratch?: Tensor;
}

/**
 * y = x W^T with W given transposed (the same product as `linear` on the standard W). One token (rows == 1)
 * runs the gather over the nonzero x[i], reading only their rows of WT, and the sum of its split partials
 * (into `scratch`); up to FEW_ROWS_MAX rows the GEMM with 16-row tiles, more rows with 64-row tiles.
 */
export function linearTransposed(gpu: Gpu, args: LinearTransposedArgs): Dispatch[] {
  const op = 'linear_transposed';
  const { x, w, out, rows } = args;
  const { dt, a: inFeatures, b: outFeatures } = weightSizes(op, w, '[in, out]');
  const problem = layoutProblem(dt, outFeatures, inFeatures);
  if (problem) throw new ShapeError(op, `${w.label}: ${problem}`);
  const outOffset = args.outOffset ?? 0;
  // One row: the stride only has to hold the columns written.
  const outStride = args.outStride ?? (rows === 1 ? outOffset + outFeatures : outFeatures);
  if (x.dtype !== 'f32' || out.dtype !== 'f32') throw new ShapeError(op, `x and out must be f32, got ${x.dtype} and ${out.dtype}`);
  if (!Number.isInteger(rows) || rows < 1) throw new ShapeError(op, `rows must be a positive integer, got ${rows}`);
  if (numel(x.shape) < rows * inFeatures) throw new ShapeError(op, `${x.label} has ${numel(x.shape)} values, ${rows} rows of ${inFeatures} need ${rows * inFeatures}`);
  if (!Number.isInteger(outOffset) || outOffset < 0 || !Number.isInteger(outStride) || outOffset + outFeatures > outStride) {
    throw new ShapeError(op, `columns [${outOffset}, ${outOffset + outFeatures}) do not fit out rows of stride ${outStride}`);
  }
  if (numel(out.shape) < (rows - 1) * outStride + outOffset + outFeatures) throw new ShapeError(op, `${out.label} is too small for ${rows} rows of stride ${outStride}`);
  const maxPerDim = gpu.caps.limits.maxComputeWorkgroupsPerDimension;
  if (rows === 1) {
    const { colTiles, chunk, splits } = gatherPlan(inFeatures, outFeatures);
    const { scratch } = args;
    const need = splits * outFeatures;
    if (!scratch || scratch.dtype !== 'f32' || numel(scratch.shape) < need) {
      throw new ShapeError(op, `one row needs an f32 scratch of ${need} values, got ${scratch ? `${scratch.dtype} [${scratch.shape.join(', ')}]` : 'none'}`);
    }
    const params = { in_features: inFeatures, out_features: outFeatures, out_offset: outOffset, chunk, splits, col_tiles: colTiles };
    return [
      { kernel: linearTKernels[`gather_${dt}`], bindings: { x, wt: w, scales: w.scales ?? w, partial: scratch }, params, workgroups: foldWorkgroups(colTiles * splits, maxPerDim) },
      { kernel: linearTKernels.gather_sum, bindings: { partial: scratch, out }, params, workgroups: foldWorkgroups(Math.ceil(outFeatures / WG), maxPerDim) },
    ];
  }
  const fewRows = rows <= FEW_ROWS_MAX;
  const kernel = fewRows ? linearTKernels[`matmul_t_few_rows_${dt}`] : linearTKernels[`matmul_t_${dt}`];
  const tilesN = Math.ceil(outFeatures / (GEMM_THREAD_TILE * kernel.constants.WG_N));
  const tilesM = Math.ceil(rows / (GEMM_THREAD_TILE * kernel.constants.WG_M));
  return [
    {
      kernel,
      bindings: { x, w, scales: w.scales ?? w, out },
      params: { rows, in_features: inFeatures, out_features: outFeatures, out_offset: outOffset, out_stride: outStride, tiles_n: tilesN },
      workgroups: foldWorkgroups(tilesN * tilesM, maxPerDim),
    },
  ];
}
