/**
 * The Gemma tokenizer: a thin, typed layer over @huggingface/tokenizers (the JS port of HF
 * `tokenizers`) loaded from a checkpoint's tokenizer.json (+ optional tokenizer_config.json).
 * Gemma 3 / 3n use a SentencePiece-style BPE with byte fallback: spaces are normalized to "▁",
 * text the vocabulary lacks is spelled as <0xHH> byte tokens, and special-token text in the input
 * ("<start_of_turn>", "<bos>", ...) is matched as the special token, as HF does.
 */
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { TokenizerError } from './errors.ts';
import { checkWellFormed, decodeUtf8, loneSurrogateIndex } from './text.ts';

export interface EncodeOptions {
  /** Prepend <bos> (default false: chat text carries its own <bos>). */
  addBos?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (<bos>, <start_of_turn>, <image_soft_token>, ...) from the text. */
  skipSpecial?: boolean;
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** tokenizer_config.json names tokens either as a string or as an AddedToken object. */
function configTokenName(config: JsonObject, key: string, fallback: string): string {
  const value = config[key];
  if (typeof value === 'string') return value;
  if (isObject(value) && typeof value.content === 'string') return value.content;
  return fallback;
}

const MODEL_TYPES = ['BPE', 'Unigram', 'WordPiece', 'WordLevel'];

/** The parts of tokenizer.json the library reads, checked first so that a broken file is a TokenizerError naming the field, not a TypeError inside the library. */
function validateTokenizerJson(json: JsonObject): void {
  const bad = (field: string, what: string): never => {
    throw new TokenizerError(`tokenizer.json: ${field} ${what}. Use the checkpoint's own tokenizer.json.`, { field });
  };
  const model = json.model as JsonObject;
  const type = model.type ?? (isObject(model.vocab) && Array.isArray(model.merges) ? 'BPE' : undefined);
  if (typeof type !== 'string' || !MODEL_TYPES.includes(type)) bad('model.type', `is ${JSON.stringify(model.type)}, not one of ${MODEL_TYPES.join(', ')}`);
  const key = (k: string, field: string) => {
    const at = loneSurrogateIndex(k);
    if (at >= 0) bad(field, `has a key with a lone surrogate at index ${at}`);
  };
  if (type === 'Unigram') {
    if (!Array.isArray(model.vocab)) bad('model.vocab', 'is not a list of [piece, score] pairs');
    (model.vocab as unknown[]).forEach((e, i) => {
      if (!Array.isArray(e) || typeof e[0] !== 'string' || typeof e[1] !== 'number') return bad(`model.vocab[${i}]`, 'is not a [piece, score] pair');
      key(e[0], `model.vocab[${i}]`);
    });
  } else {
    if (!isObject(model.vocab)) bad('model.vocab', 'is not an object of token -> id');
    for (const [k, id] of Object.entries(model.vocab as JsonObject)) {
      if (!Number.isSafeInteger(id) || (id as number) < 0) bad('model.vocab', `maps ${JSON.stringify(k)} to ${JSON.stringify(id)}, not a non-negative integer id`);
      key(k, 'model.vocab');
    }
  }
  if (type === 'BPE') {
    if (!Array.isArray(model.merges)) bad('model.merges', 'is missing; a BPE tokenizer needs its merges');
    (model.merges as unknown[]).forEach((m, i) => {
      const ok = typeof m === 'string' ? m.includes(' ') : Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string';
      if (!ok) bad(`model.merges[${i}]`, `is ${JSON.stringify(m)}, not "a b" or ["a", "b"]`);
    });
  }
  if (json.added_tokens !== undefined) {
    if (!Array.isArray(json.added_tokens)) bad('added_tokens', 'is not a list');
    (json.added_tokens as unknown[]).forEach((t, i) => {
      if (!isObject(t) || !Number.isSafeInteger(t.id) || (t.id as number) < 0 || typeof t.content !== 'string') bad(`added_tokens[${i}]`, 'is not an {"id", "content"} token');
      key((t as JsonObject).content as string, `added_tokens[${i}].content`);
    });
  }
}

export class Tokenizer {
  /** Number of ids: one more than the largest id of the vocabulary and the added tokens. */
  readonly vocabSize: number;
  readonly bosId: number;
  /** <eos> (1 in Gemma). Instruction-tuned Gemma also stops on <end_of_turn>: see endOfTurnId. */
  readonly eosId: number;
  readonly padId: number;
  readonly startOfTurnId: number;
  readonly endOfTurnId: number;

