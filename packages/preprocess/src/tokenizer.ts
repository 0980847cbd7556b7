/**
 * The Gemma tokenizer: a thin, typed layer over @huggingface/tokenizers (the JS port of HF
 * `tokenizers`) loaded from a checkpoint's tokenizer.json (+ optional tokenizer_config.json).
 * Gemma 3 / 3n use a SentencePiece-style BPE with byte fallback: spaces are normalized to "▁",
 * text the vocabulary lacks is spelled as <0xHH> byte tokens, and special-token text in the input
 * ("<start_of_turn>", "<bos>", ...) is matched as the special token, as HF does.
 */
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { TokenizerError } from './errors.ts';

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
   * Builds a tokenizer from the contents of tokenizer.json (parsed or as text) and, optionally,
   * tokenizer_config.json. Without a config, decoding does no "clean-up" of spaces before
   * punctuation, as the `tokenizers` library does with tokenizer.json alone.
   */
  static fromJSON(tokenizerJson: object | string, tokenizerConfig: object = {}): Tokenizer {
    let json: unknown = tokenizerJson;
    if (typeof tokenizerJson === 'string') {
      try {
        json = JSON.parse(tokenizerJson);
      } catch (e) {
        throw new TokenizerError(`tokenizer.json is not valid JSON: ${(e as Error).message}`);
      }
    }
    if (!isObject(json) || !isObject(json.model)) {
      throw new TokenizerError('tokenizer.json has no "model" object: is this a Hugging Face tokenizer.json?');
    }
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

  /** Token ids of `text`; special-token text in it becomes the special token's id. */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new TokenizerError(`encode expects a string, got ${typeof text}`);
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
