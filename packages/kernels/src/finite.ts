import { defineKernel, foldWorkgroups, ShapeError, type Dispatch, type Gpu, type Tensor } from '@g3n/gpu';
import source from '../../../shaders/finite.wgsl?raw';

const WG = 256;
/** Words each thread reads at least before the grid stops growing, and the most workgroups one check uses. */
const ITEMS = 16;
const MAX_BLOCKS = 4096;

export const finiteKernels = {
  check: defineKernel('finite', source, 'check_finite', { WG }),
};

/** The flag word's value when no checked tensor holds a non-finite value. */
export const FINITE_NONE = 0xffffffff;

const KIND = { f32: 0, f16: 1, bf16: 2 } as const;

export interface CheckFiniteArgs {
  /** f32, f16 or bf16 values (for q8/q4 tensors check their `scales`, the only floats they hold). */
  x: Tensor;
  /** u32 [>= 1], set to FINITE_NONE before the checks; ends as the lowest tag of a tensor with NaN or +-inf. */
  flag: Tensor;
  /** Integer in [0, 0xffffffff): the tensor's index in the caller's list. */
  tag: number;
}

/**
 * flag[0] = min(flag[0], tag) when any value of x is NaN or +-inf, tested by its exponent bits on the
 * GPU; one dispatch, nothing read back (many tensors share one flag word, read once at the end).
 */
export function checkFinite(gpu: Gpu, args: CheckFiniteArgs): Dispatch {
  const { x, flag, tag } = args;
  const name = 'check_finite';
  if (x.dtype !== 'f32' && x.dtype !== 'f16' && x.dtype !== 'bf16') throw new ShapeError(name, `${x.label} is ${x.dtype}; only f32, f16 and bf16 values are checked (a quantized tensor's scales are f16)`);
  if (flag.dtype !== 'u32' || flag.byteLength < 4) throw new ShapeError(name, `${flag.label} must be u32 with at least one word`);
  if (flag.buffer === x.buffer) throw new ShapeError(name, `${x.label} and ${flag.label} share a GPU buffer`);
  if (!Number.isInteger(tag) || tag < 0 || tag >= FINITE_NONE) throw new ShapeError(name, `tag = ${tag} must be an integer in [0, 2^32 - 1)`);
  const words = Math.floor(x.byteLength / 4);
  if (words < 1) throw new ShapeError(name, `${x.label} is empty`);
  const blocks = Math.min(Math.ceil(words / (WG * ITEMS)), MAX_BLOCKS);
  return {
    kernel: finiteKernels.check,
    bindings: { x, flag },
    params: { words, kind: KIND[x.dtype], tag, _pad: 0 },
    workgroups: foldWorkgroups(blocks, gpu.caps.limits.maxComputeWorkgroupsPerDimension),
  };
}