  private readonly hf: HfTokenizer;

  private constructor(hf: HfTokenizer, config: JsonObject) {
    this.hf = hf;
    let maxId = -1;
    for (const id of hf.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;
    this.bosId = this.requireId(configTokenName(config, 'bos_token', '<bos>'));
    this.eosId = this.requireId('<eos>');
    this.padId = this.requireId(configTokenName(config, 'pad_token', '<pad>'));
    this.startOfTurnId = this.requireId('<start_of_turn>');
    this.endOfTurnId = this.requireId('<end_of_turn>');
  }

  /**
   * Builds a tokenizer from the contents of tokenizer.json (parsed, as text, or as its bytes, which
   * must be valid UTF-8) and, optionally, tokenizer_config.json. Without a config, decoding does no
   * "clean-up" of spaces before punctuation, as the `tokenizers` library does with tokenizer.json alone.
   */
  static fromJSON(tokenizerJson: object | string | Uint8Array, tokenizerConfig: object = {}): Tokenizer {
    let json: unknown = tokenizerJson;
    const text = tokenizerJson instanceof Uint8Array ? decodeUtf8(tokenizerJson, 'tokenizer.json') : tokenizerJson;
    if (typeof text === 'string') {
      try {
        json = JSON.parse(text);
      } catch (e) {
        throw new TokenizerError(`tokenizer.json is not valid JSON: ${(e as Error).message}`);
      }
    }
    if (!isObject(json) || !isObject(json.model)) {
      throw new TokenizerError('tokenizer.json has no "model" object: is this a Hugging Face tokenizer.json?');
    }
    validateTokenizerJson(json);
    if (!isObject(tokenizerConfig)) throw new TokenizerError('tokenizer_config.json must be a JSON object');
    const config: JsonObject = { clean_up_tokenization_spaces: false, ...tokenizerConfig };
    const full: JsonObject = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, added_tokens: [], ...json };
    let hf: HfTokenizer;
    try {
      hf = new HfTokenizer(full, config);
    } catch (e) {
      throw new TokenizerError(`cannot load tokenizer.json: ${(e as Error).message}`);
    }
    return new Tokenizer(hf, config);
  }

  /** Token ids of `text`; special-token text in it becomes the special token's id. A lone surrogate is a TokenizerError with its index. */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new TokenizerError(`encode expects a string, got ${typeof text}`);
    checkWellFormed(text, 'The text');
    const ids = text.length === 0 ? [] : this.hf.encode(text, { add_special_tokens: false }).ids;
    return opts.addBos ? [this.bosId, ...ids] : ids;
  }

  /**
   * Text of `ids`. Byte-fallback tokens are joined into UTF-8 before decoding; an incomplete or
   * invalid byte sequence becomes U+FFFD. Ids outside the vocabulary are skipped (as HF does).
   */
  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    const known: number[] = [];
    for (const id of ids) {
      if (!Number.isInteger(id)) throw new TokenizerError(`decode expects integer token ids, got ${String(id)}`);
      if (this.hf.id_to_token(id) !== undefined) known.push(id);
    }
    if (known.length === 0) return '';
    return this.hf.decode(known, { skip_special_tokens: opts.skipSpecial ?? false });
  }

  tokenToId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return Number.isInteger(id) && id >= 0 ? this.hf.id_to_token(id) : undefined;
  }

  private requireId(token: string): number {
    const id = this.tokenToId(token);
    if (id === undefined) {
      throw new TokenizerError(`tokenizer.json has no ${JSON.stringify(token)} token: is this a Gemma tokenizer?`, { token });
    }
    return id;
  }
}
