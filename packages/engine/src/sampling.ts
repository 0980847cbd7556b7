/**
 * Sampling settings of a request. Tokens are drawn on the GPU by the decoder
 * (Gemma3nTextModel.prefillSample / decodeSample, the `sample` kernel of @g3n/kernels): greedy is
 * the argmax (lowest id on ties); otherwise the top_k most likely tokens (at most SAMPLE_MAX_K),
 * softmax at the temperature, the shortest most-likely-first prefix whose mass reaches top_p, and
 * the counter-based draw samplerUniform(seed, step), so a seed gives the same tokens on every device.
 */
import type { SamplingOptions } from '@g3n/gemma3n';
import type { SamplingDefaults } from './types.ts';

const GREEDY_DEFAULTS: SamplingDefaults = { temperature: 0, top_k: 0, top_p: 1 };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Defaults for fields a request leaves out: the checkpoint's generation_config.json (with HF's
 * defaults, temperature 1, top_k 50, top_p 1, for fields it lacks; greedy when do_sample is false),
 * or greedy when the checkpoint has none.
 */
export function samplingDefaults(generationConfig: unknown): SamplingDefaults {
  if (!isRecord(generationConfig) || generationConfig.do_sample === false) return GREEDY_DEFAULTS;
  const num = (v: unknown, d: number) => (typeof v === 'number' && Number.isFinite(v) ? v : d);
  return { temperature: num(generationConfig.temperature, 1), top_k: num(generationConfig.top_k, 50), top_p: num(generationConfig.top_p, 1) };
}

/** A random u32 seed, for requests that give none. */
export function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

export function samplingOptions(temperature: number, topK: number, topP: number, seed: number | undefined): SamplingOptions {
  return { temperature, topK, topP, seed: seed === undefined ? randomSeed() : seed >>> 0 };
}
