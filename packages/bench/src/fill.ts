/**
 * Random fill on the device: the weights of synthetic benchmark models and kernel cases are written
 * by a hash kernel (shaders/fill.wgsl), so that a full-size model needs neither a download nor a
 * copy in host memory.
 */
import { defineKernel, foldWorkgroups, ShapeError, type BufferRange, type Dispatch, type Gpu, type Tensor } from '@g3n/gpu';
import source from '../../../shaders/fill.wgsl?raw';

/** What a word holds: f32, two bf16, two f16, raw bits (q8/q4 codes), or two positive f16 group scales. */
export const FILL_MODES = { f32: 0, bf16: 1, f16: 2, bits: 3, scales: 4 } as const;
export type FillMode = keyof typeof FILL_MODES;

const WG = 256;
export const fillKernels = { random: defineKernel('fill', source, 'fill_random', { WG }) };

export interface FillArgs {
  /** The words to write (a Tensor qualifies). */
  out: BufferRange;
  words: number;
  mode: FillMode;
  seed: number;
  /** Values lie in [-amp, amp) (scales: [amp / 2, amp)). */
  amp: number;
}

export function fillRandom(gpu: Gpu, args: FillArgs): Dispatch {
  const { out, words, mode, seed, amp } = args;
  if (!Number.isInteger(words) || words < 1) throw new ShapeError('fill', `words must be a positive integer, got ${words}`);
  const bytes = out.byteLength ?? out.buffer.size - (out.offset ?? 0);
  if (4 * words > bytes) throw new ShapeError('fill', `${words} words overrun a binding of ${bytes} bytes`);
  if (!(mode in FILL_MODES)) throw new ShapeError('fill', `unknown mode '${mode}'`);
  if (!Number.isFinite(amp) || ((mode === 'f16' || mode === 'scales') && Math.abs(amp) > 65504)) throw new ShapeError('fill', `amp ${amp} is out of range for ${mode}`);
  return {
    kernel: fillKernels.random,
    bindings: { out },
    params: { words, mode: FILL_MODES[mode], seed: seed >>> 0, amp },
    workgroups: foldWorkgroups(Math.ceil(words / WG), gpu.caps.limits.maxComputeWorkgroupsPerDimension),
  };
}

/** Largest |q| of the quantized codes: values are q * scale. */
const QMAX = { q8: 128, q4: 8 } as const;

/**
 * Fill a weight tensor so that its values lie in [-amp, amp): floats directly, q8/q4 as random codes
 * with group scales in [amp / 2qmax, amp / qmax). Returns one dispatch, two for quantized tensors.
 */
export function fillWeight(gpu: Gpu, t: Tensor, seed: number, amp: number): Dispatch[] {
  const words = t.byteLength / 4;
  switch (t.dtype) {
    case 'f32':
    case 'bf16':
    case 'f16':
      return [fillRandom(gpu, { out: t, words, mode: t.dtype, seed, amp })];
    case 'q8':
    case 'q4': {
      if (!t.scales) throw new ShapeError('fill', `${t.label}: ${t.dtype} without scales`);
      const scaleWords = t.scales.byteLength / 4;
      return [
        fillRandom(gpu, { out: t, words, mode: 'bits', seed, amp }),
        fillRandom(gpu, { out: t.scales, words: scaleWords, mode: 'scales', seed: seed ^ 0x5bd1e995, amp: amp / QMAX[t.dtype] }),
      ];
    }
    default:
      throw new ShapeError('fill', `${t.label}: cannot fill ${t.dtype} weights`);
  }
}

/** Uniform amplitude with the standard deviation 1 / sqrt(fanIn) of a well-scaled linear layer. */
export function weightAmplitude(fanIn: number): number {
  return Math.sqrt(3 / fanIn);
}

/** A 32-bit seed from a name (FNV-1a) and a salt, so every tensor of a model gets its own stream. */
export function seedOf(name: string, salt = 0): number {
  let h = 0x811c9dc5 ^ salt;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
