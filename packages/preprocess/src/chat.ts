/**
 * Gemma 3n chat format. renderChat writes the prompt text the checkpoint's chat template writes
 * (or renders that template itself with @huggingface/jinja when given), expandMultimodalPlaceholders
 * replaces each image/audio placeholder by its full soft-token sequence as the HF Gemma3nProcessor
 * does, and encodeChat tokenizes the result without adding <bos> (the text starts with it).
 */
import { Template } from '@huggingface/jinja';
import { ChatFormatError, TokenizerError } from './errors.ts';
import type { Tokenizer } from './tokenizer.ts';

export type ChatRole = 'system' | 'user' | 'assistant';

export interface TextPart {
  type: 'text';
  text: string;
}

/** An image in a message; its pixels travel in the other fields, for the image preprocessor. */
export interface ImagePart {
  type: 'image';
  [field: string]: unknown;
}

/** An audio clip in a message; its samples travel in the other fields, for the audio preprocessor. */
export interface AudioPart {
  type: 'audio';
  [field: string]: unknown;
}

export type ContentPart = TextPart | ImagePart | AudioPart;

export interface ChatMessage {
  role: ChatRole;
  content: string | ContentPart[];
}

export interface RenderChatOptions {
  /** End with `<start_of_turn>model\n` so the model writes the next turn. */
  addGenerationPrompt: boolean;
  /** The checkpoint's chat_template (Jinja), rendered as is instead of the built-in format. */
  template?: string;
  /** Text of the BOS token given to the template as `bos_token` (default "<bos>"). */
  bosToken?: string;
}

export interface PlaceholderOptions {
  /** Soft tokens per image (Gemma 3n: vision_soft_tokens_per_image = 256). */
  imageTokens?: number;
  /** Soft tokens per audio clip (Gemma 3n: audio_soft_tokens_per_image = 188). */
  audioTokens?: number;
}

export type EncodeChatOptions = RenderChatOptions & PlaceholderOptions;

export const IMAGE_PLACEHOLDER = '<image_soft_token>';
export const AUDIO_PLACEHOLDER = '<audio_soft_token>';
export const START_OF_IMAGE = '<start_of_image>';
export const END_OF_IMAGE = '<end_of_image>';
export const START_OF_AUDIO = '<start_of_audio>';
export const END_OF_AUDIO = '<end_of_audio>';

const DEFAULT_IMAGE_TOKENS = 256;
const DEFAULT_AUDIO_TOKENS = 188;

function systemPrefix(message: ChatMessage): string {
  if (typeof message.content === 'string') return message.content + '\n\n';
  if (!Array.isArray(message.content)) throw new ChatFormatError('system message: content must be a string or an array of parts');
  const text = message.content.map((part) => {
    if (part?.type !== 'text' || typeof part.text !== 'string') {
      throw new ChatFormatError(`a system message may hold only text parts, not ${JSON.stringify(part?.type)}`);
    }
    return part.text;
  });
  return text.join('') + '\n\n';
}

function turnContent(message: ChatMessage, index: number): string {
  const { content } = message;
  if (typeof content === 'string') return content.trim();
  if (!Array.isArray(content)) throw new ChatFormatError(`message ${index}: content must be a string or an array of parts`);
  return content
    .map((part) => {
      switch (part?.type) {
        case 'text':
          if (typeof part.text !== 'string') throw new ChatFormatError(`message ${index}: a text part needs a string "text"`);
          return part.text.trim();
        case 'image':
          return IMAGE_PLACEHOLDER;
        case 'audio':
          return AUDIO_PLACEHOLDER;
        default:
          throw new ChatFormatError(`message ${index}: unknown content part type ${JSON.stringify((part as { type?: unknown })?.type)}`);
      }
    })
    .join('');
}

function renderBuiltIn(messages: readonly ChatMessage[], addGenerationPrompt: boolean, bosToken: string): string {
  let prefix = '';
  let turns = messages;
  if (messages[0].role === 'system') {
    prefix = systemPrefix(messages[0]);
    turns = messages.slice(1);
  }
  let out = bosToken;
  turns.forEach((message, i) => {
    const expected = i % 2 === 0 ? 'user' : 'assistant';
    if (message.role !== expected) {
      const where = message.role === 'system' ? 'a system message may only come first' : `expected ${expected}, got ${JSON.stringify(message.role)}`;
      throw new ChatFormatError(`Conversation roles must alternate user/assistant/user/assistant/...: turn ${i}: ${where}`, { turn: i });
    }
    const role = message.role === 'assistant' ? 'model' : 'user';
    out += `<start_of_turn>${role}\n${i === 0 ? prefix : ''}${turnContent(message, i)}<end_of_turn>\n`;
  });
  if (addGenerationPrompt) out += '<start_of_turn>model\n';
  return out;
}

