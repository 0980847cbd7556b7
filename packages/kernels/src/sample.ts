import { createTensor, defineKernel, foldWorkgroups, numel, ShapeError, type BufferRange, type Dispatch, type Gpu, type Tensor } from '@g3n/gpu';
import source from '../../../shaders/sample.wgsl?raw';
import { SAMPLE_MAX_K } from './ref/sample.ts';

export { pcgHash, SAMPLE_MAX_K, samplerUniform } from './ref/sample.ts';

const WG = 64;
const BINS = 256;
const PASSES = 7;
/** Elements each thread of the grid-strided passes reads, and the most workgroups they use. */
const ITEMS = 32;
const MAX_BLOCKS = 256;
/** Scratch layout in u32 words, each part 256-byte aligned: radix histograms and the candidate counter, pass states, candidates, argmax partials. */
const HIST_WORDS = PASSES * BINS + 64;
const STATE_WORDS = 64;
const CAND_WORDS = 2 * SAMPLE_MAX_K;
const PART_WORDS = 2 * MAX_BLOCKS;
export const SAMPLE_SCRATCH_WORDS = HIST_WORDS + STATE_WORDS + CAND_WORDS + PART_WORDS;
/**
 * Set in the token word (bit 31) when a logit in [0, n) is NaN or +inf: token ids are below 2^24, so the
 * 4-byte token read-back also says whether the logits it was drawn from were finite.
 */
export const SAMPLE_NONFINITE = 0x80000000;

export const sampleKernels = {
  argmaxBlocks: defineKernel('sample', source, 'argmax_blocks', { WG }),
  argmaxFinal: defineKernel('sample', source, 'argmax_final', { WG }),
  hist: defineKernel('sample', source, 'sample_hist', { WG, MAX_K: SAMPLE_MAX_K }),
  collect: defineKernel('sample', source, 'sample_collect', { WG, MAX_K: SAMPLE_MAX_K }),
  final: defineKernel('sample', source, 'sample_final', { WG, MAX_K: SAMPLE_MAX_K }),
};

export interface ArgmaxArgs {
  logits: Tensor;
  /** Consider logits[0, n) (e.g. 262144 of the 262400 rows of Gemma 3n's LM head). */
  n: number;
  /** u32 [1]: the token id, | SAMPLE_NONFINITE when a logit in [0, n) is NaN or +inf. */
  out: Tensor;
  /** u32 scratch of SAMPLE_SCRATCH_WORDS words; allocated when omitted. */
  scratch?: Tensor;
}

export interface SampleArgs extends ArgmaxArgs {
  /** 0 = greedy (argmax). */
  temperature: number;
  /** Keep the topK most likely tokens (0 = all); clamped to SAMPLE_MAX_K. */
  topK: number;
  /** Then the shortest most-likely-first prefix of them with mass >= topP (>= 1: all). */
  topP: number;
  seed: number;
  /** The decode step: with the seed it selects the uniform draw (samplerUniform(seed, step)). */
  step: number;
}

function isU32(x: number): boolean {
  return Number.isInteger(x) && x >= 0 && x <= 0xffffffff;
}

function guardCommon(name: string, a: ArgmaxArgs): void {
  if (a.logits.dtype !== 'f32') throw new ShapeError(name, `${a.logits.label} must be f32, got ${a.logits.dtype}`);
  if (a.out.dtype !== 'u32' && a.out.dtype !== 'i32') throw new ShapeError(name, `${a.out.label} must be u32, got ${a.out.dtype}`);
  if (numel(a.out.shape) < 1) throw new ShapeError(name, `${a.out.label} is empty`);
  if (!Number.isInteger(a.n) || a.n < 1 || a.n >= 1 << 24) throw new ShapeError(name, `n must be an integer in [1, 2^24), got ${a.n}`);
  if (a.n > numel(a.logits.shape)) throw new ShapeError(name, `n = ${a.n} exceeds the ${numel(a.logits.shape)} logits`);
  if (a.scratch && (a.scratch.dtype !== 'u32' || numel(a.scratch.shape) < SAMPLE_SCRATCH_WORDS)) {
    throw new ShapeError(name, `${a.scratch.label} must be u32 with at least ${SAMPLE_SCRATCH_WORDS} words`);
  }
}

