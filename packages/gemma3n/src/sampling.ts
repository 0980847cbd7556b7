import { Plan, submitPlans, type Dispatch, type Gpu, type Tensor } from '@g3n/gpu';
import { sample, SAMPLE_NONFINITE } from '@g3n/kernels';
import { NumericError } from './errors.ts';

/** How the next token is drawn on the GPU (temperature 0 = greedy argmax). */
export interface SamplingOptions {
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
}

export const GREEDY: SamplingOptions = { temperature: 0, topK: 0, topP: 1, seed: 0 };

/** Sampler dispatches reading `logits` [0, n) and writing the token id into `out` (u32 [1]). */
export function samplerDispatches(gpu: Gpu, logits: Tensor, n: number, out: Tensor, scratch: Tensor, s: SamplingOptions, step: number): Dispatch[] {
  return sample(gpu, { logits, n, out, scratch, temperature: s.temperature, topK: s.topK, topP: s.topP, seed: s.seed >>> 0, step });
}

/** The sampler's per-request and per-step uniforms, for Plan.setParams on its dispatches. */
export function samplerParams(s: SamplingOptions, step: number): Record<string, number> {
  return { temperature: s.temperature, top_k: s.topK, top_p: s.topP, seed: s.seed >>> 0, step };
}

/**
 * Reads the sampled token back: one 4-byte copy in the step's command buffer into a staging buffer
 * made once, then one map. Nothing is allocated per token.
 */
export class TokenReadback {
  private readonly staging: GPUBuffer;
  /** Bytes read back so far (a budget test reads it). */
  bytesRead = 0;

  constructor(private readonly gpu: Gpu, private readonly src: Tensor) {
    this.staging = gpu.device.createBuffer({ label: 'token.readback', size: 4, usage: 0x1 | 0x8 }); // MAP_READ | COPY_DST
  }

  /**
   * Submit `plans` in one command buffer with the token copy at its end, and return the token. The
   * sampler marks a token drawn from NaN or +inf logits (bit 31): then this throws a NumericError
   * naming `where` (e.g. 'prefill', 'decode step 3').
   */
  async submit(plans: Plan[], where = 'a sampled step'): Promise<number> {
    submitPlans(this.gpu, plans, { copies: [{ src: this.src.buffer, srcOffset: this.src.offset, dst: this.staging, dstOffset: 0, size: 4 }] });
    await this.staging.mapAsync(0x1);
    const word = new Uint32Array(this.staging.getMappedRange())[0];
    this.staging.unmap();
    this.bytesRead += 4;
    if ((word & SAMPLE_NONFINITE) !== 0) throw NumericError.inLogits(where);
    return word;
  }

  destroy(): void {
    this.staging.destroy();
  }
}
