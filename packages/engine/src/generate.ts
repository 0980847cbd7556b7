/**
 * The generation loop of one request: reuse the cached prefix, prefill the rest of the prompt, then
 * decode token by token with the tokens drawn on the GPU (one submit and a 4-byte readback each),
 * streaming text through the detokenizer and the stop strings.
 */
import type { Gemma3nTextModel, SamplingOptions, SoftTokens } from '@g3n/gemma3n';
import type { Media } from './media.ts';
import { G3nError } from '@g3n/gpu';
import { StreamingDetokenizer, type Tokenizer } from '@g3n/preprocess';
import { StopMatcher } from './stops.ts';
import type { CompletionUsage, FinishReason } from './types.ts';

export interface GenerationJob {
  promptIds: readonly number[];
  /** Images and audio clips whose soft tokens fill the prompt's placeholder runs, in prompt order. */
  media: readonly Media[];
  /** What the request's inputs became that the caller should know (audio split into clips). */
  notes: readonly string[];
  /** Prompt positions that hold image and audio soft tokens. */
  mediaTokens: { image: number; audio: number };
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

function commonPrefix(a: readonly string[], b: readonly string[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/** Turns images and audio clips into soft tokens (the engine's towers, loaded on first use). */
export interface MediaEncoder {
  /** The placeholder id each kind's soft tokens replace, and how many per item. */
  placeholder(kind: Media['kind']): { tokenId: number; count: number };
  /** Soft tokens of one item: f32 rows on the GPU, owned by the caller. */
  encode(media: Media): Promise<SoftTokens>;
}

/** A run of placeholder positions and the media item whose soft tokens fill it. */
interface MediaRun {
  media: Media;
  start: number;
  count: number;
}

/**
 * Where each media item's placeholders are: the i-th item of a kind takes the next run of that kind's
 * placeholder id. A prompt whose runs do not match the items is refused before any GPU work.
 */
function mediaRuns(prompt: readonly number[], media: readonly Media[], encoder: MediaEncoder | null): MediaRun[] {
  if (media.length === 0) return [];
  if (!encoder) throw new G3nError('BAD_INPUT', 'this model has no towers to encode images or audio');
  const runs: MediaRun[] = [];
  const next = new Map<number, number>();
  for (const m of media) {
    const { tokenId, count } = encoder.placeholder(m.kind);
    let p = next.get(tokenId) ?? 0;
    while (p < prompt.length && prompt[p] !== tokenId) p++;
    let n = 0;
    while (p + n < prompt.length && prompt[p + n] === tokenId && n < count) n++;
    if (n !== count) throw new G3nError('BAD_INPUT', `the prompt has no run of ${count} placeholders (id ${tokenId}) for ${m.kind} #${runs.length}`, { tokenId, count });
    runs.push({ media: m, start: p, count });
    next.set(tokenId, p + count);
  }
  return runs;
}

/** Per position, what the cache holds there: the token id, or for soft tokens their item's key and row. */
function identities(prompt: readonly number[], runs: readonly MediaRun[]): string[] {
  const out = prompt.map(String);
  for (const r of runs) for (let i = 0; i < r.count; i++) out[r.start + i] = `${r.media.key}#${i}`;
  return out;
}

/**
 * A decoder and what its KV cache holds, position by position (token ids, and for image and audio
 * soft tokens the content key of their item, so a different picture never reuses another's keys and
 * values). A sliding-window layer keeps a ring of `capacity` slots (slot = position % capacity), so
 * rewinding from `cached` tokens to `keep` is only sound while the window before `keep` has not been
 * overwritten: a ring smaller than the cached length allows rewinding by at most capacity - window + 1
 * tokens.
 */
export class DecoderSession {
  private cached: string[] = [];

  constructor(
    readonly model: Gemma3nTextModel,
    readonly tokenizer: Tokenizer,
    readonly encoder: MediaEncoder | null = null,
  ) {}

  /** How many of the cached positions can stay when the prompt's positions are `prompt` (identities). */
  reusable(prompt: readonly string[]): number {
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

  /**
   * Prefill what the cache lacks of `prompt` (encoding only the images and clips not already in the
   * cache) and draw the first token; returns it, the tokens prefilled and the items encoded.
   */
  async start(prompt: readonly number[], sampling: SamplingOptions, media: readonly Media[] = []): Promise<{ token: number; prefilled: number; encoded: number }> {
    const runs = mediaRuns(prompt, media, this.encoder);
    const ident = identities(prompt, runs);
    let keep = this.reusable(ident);
    // never keep part of a run: its item is encoded whole
    for (const r of runs) if (keep > r.start && keep < r.start + r.count) keep = r.start;
    const fresh = runs.filter((r) => r.start >= keep);
    const soft: SoftTokens[] = [];
    try {
      for (const r of fresh) soft.push(await this.encoder!.encode(r.media));
      this.cached = [];
      this.model.reset(keep);
      const token = await this.model.prefillSample(prompt.slice(keep), sampling, 0, { softTokens: soft });
      this.cached = ident;
      return { token, prefilled: prompt.length - keep, encoded: fresh.length };
    } finally {
      for (const s of soft) if (!(s.embeds instanceof Float32Array)) s.embeds.buffer.destroy();
    }
  }

  /** Feed `fed` (the token drawn last, already on the GPU) and draw the token of generation step `step`. */
  async next(fed: number, sampling: SamplingOptions, step: number): Promise<number> {
    const cached = this.cached;
    this.cached = [];
    const token = await this.model.decodeSample(sampling, step);
    cached.push(String(fed));
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
  const { token: first, prefilled } = await session.start(job.promptIds, job.sampling, job.media);
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
    prompt_tokens_details: {
      cached_tokens: job.promptIds.length - prefilled,
      image_tokens: job.mediaTokens.image,
      audio_tokens: job.mediaTokens.audio,
    },
  };
}