function range(t: Tensor, word0: number, words: number): BufferRange {
  return { buffer: t.buffer, offset: t.offset + 4 * word0, byteLength: 4 * words };
}

function blocks(n: number): number {
  return Math.min(Math.ceil(n / (WG * ITEMS)), MAX_BLOCKS);
}

function scratchOf(gpu: Gpu, a: ArgmaxArgs): Tensor {
  return a.scratch ?? createTensor(gpu, 'sample.scratch', 'u32', [SAMPLE_SCRATCH_WORDS]);
}

function argmaxDispatches(gpu: Gpu, a: ArgmaxArgs, params: Record<string, number>): Dispatch[] {
  const nb = blocks(a.n);
  const part = range(scratchOf(gpu, a), HIST_WORDS + STATE_WORDS + CAND_WORDS, PART_WORDS);
  const p = { ...params, blocks: nb };
  return [
    { kernel: sampleKernels.argmaxBlocks, bindings: { logits: a.logits, part }, params: p, workgroups: foldWorkgroups(nb, gpu.caps.limits.maxComputeWorkgroupsPerDimension) },
    { kernel: sampleKernels.argmaxFinal, bindings: { part, out: a.out }, params: p, workgroups: [1, 1, 1] },
  ];
}

const GREEDY = { top_k: 0, seed: 0, step: 0, temperature: 0, top_p: 1, radix_pass: 0 };

/** out[0] = index of the largest of logits[0, n), the lowest index on ties (two dispatches); | SAMPLE_NONFINITE on a NaN or +inf logit. */
export function argmax(gpu: Gpu, args: ArgmaxArgs): Dispatch[] {
  guardCommon('argmax', args);
  return argmaxDispatches(gpu, args, { ...GREEDY, n: args.n });
}

/**
 * Draw a token from softmax(logits / temperature) restricted by top-k and top-p (see shaders/sample.wgsl
 * for the exact rule; ref/sample.ts is the CPU mirror). temperature 0 returns the argmax dispatches;
 * otherwise 7 radix-select passes, a collect pass and a final pass. seed, step, temperature, topK and topP are uniforms:
 * a recorded plan is replayed for the next token after setParams({ step }) on each of its dispatches.
 */
export function sample(gpu: Gpu, args: SampleArgs): Dispatch[] {
  const name = 'sample';
  guardCommon(name, args);
  if (!Number.isFinite(args.temperature) || args.temperature < 0) throw new ShapeError(name, `temperature must be >= 0, got ${args.temperature}`);
  if (!isU32(args.topK)) throw new ShapeError(name, `topK must be a non-negative integer, got ${args.topK}`);
  if (!Number.isFinite(args.topP) || args.topP < 0) throw new ShapeError(name, `topP must be >= 0, got ${args.topP}`);
  if (!isU32(args.seed) || !isU32(args.step)) throw new ShapeError(name, `seed and step must be u32, got ${args.seed}, ${args.step}`);
  const params = { n: args.n, top_k: args.topK, seed: args.seed, step: args.step, temperature: args.temperature, top_p: args.topP, radix_pass: 0, blocks: 0 };
  if (args.temperature === 0) return argmaxDispatches(gpu, args, params);
  const scratch = scratchOf(gpu, args);
  const hist = range(scratch, 0, HIST_WORDS);
  const state = range(scratch, HIST_WORDS, STATE_WORDS);
  const cand = range(scratch, HIST_WORDS + STATE_WORDS, CAND_WORDS);
  const grid = foldWorkgroups(blocks(args.n), gpu.caps.limits.maxComputeWorkgroupsPerDimension);
  const { logits, out } = args;
  const dispatches: Dispatch[] = [];
  for (let pass = 0; pass < PASSES; pass++) {
    dispatches.push({ kernel: sampleKernels.hist, bindings: { logits, hist, state }, params: { ...params, radix_pass: pass }, workgroups: grid });
  }
  dispatches.push({ kernel: sampleKernels.collect, bindings: { logits, hist, state, cand }, params, workgroups: grid });
  dispatches.push({ kernel: sampleKernels.final, bindings: { out, hist, cand }, params, workgroups: [1, 1, 1] });
  return dispatches;
}
