/**
 * The generation loop of one request: reuse the cached prefix, prefill the rest of the prompt, then
 * decode token by token with the tokens drawn on the GPU (one submit and a 4-byte readback each),
 * streaming text through the detokenizer and the stop strings.
 */
import type { Gemma3nTextModel, SamplingOptions } from '@g3n/gemma3n';
import { StreamingDetokenizer, type Tokenizer } from '@g3n/preprocess';
import { StopMatcher } from './stops.ts';
import type { CompletionUsage, FinishReason } from './types.ts';

export interface GenerationJob {
  promptIds: readonly number[];
  /** At least 1; prompt + maxTokens - 1 fits the context (checked before the job runs). */
  maxTokens: number;
  sampling: SamplingOptions;
  stop: readonly string[];
  eosIds: ReadonlySet<number>;
  signal: AbortSignal;
}

export interface Delta {
  content: string;
  tokenIds: number[];
}

export interface GenerationResult {
  content: string;
  tokenIds: number[];
  finishReason: FinishReason;
  usage: CompletionUsage;
}

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/**
 * A decoder and the token ids whose keys and values its cache holds. A sliding-window layer keeps
 * a ring of `capacity` slots (slot = position % capacity), so rewinding from `cached` tokens to
 * `keep` is only sound while the window before `keep` has not been overwritten: a ring smaller
 * than the cached length allows rewinding by at most capacity - window + 1 tokens.
 */
export class DecoderSession {
  private cached: number[] = [];

  constructor(
    readonly model: Gemma3nTextModel,
    readonly tokenizer: Tokenizer,
  ) {}

  /** How many of the cached tokens can stay when the prompt is `prompt`. */
  reusable(prompt: readonly number[]): number {
    // The last prompt token is always run: its logits start the answer.
    const keep = Math.min(commonPrefix(this.cached, prompt), prompt.length - 1);
    const { cfg, ctx } = this.model;
    const rewind = this.cached.length - keep;
    for (let l = 0; l < cfg.numLayers; l++) {
      const cache = ctx.caches[l];
      if (!cache || cfg.layerTypes[l] !== 'sliding' || cache.capacity >= this.cached.length) continue;
      if (rewind > cache.capacity - cfg.slidingWindow + 1) return 0;
    }
    return keep;
  }

  /** Prefill what the cache lacks of `prompt` and draw the first token; returns it and the tokens prefilled. */
  async start(prompt: readonly number[], sampling: SamplingOptions): Promise<{ token: number; prefilled: number }> {
    const keep = this.reusable(prompt);
    this.cached = [];
    this.model.reset(keep);
    const token = await this.model.prefillSample(prompt.slice(keep), sampling, 0);
    this.cached = prompt.slice();
    return { token, prefilled: prompt.length - keep };
  }

  /** Feed `fed` (the token drawn last, already on the GPU) and draw the token of generation step `step`. */
  async next(fed: number, sampling: SamplingOptions, step: number): Promise<number> {
    const cached = this.cached;
    this.cached = [];
    const token = await this.model.decodeSample(sampling, step);
    cached.push(fed);
    this.cached = cached;
    return token;
  }

  /** Forget the cache (after an error left it in an unknown state). */
  forget(): void {
    this.cached = [];
    this.model.reset(0);
  }
}

const now = () => performance.now();

/** Run one request to its end, calling `emit` for every sampled token (content may be '' while text is held back). */
export async function generate(session: DecoderSession, job: GenerationJob, emit: (delta: Delta) => void): Promise<GenerationResult> {
  const detok = new StreamingDetokenizer(session.tokenizer, { skipSpecial: true });
  const stops = new StopMatcher(job.stop);
  const t0 = now();
  if (job.signal.aborted) return { content: '', tokenIds: [], finishReason: 'abort', usage: usage(job, 0, 0, 0, 0, 0) };
  const { token: first, prefilled } = await session.start(job.promptIds, job.sampling);
  const firstTokenAt = now();
  let id = first;
  let content = '';
  const tokenIds: number[] = [];
  let finishReason: FinishReason = 'length';
  for (;;) {
    if (job.signal.aborted) {
      finishReason = 'abort';
      break;
    }
    tokenIds.push(id);
    if (job.eosIds.has(id)) {
      finishReason = 'stop';
      emit({ content: '', tokenIds: [id] });
      break;
    }
    const { text, stopped } = stops.push(detok.push(id));
    content += text;
    emit({ content: text, tokenIds: [id] });
    if (stopped) {
      finishReason = 'stop';
      break;
    }
    if (tokenIds.length === job.maxTokens) break;
    id = await session.next(id, job.sampling, tokenIds.length);
  }
  const tEnd = now();
  if (finishReason !== 'stop') {
    const rest = stops.push(detok.flush());
    const tail = rest.text + (rest.stopped ? '' : stops.flush());
    if (rest.stopped) finishReason = 'stop';
    if (tail) {
      content += tail;
      emit({ content: tail, tokenIds: [] });
    }
  }
  const prefillMs = firstTokenAt - t0;
  const ttft = tokenIds.length ? prefillMs : 0;
  return { content, tokenIds, finishReason, usage: usage(job, tokenIds.length, prefilled, prefillMs, ttft, tEnd - firstTokenAt) };
}

function usage(job: GenerationJob, completion: number, prefilled: number, prefillMs: number, ttftMs: number, decodeMs: number): CompletionUsage {
  const decodeSteps = Math.max(completion - 1, 0);
  return {
    prompt_tokens: job.promptIds.length,
    completion_tokens: completion,
    total_tokens: job.promptIds.length + completion,
    time_to_first_token_ms: ttftMs,
    prefill_tokens_per_s: prefillMs > 0 ? prefilled / (prefillMs / 1000) : 0,
    decode_tokens_per_s: decodeSteps > 0 && decodeMs > 0 ? decodeSteps / (decodeMs / 1000) : 0,
    prefilled_tokens: prefilled,
  };
}
