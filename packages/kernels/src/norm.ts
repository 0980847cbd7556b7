import { defineKernel, foldWorkgroups, numel, ShapeError, type Dispatch, type Gpu, type Kernel, type Tensor } from '@g3n/gpu';
import source from '../../../shaders/rms_norm.wgsl?raw';
import { guardCount, guardF32, guardHolds, guardSeparate, isInPlace } from './guards.ts';
import { WGSL_INCLUDES } from './wgsl-includes.ts';

/** The guards moved to guards.ts; kernel modules written against norm.ts keep importing them from here. */
export { guardCount, guardF32, guardHolds, guardSeparate, isInPlace } from './guards.ts';

/** Workgroup sizes: a row is reduced by WG invocations, so short rows (head_dim, the PLE width) use fewer. */
const SIZES = [32, 64, 256] as const;
type Size = (typeof SIZES)[number];
const ENTRIES = { rmsNorm: 'rms_norm', rmsNormNoWeight: 'rms_norm_noweight', rmsNormInplace: 'rms_norm_inplace', rmsNormInplaceNoWeight: 'rms_norm_inplace_noweight' } as const;
type Entry = keyof typeof ENTRIES;

const bySize = Object.fromEntries(
  SIZES.map((WG) => [WG, Object.fromEntries(Object.entries(ENTRIES).map(([k, entry]) => [k, defineKernel('rms_norm', source, entry, { WG }, WGSL_INCLUDES)]))]),
) as Record<Size, Record<Entry, Kernel>>;

/** One invocation per row (narrow rows, many of them): 64 rows per workgroup. */
const ROWS_WG = 64;
const ROW_ENTRIES = { rmsNorm: 'rms_norm_rows', rmsNormNoWeight: 'rms_norm_rows_noweight', rmsNormInplace: 'rms_norm_rows_inplace', rmsNormInplaceNoWeight: 'rms_norm_rows_inplace_noweight' } as const;
const perRow = Object.fromEntries(Object.entries(ROW_ENTRIES).map(([k, entry]) => [k, defineKernel('rms_norm', source, entry, { WG: ROWS_WG }, WGSL_INCLUDES)])) as Record<Entry, Kernel>;
/**
 * Rows up to this width, when there are at least PER_ROW_MIN_ROWS of them, run one invocation per row;
 * on a software adapter (invocations are SIMD lanes of CPU threads, barriers are costly) rows of any
 * width do. Measured on the software adapter at the vision tower's shapes, workgroup per row against
 * invocation per row: 16384 x 8 2.0 s vs 24 ms, 65536 x 64 10.4 s vs 0.8 s, 16384 x 256 4.5 s vs 0.67 s,
 * 1024 x 2048 4.4 s vs 0.16 s. A few rows (decode) keep a workgroup per row, which spreads one row
 * over many invocations.
 */
export const PER_ROW_MAX_COLS = 64;
export const PER_ROW_MIN_ROWS = 256;

/** Every rms_norm variant (entry point x workgroup size, and the one-invocation-per-row entries). */
export const normKernels: Record<string, Kernel> = {
  ...Object.fromEntries(SIZES.flatMap((wg) => Object.entries(bySize[wg]).map(([k, v]) => [`${k}${wg}`, v]))),
  ...Object.fromEntries(Object.entries(perRow).map(([k, v]) => [`${k}Rows`, v])),
};

function sizeFor(cols: number): Size {
  return cols <= 128 ? 32 : cols <= 512 ? 64 : 256;
}

export interface RmsNormArgs {
  /** [rows, cols] f32 input (at least rows * cols elements). */
  x: Tensor;
  /** [rows, cols] f32 output: `x` itself (same buffer and offset) for an in-place norm, else in another buffer. */
  out: Tensor;
  /** [cols] f32 weight, used as-is (no 1 + w); null or absent for a scale-free norm. */
  weight?: Tensor | null;
  rows: number;
  cols: number;
  eps: number;
  /** Extra factor on the output (1/hidden for the AltUp router norm); default 1. */
  scale?: number;
}

/**
 * RMSNorm of each row: out[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * (weight ?? 1) * (scale ?? 1).
 * One workgroup per row, or one invocation per row for many narrow rows (cols <= PER_ROW_MAX_COLS,
 * rows >= PER_ROW_MIN_ROWS; any width on a software adapter); rows and cols are uniforms, so one
 * pipeline serves every shape.
 */
export function rmsNorm(gpu: Gpu, args: RmsNormArgs): Dispatch {
  const { x, out, rows, cols, eps } = args;
  const weight = args.weight ?? null;
  const scale = args.scale ?? 1;
  guardF32('rms_norm', x, out, ...(weight ? [weight] : []));
  guardCount('rms_norm', 'rows', rows);
  guardCount('rms_norm', 'cols', cols);
  if (rows * cols > 0xffffffff) throw new ShapeError('rms_norm', `rows * cols = ${rows * cols} exceeds u32 indexing`);
  guardHolds('rms_norm', x, rows * cols);
  guardHolds('rms_norm', out, rows * cols);
  if (weight && numel(weight.shape) !== cols) throw new ShapeError('rms_norm', `${weight.label} has ${numel(weight.shape)} elements, cols is ${cols}`);
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new ShapeError('rms_norm', `eps = ${eps} must be finite and >= 0`);
  if (!Number.isFinite(scale)) throw new ShapeError('rms_norm', `scale = ${scale} must be finite`);
  const inPlace = isInPlace('rms_norm', x, out);
  if (weight) guardSeparate('rms_norm', out, weight);

  const rowWise = rows >= PER_ROW_MIN_ROWS && (cols <= PER_ROW_MAX_COLS || gpu.caps.isSoftware);
  const variants = rowWise ? perRow : bySize[sizeFor(cols)];
  const kernel = inPlace
    ? weight
      ? variants.rmsNormInplace
      : variants.rmsNormInplaceNoWeight
    : weight
      ? variants.rmsNorm
      : variants.rmsNormNoWeight;

  const bindings: Dispatch['bindings'] = inPlace ? { io: x } : { x, out };
  if (weight) bindings.weight = weight;

  return {
    kernel,
    bindings,
    params: { rows, cols, eps, scale },
    workgroups: foldWorkgroups(rowWise ? Math.ceil(rows / ROWS_WG) : rows, gpu.caps.limits.maxComputeWorkgroupsPerDimension),
  };
}
