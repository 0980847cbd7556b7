/**
 * A chat-completion request checked and turned into a generation job, before it is queued and
 * before any GPU work: field ranges, images and audio decoded into media, prompt tokens, and the
 * context budget.
 */
import { ContextOverflowError } from '@g3n/gemma3n';
import { encodeChat, type ChatMessage as PromptMessage } from '@g3n/preprocess';
import { BadRequestError, UnsupportedInputError } from './errors.ts';
import type { GenerationJob } from './generate.ts';
import type { LoadedModel } from './load.ts';
import { audioMedia, imageMedia, type Media } from './media.ts';
import { samplingOptions } from './sampling.ts';
import type { ChatCompletionRequest, ChatMessage } from './types.ts';
import { checkMessages } from './validate.ts';

function optionalNumber(field: string, v: unknown, ok: (x: number) => boolean, what: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw new BadRequestError(field, `must be ${what}, got ${JSON.stringify(v)}`);
  return v;
}

function stopStrings(stop: unknown): string[] {
  if (stop === undefined || stop === null) return [];
  const list = Array.isArray(stop) ? stop : [stop];
  if (!list.every((s) => typeof s === 'string')) throw new BadRequestError('stop', 'must be a string or a list of strings');
  return list as string[];
}

/** What the engine can encode besides text: the loaded model's towers and their soft-token counts. */
export interface MediaSupport {
  /** Soft tokens per image, or null without a vision tower. */
  imageTokens: number | null;
  /** Soft tokens per audio clip, or null without an audio tower. */
  audioTokens: number | null;
  /** Longest clip (16 kHz samples) whose frames fit audioTokens: 30 s for Gemma 3n. */
  maxClipSamples?: number;
}

interface PromptInput {
  messages: PromptMessage[];
  /** Images and audio clips in the order their placeholders appear in the prompt. */
  media: Media[];
  /** Set when a long audio part was split into several clips (the user is told). */
  notes: string[];
}

/** Messages for the chat format, with each image and audio part decoded into media in prompt order. */
async function promptInput(messages: unknown, support: MediaSupport): Promise<PromptInput> {
  if (!Array.isArray(messages)) throw new BadRequestError('messages', 'must be a list of { role, content } messages');
  const media: Media[] = [];
  const notes: string[] = [];
  const out: PromptMessage[] = [];
  for (const [i, m] of (messages as ChatMessage[]).entries()) {
    if (typeof m?.content === 'string') {
      out.push({ role: m.role, content: m.content });
      continue;
    }
    if (!Array.isArray(m?.content)) throw new BadRequestError(`messages[${i}].content`, 'must be a string or a list of parts');
    const parts: PromptMessage['content'] = [];
    for (const [j, part] of m.content.entries()) {
      const field = `messages[${i}].content[${j}]`;
      switch (part?.type) {
        case 'text':
          parts.push({ type: 'text', text: part.text });
          break;
        case 'image':
        case 'image_url':
          if (support.imageTokens === null) throw new UnsupportedInputError('image', i);
          media.push(await imageMedia(part as unknown as Record<string, unknown>, field));
          parts.push({ type: 'image' });
          break;
        case 'audio':
        case 'input_audio': {
          if (support.audioTokens === null) throw new UnsupportedInputError('audio', i);
          const { clips, split } = await audioMedia(part as unknown as Record<string, unknown>, field, support.maxClipSamples);
          for (const clip of clips) {
            media.push(clip);
            parts.push({ type: 'audio' });
          }
          if (split) notes.push(`${field}: ${split}`);
          break;
        }
        default:
          throw new BadRequestError(`${field}.type`, `unknown part type ${JSON.stringify((part as { type?: unknown })?.type)}`);
      }
    }
    out.push({ role: m.role, content: parts });
  }
  return { messages: out, media, notes };
}

async function promptIds(request: ChatCompletionRequest, loaded: LoadedModel): Promise<{ ids: number[]; media: Media[]; notes: string[] }> {
  const support = loaded.media;
  const input = await promptInput(request.messages, support);
  const ids = request.prompt_token_ids;
  if (ids === undefined) {
    const encoded = encodeChat(loaded.tokenizer, input.messages, {
      addGenerationPrompt: true,
      template: loaded.chatTemplate,
      imageTokens: support.imageTokens ?? undefined,
      audioTokens: support.audioTokens ?? undefined,
    });
    return { ids: encoded, media: input.media, notes: input.notes };
  }
  const vocab = loaded.info.vocabSize;
  if (!Array.isArray(ids) || ids.length === 0 || !ids.every((id) => Number.isInteger(id) && id >= 0 && id < vocab)) {
    throw new BadRequestError('prompt_token_ids', `must be a non-empty list of token ids in [0, ${vocab})`);
  }
  return { ids: ids.slice(), media: input.media, notes: input.notes };
}

/** The job for `request` (without its abort signal), or a typed error. */
export async function prepareJob(request: ChatCompletionRequest, loaded: LoadedModel): Promise<Omit<GenerationJob, 'signal'>> {
  if (typeof request !== 'object' || request === null) throw new BadRequestError('request', 'must be an object');
  const d = loaded.info.defaults;
  const temperature = optionalNumber('temperature', request.temperature, (x) => x >= 0, 'a number >= 0') ?? d.temperature;
  const topK = optionalNumber('top_k', request.top_k, (x) => Number.isInteger(x) && x >= 0, 'an integer >= 0') ?? d.top_k;
  const topP = optionalNumber('top_p', request.top_p, (x) => x > 0 && x <= 1, 'a number in (0, 1]') ?? d.top_p;
  const seed = optionalNumber('seed', request.seed, Number.isSafeInteger, 'an integer');
  const maxTokens = optionalNumber('max_tokens', request.max_tokens, (x) => Number.isInteger(x) && x >= 1, 'an integer >= 1');
  const stop = stopStrings(request.stop);
  checkMessages(request.messages, loaded.info.maxContext);
  const { ids: prompt, media, notes } = await promptIds(request, loaded);
  const maxContext = loaded.info.maxContext;
  const budget = maxTokens ?? maxContext - prompt.length;
  if (budget < 1 || prompt.length + budget > maxContext) throw new ContextOverflowError(prompt.length + Math.max(budget, 1), maxContext);
  const count = (kind: Media['kind']) => media.filter((m) => m.kind === kind).length;
  const mediaTokens = { image: count('image') * (loaded.media.imageTokens ?? 0), audio: count('audio') * (loaded.media.audioTokens ?? 0) };
  return { promptIds: prompt, media, notes, mediaTokens, maxTokens: budget, sampling: samplingOptions(temperature, topK, topP, seed), stop, eosIds: loaded.eosIds };
}
