/**
 * A chat-completion request checked and turned into a generation job, before it is queued and
 * before any GPU work: field ranges, multimodal parts, prompt tokens, and the context budget.
 */
import { ContextOverflowError } from '@g3n/gemma3n';
import { encodeChat, type ChatMessage as PromptMessage } from '@g3n/preprocess';
import { BadRequestError, UnsupportedInputError } from './errors.ts';
import type { GenerationJob } from './generate.ts';
import type { LoadedModel } from './load.ts';
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

/** Text-only messages for the chat format; image and audio parts are refused while the model has no tower. */
function promptMessages(messages: unknown): PromptMessage[] {
  if (!Array.isArray(messages)) throw new BadRequestError('messages', 'must be a list of { role, content } messages');
  return (messages as ChatMessage[]).map((m, i) => {
    if (typeof m?.content === 'string') return { role: m.role, content: m.content };
    if (!Array.isArray(m?.content)) throw new BadRequestError(`messages[${i}].content`, 'must be a string or a list of parts');
    const parts = m.content.map((part, j) => {
      switch (part?.type) {
        case 'text':
          return { type: 'text' as const, text: part.text };
        case 'image':
        case 'image_url':
          throw new UnsupportedInputError('image', i);
        case 'audio':
        case 'input_audio':
          throw new UnsupportedInputError('audio', i);
        default:
          throw new BadRequestError(`messages[${i}].content[${j}].type`, `unknown part type ${JSON.stringify((part as { type?: unknown })?.type)}`);
      }
    });
    return { role: m.role, content: parts };
  });
}

function promptIds(request: ChatCompletionRequest, loaded: LoadedModel): number[] {
  const messages = promptMessages(request.messages);
  const ids = request.prompt_token_ids;
  if (ids === undefined) return encodeChat(loaded.tokenizer, messages, { addGenerationPrompt: true, template: loaded.chatTemplate });
  const vocab = loaded.info.vocabSize;
  if (!Array.isArray(ids) || ids.length === 0 || !ids.every((id) => Number.isInteger(id) && id >= 0 && id < vocab)) {
    throw new BadRequestError('prompt_token_ids', `must be a non-empty list of token ids in [0, ${vocab})`);
  }
  return ids.slice();
}

/** The job for `request` (without its abort signal), or a typed error. */
export function prepareJob(request: ChatCompletionRequest, loaded: LoadedModel): Omit<GenerationJob, 'signal'> {
  if (typeof request !== 'object' || request === null) throw new BadRequestError('request', 'must be an object');
  const d = loaded.info.defaults;
  const temperature = optionalNumber('temperature', request.temperature, (x) => x >= 0, 'a number >= 0') ?? d.temperature;
  const topK = optionalNumber('top_k', request.top_k, (x) => Number.isInteger(x) && x >= 0, 'an integer >= 0') ?? d.top_k;
  const topP = optionalNumber('top_p', request.top_p, (x) => x > 0 && x <= 1, 'a number in (0, 1]') ?? d.top_p;
  const seed = optionalNumber('seed', request.seed, Number.isSafeInteger, 'an integer');
  const maxTokens = optionalNumber('max_tokens', request.max_tokens, (x) => Number.isInteger(x) && x >= 1, 'an integer >= 1');
  const stop = stopStrings(request.stop);
  checkMessages(request.messages, loaded.info.maxContext);
  const prompt = promptIds(request, loaded);
  const maxContext = loaded.info.maxContext;
  const budget = maxTokens ?? maxContext - prompt.length;
  if (budget < 1 || prompt.length + budget > maxContext) throw new ContextOverflowError(prompt.length + Math.max(budget, 1), maxContext);
  return { promptIds: prompt, maxTokens: budget, sampling: samplingOptions(temperature, topK, topP, seed), stop, eosIds: loaded.eosIds };
}