/** What a template reads of the messages: roles, text and part types, not image pixels or audio samples. */
function templateView(messages: readonly ChatMessage[]): unknown[] {
  return messages.map(({ role, content }) => ({
    role,
    content: Array.isArray(content) ? content.map((part) => (part?.type === 'text' ? { type: 'text', text: part.text } : { type: part?.type })) : content,
  }));
}

/**
 * The prompt text of a conversation, with one IMAGE_PLACEHOLDER / AUDIO_PLACEHOLDER per image /
 * audio part. Built-in format (the Gemma 3n template's): `<bos>`; a leading system message's text
 * (not trimmed, as in the template) + "\n\n" opens the first user turn; user/assistant alternate,
 * starting with user; assistant is written `model`; each turn is
 * `<start_of_turn>{role}\n{content}<end_of_turn>\n` with text parts trimmed.
 */
export function renderChat(messages: readonly ChatMessage[], opts: RenderChatOptions): string {
  if (!Array.isArray(messages) || messages.length === 0) throw new ChatFormatError('renderChat needs at least one message');
  const bosToken = opts.bosToken ?? '<bos>';
  if (opts.template === undefined) return renderBuiltIn(messages, opts.addGenerationPrompt, bosToken);
  try {
    return new Template(opts.template).render({ messages: templateView(messages), bos_token: bosToken, add_generation_prompt: opts.addGenerationPrompt });
  } catch (e) {
    throw new ChatFormatError(`chat template: ${(e as Error).message}`);
  }
}

/**
 * Replaces each placeholder by its full sequence, as the HF processor does:
 * "\n\n<start_of_image>" + imageTokens x "<image_soft_token>" + "<end_of_image>\n\n", and the same
 * with the audio tokens. Placeholder text typed by the user is expanded too, as in HF.
 */
export function expandMultimodalPlaceholders(text: string, opts: PlaceholderOptions = {}): string {
  const imageTokens = opts.imageTokens ?? DEFAULT_IMAGE_TOKENS;
  const audioTokens = opts.audioTokens ?? DEFAULT_AUDIO_TOKENS;
  for (const [name, n] of [['imageTokens', imageTokens], ['audioTokens', audioTokens]] as const) {
    if (!Number.isInteger(n) || n < 0) throw new ChatFormatError(`${name} must be a non-negative integer, got ${n}`);
  }
  const image = `\n\n${START_OF_IMAGE}${IMAGE_PLACEHOLDER.repeat(imageTokens)}${END_OF_IMAGE}\n\n`;
  const audio = `\n\n${START_OF_AUDIO}${AUDIO_PLACEHOLDER.repeat(audioTokens)}${END_OF_AUDIO}\n\n`;
  return text
    .split(IMAGE_PLACEHOLDER)
    .map((piece) => piece.split(AUDIO_PLACEHOLDER).join(audio))
    .join(image);
}

/** Token ids of a conversation: renderChat, then expandMultimodalPlaceholders, then encode (no BOS added). */
export function encodeChat(tokenizer: Tokenizer, messages: readonly ChatMessage[], opts: EncodeChatOptions): number[] {
  const bosToken = opts.bosToken ?? tokenizer.idToToken(tokenizer.bosId);
  const text = renderChat(messages, { ...opts, bosToken });
  for (const [placeholder, open, close] of [
    [IMAGE_PLACEHOLDER, START_OF_IMAGE, END_OF_IMAGE],
    [AUDIO_PLACEHOLDER, START_OF_AUDIO, END_OF_AUDIO],
  ]) {
    if (!text.includes(placeholder)) continue;
    const missing = [placeholder, open, close].filter((t) => tokenizer.tokenToId(t) === undefined);
    if (missing.length > 0) {
      throw new TokenizerError(`this tokenizer has no ${missing.join(', ')} token: it cannot encode ${placeholder === IMAGE_PLACEHOLDER ? 'images' : 'audio'} (is it a Gemma 3n tokenizer?)`, { missing });
    }
  }
  return tokenizer.encode(expandMultimodalPlaceholders(text, opts));
}
