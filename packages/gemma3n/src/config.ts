/**
 * Gemma 3n config.json -> one validated, fully defaulted ModelConfig. Accepts the nested
 * Gemma3nForConditionalGeneration layout (text_config / vision_config / audio_config) and a bare
 * gemma3n_text config; applies the Gemma3nTextConfig defaults; both rope forms (legacy rope_theta /
 * rope_local_base_freq and rope_parameters keyed by layer type).
 */

import { ConfigError, UnsupportedConfigError } from './errors.ts';

export { ConfigError, UnsupportedConfigError } from './errors.ts';

const show = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v));

export type LayerType = 'sliding' | 'full';

export interface TextConfig {
  vocabSize: number;
  vocabSizePerLayerInput: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** FFN width per layer. */
  intermediateSize: number[];
  hiddenSizePerLayerInput: number;
  slidingWindow: number;
  layerTypes: LayerType[];
  ropeTheta: { full: number; sliding: number };
  rmsNormEps: number;
  finalLogitSoftcap: number | null;
  altupNumInputs: number;
  altupActiveIdx: number;
  altupCoefClip: number | null;
  altupCorrectScale: boolean;
  laurelRank: number;
  numKvSharedLayers: number;
  /** Per layer, the sparsity s of the FFN gate (0 = dense). */
  activationSparsity: number[];
  /** Per layer, the layer whose KV cache it reads: itself for owners, the last earlier non-shared layer of its type for the last numKvSharedLayers. */
  kvSource: number[];
  maxPositionEmbeddings: number;
  padTokenId: number;
  bosTokenId: number;
  eosTokenIds: number[];
}

/** The part of a vision / audio config the text model needs: its id range and the embedder's sizes. */
export interface MultimodalEmbedderConfig {
  vocabOffset: number;
  vocabSize: number;
  hiddenSize: number;
  rmsNormEps: number;
}

export interface ModelConfig {
  text: TextConfig;
  vision: MultimodalEmbedderConfig | null;
  audio: MultimodalEmbedderConfig | null;
  imageTokenId: number | null;
  audioTokenId: number | null;
  boiTokenId: number | null;
  eoiTokenId: number | null;
  boaTokenId: number | null;
  eoaTokenId: number | null;
  raw: unknown;
}

type Obj = Record<string, unknown>;

function isRecord(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Fields that set a tensor's shape: Hugging Face's class defaults them to E4B's sizes, which would only
 * turn a config that leaves one out into a shape mismatch far from its cause, so each must be present.
 */
export const REQUIRED_TEXT_FIELDS = [
  'vocab_size',
  'vocab_size_per_layer_input',
  'hidden_size',
  'hidden_size_per_layer_input',
  'intermediate_size',
  'num_hidden_layers',
  'num_attention_heads',
  'num_key_value_heads',
  'head_dim',
] as const;

/** Typed field access on one JSON object; every error names the field's dotted path, every default applied is recorded in `defaulted`. */
class Fields {
  constructor(
    readonly obj: Obj,
    readonly prefix: string,
    readonly defaulted: string[] = [],
  ) {}

  /** The same object read without recording defaults (values that other fields may override). */
  quiet(): Fields {
    return new Fields(this.obj, this.prefix, []);
  }

  /** Fail with the field's name when a field without a default is absent. */
  require(keys: readonly string[]): void {
    for (const key of keys) {
      if (this.obj[key] === undefined || this.obj[key] === null) {
        throw new ConfigError(this.path(key), 'is missing; it sets the shape of weights and has no default, so take it from the checkpoint\'s own config.json');
      }
    }
  }

  path(key: string): string {
    return `${this.prefix}${key}`;
  }

  get(key: string): unknown {
    return this.obj[key];
  }

  value(key: string, def: unknown): unknown {
    if (this.obj[key] !== undefined) return this.obj[key];
    this.defaulted.push(this.path(key));
    return def;
  }

  int(key: string, def: number, min: number): number {
    const v = this.value(key, def);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
      throw new ConfigError(this.path(key), `must be an integer >= ${min}, got ${show(v)}`);
    }
    return v;
  }

  num(key: string, def: number): number {
    const v = this.value(key, def);
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ConfigError(this.path(key), `must be a positive number, got ${show(v)}`);
    return v;
  }

  numOrNull(key: string, def: number | null): number | null {
    const v = this.value(key, def);
    if (v === null) return null;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ConfigError(this.path(key), `must be a positive number or null, got ${show(v)}`);
    return v;
  }

  bool(key: string, def: boolean): boolean {
    const v = this.value(key, def);
    if (typeof v !== 'boolean') throw new ConfigError(this.path(key), `must be true or false, got ${show(v)}`);
    return v;
  }

  str(key: string, def: string): string {
    const v = this.value(key, def);
    if (typeof v !== 'string') throw new ConfigError(this.path(key), `must be a string, got ${show(v)}`);
    return v;
  }

  /** A list of exactly `n` entries, each checked by `each`; `def` when absent or null. */
  list<T>(key: string, n: number, def: () => T[], each: (v: unknown, i: number) => T | undefined, what: string): T[] {
    const v = this.obj[key];
    if (v === undefined || v === null) {
      this.defaulted.push(this.path(key));
      return def();
    }
    if (!Array.isArray(v)) throw new ConfigError(this.path(key), `must be a list of ${what}, got ${show(v)}`);
    if (v.length !== n) throw new ConfigError(this.path(key), `has ${v.length} entries, num_hidden_layers is ${n}`);
    return v.map((x, i) => {
      const out = each(x, i);
      if (out === undefined) throw new ConfigError(`${this.path(key)}[${i}]`, `must be ${what}, got ${show(x)}`);
      return out;
    });
  }

  tokenId(key: string): number | null | undefined {
    const v = this.obj[key];
    if (v === undefined || v === null) return v as undefined | null;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new ConfigError(this.path(key), `must be a token id (integer >= 0), got ${show(v)}`);
    return v;
  }
}

const LAYER_TYPES: Record<string, LayerType> = { sliding_attention: 'sliding', full_attention: 'full' };

function isDefaultRope(v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (!isRecord(v)) return false;
  const keys = Object.keys(v);
  return keys.every((k) => (k === 'rope_type' || k === 'type') && v[k] === 'default');
}

function parseRope(f: Fields): { full: number; sliding: number } {
  if (!isDefaultRope(f.get('rope_scaling'))) throw new UnsupportedConfigError(f.path('rope_scaling'), f.get('rope_scaling'), 'no rope scaling');
  const rp = f.get('rope_parameters');
  const base = rp === undefined || rp === null ? f : f.quiet();
  const legacy = { full: base.num('rope_theta', 1_000_000), sliding: base.num('rope_local_base_freq', 10_000) };
  if (rp === undefined || rp === null) return legacy;
  if (!isRecord(rp)) throw new ConfigError(f.path('rope_parameters'), `must be an object, got ${show(rp)}`);
  const flat = new Fields(rp, f.path('rope_parameters.'));
  if (flat.str('rope_type', 'default') !== 'default') throw new UnsupportedConfigError(flat.path('rope_type'), rp.rope_type, 'only the default rope');
  const theta = (key: 'full_attention' | 'sliding_attention', fallback: number): number => {
    const sub = rp[key];
    if (sub === undefined || sub === null) {
      if (f.get(key === 'full_attention' ? 'rope_theta' : 'rope_local_base_freq') === undefined) f.defaulted.push(flat.path(key));
      return fallback;
    }
    if (!isRecord(sub)) throw new ConfigError(flat.path(key), `must be an object, got ${show(sub)}`);
    const s = new Fields(sub, flat.path(`${key}.`));
    const type = s.str('rope_type', s.str('type', 'default'));
    if (type !== 'default') throw new UnsupportedConfigError(s.path('rope_type'), type, 'only the default rope');
    return s.num('rope_theta', fallback);
  };
  return { full: theta('full_attention', legacy.full), sliding: theta('sliding_attention', legacy.sliding) };
}

/** Per layer, the layer whose K/V it attends to (spec §1.2). */
export function kvSourceMap(layerTypes: readonly LayerType[], numKvSharedLayers: number, field = 'num_kv_shared_layers'): number[] {
  const first = layerTypes.length - numKvSharedLayers;
  return layerTypes.map((type, i) => {
    if (i < first) return i;
    for (let j = first - 1; j >= 0; j--) if (layerTypes[j] === type) return j;
    throw new ConfigError(field, `makes layer ${i} (${type}) share the KV cache of an earlier ${type} layer, but layers 0..${first - 1} have none`);
  });
}

function parseText(f: Fields, top: Fields | null): TextConfig {
  f.require(REQUIRED_TEXT_FIELDS);
  const activation = f.str('hidden_activation', 'gelu_pytorch_tanh');
  if (activation !== 'gelu_pytorch_tanh') throw new UnsupportedConfigError(f.path('hidden_activation'), activation, 'only gelu_pytorch_tanh');
  if (f.bool('attention_bias', false)) throw new UnsupportedConfigError(f.path('attention_bias'), true, 'no attention biases');

  const numLayers = f.int('num_hidden_layers', 35, 1);
  const vocabSize = f.int('vocab_size', 262_400, 1);
  const vocabSizePerLayerInput = f.int('vocab_size_per_layer_input', 262_144, 1);
  if (vocabSizePerLayerInput > vocabSize) throw new ConfigError(f.path('vocab_size_per_layer_input'), `(${vocabSizePerLayerInput}) exceeds vocab_size (${vocabSize})`);
  const numHeads = f.int('num_attention_heads', 8, 1);
  const numKvHeads = f.int('num_key_value_heads', 2, 1);
  if (numHeads % numKvHeads !== 0) throw new ConfigError(f.path('num_attention_heads'), `(${numHeads}) is not a multiple of num_key_value_heads (${numKvHeads})`);
  const headDim = f.int('head_dim', 256, 1);
  if (headDim % 2 !== 0) throw new ConfigError(f.path('head_dim'), `(${headDim}) must be even for the half-split RoPE`);

  const posInt = (v: unknown): number | undefined => (typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : undefined);
  const ffn = f.get('intermediate_size');
  if (ffn !== undefined && typeof ffn !== 'number' && !Array.isArray(ffn)) {
    throw new ConfigError(f.path('intermediate_size'), `must be a positive integer or a list of them, got ${show(ffn)}`);
  }
  const intermediateSize = Array.isArray(ffn)
    ? f.list('intermediate_size', numLayers, () => [], posInt, 'a positive integer')
    : Array<number>(numLayers).fill(f.int('intermediate_size', 16_384, 1));

  const layerTypes = f.list(
    'layer_types',
    numLayers,
    () => Array.from({ length: numLayers }, (_, i): LayerType => ((i + 1) % 5 === 0 ? 'full' : 'sliding')),
    (v) => (typeof v === 'string' && Object.hasOwn(LAYER_TYPES, v) ? LAYER_TYPES[v] : undefined),
    '"sliding_attention" or "full_attention"',
  );
  const activationSparsity = f.list(
    'activation_sparsity_pattern',
    numLayers,
    () => Array.from({ length: numLayers }, (_, i) => (numLayers > 10 && i < 10 ? 0.95 : 0)),
    (v) => (typeof v === 'number' && v >= 0 && v < 1 ? v : undefined),
    'a number in [0, 1)',
  );

  const altupNumInputs = f.int('altup_num_inputs', 4, 1);
  const altupActiveIdx = f.int('altup_active_idx', 0, 0);
  if (altupActiveIdx >= altupNumInputs) throw new ConfigError(f.path('altup_active_idx'), `(${altupActiveIdx}) must be below altup_num_inputs (${altupNumInputs})`);
  if (altupActiveIdx !== 0) throw new UnsupportedConfigError(f.path('altup_active_idx'), altupActiveIdx, 'only 0');

  const numKvSharedLayers = f.int('num_kv_shared_layers', 15, 0);
  if (numKvSharedLayers >= numLayers) throw new ConfigError(f.path('num_kv_shared_layers'), `(${numKvSharedLayers}) must be below num_hidden_layers (${numLayers})`);
  const kvSource = kvSourceMap(layerTypes, numKvSharedLayers, f.path('num_kv_shared_layers'));

  return {
    vocabSize,
    vocabSizePerLayerInput,
    hiddenSize: f.int('hidden_size', 2048, 1),
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize,
    hiddenSizePerLayerInput: f.int('hidden_size_per_layer_input', 256, 1),
    slidingWindow: f.int('sliding_window', 512, 1),
    layerTypes,
    ropeTheta: parseRope(f),
    rmsNormEps: f.num('rms_norm_eps', 1e-6),
    finalLogitSoftcap: f.numOrNull('final_logit_softcapping', 30),
    altupNumInputs,
    altupActiveIdx,
    altupCoefClip: f.numOrNull('altup_coef_clip', 120),
    altupCorrectScale: f.bool('altup_correct_scale', true),
    laurelRank: f.int('laurel_rank', 64, 1),
    numKvSharedLayers,
    activationSparsity,
    kvSource,
    maxPositionEmbeddings: f.int('max_position_embeddings', 32_768, 1),
    padTokenId: f.tokenId('pad_token_id') ?? top?.tokenId('pad_token_id') ?? 0,
    bosTokenId: f.tokenId('bos_token_id') ?? top?.tokenId('bos_token_id') ?? 2,
    eosTokenIds: eosIds(top, f),
  };
}

/** eos_token_id (a number or a list), top level first, then text_config; [1, 106] when absent. */
function eosIds(...sources: Array<Fields | null>): number[] {
  for (const s of sources) {
    const v = s?.get('eos_token_id');
    if (s === null || v === undefined || v === null) continue;
    const list = Array.isArray(v) ? v : [v];
    if (list.length === 0 || !list.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) {
      throw new ConfigError(s.path('eos_token_id'), `must be a token id or a non-empty list of token ids, got ${show(v)}`);
    }
    return list as number[];
  }
  return [1, 106];
}

function parseEmbedder(top: Fields, key: 'vision_config' | 'audio_config', text: TextConfig, defaults: { vocabOffset: number; hiddenSize: number }): MultimodalEmbedderConfig | null {
  const v = top.get(key);
  if (v === undefined || v === null) return null;
  if (!isRecord(v)) throw new ConfigError(top.path(key), `must be an object, got ${show(v)}`);
  const f = new Fields(v, top.path(`${key}.`));
  const out = {
    vocabOffset: f.int('vocab_offset', defaults.vocabOffset, 0),
    vocabSize: f.int('vocab_size', 128, 1),
    hiddenSize: f.int('hidden_size', defaults.hiddenSize, 1),
    rmsNormEps: f.num('rms_norm_eps', 1e-6),
  };
  if (out.vocabOffset + out.vocabSize > text.vocabSize) {
    throw new ConfigError(f.path('vocab_offset'), `(${out.vocabOffset}) + vocab_size (${out.vocabSize}) runs past the text vocab_size (${text.vocabSize})`);
  }
  return out;
}

export interface ConfigReport {
  config: ModelConfig;
  /** The text config's fields config.json leaves out, each set once to Hugging Face's Gemma3nTextConfig default (dotted paths). */
  defaulted: string[];
}

export function parseConfig(json: unknown): ModelConfig {
  return parseConfigReport(json).config;
}

/** parseConfig, and which fields took their default. */
export function parseConfigReport(json: unknown): ConfigReport {
  const defaulted: string[] = [];
  const config = parseConfigInto(json, defaulted);
  return { config, defaulted: [...new Set(defaulted)] };
}

function parseConfigInto(json: unknown, defaulted: string[]): ModelConfig {
  if (!isRecord(json)) throw new ConfigError('(root)', `must be a JSON object, got ${show(json)}`);
  const top = new Fields(json, '');
  const modelType = json.model_type;
  const none = { vision: null, audio: null, imageTokenId: null, audioTokenId: null, boiTokenId: null, eoiTokenId: null, boaTokenId: null, eoaTokenId: null };
  if (json.text_config === undefined) {
    if (modelType === 'gemma3n_text' || (modelType === undefined && 'num_hidden_layers' in json)) return { text: parseText(new Fields(json, '', defaulted), null), ...none, raw: json };
    if (modelType === undefined) throw new ConfigError('text_config', 'is missing (expected a Gemma3nForConditionalGeneration or gemma3n_text config)');
    throw new UnsupportedConfigError('model_type', modelType, 'only gemma3n and gemma3n_text');
  }
  if (modelType !== undefined && modelType !== 'gemma3n') throw new UnsupportedConfigError('model_type', modelType, 'only gemma3n and gemma3n_text');
  const tc = json.text_config;
  if (!isRecord(tc)) throw new ConfigError('text_config', `must be an object, got ${show(tc)}`);
  if (tc.model_type !== undefined && tc.model_type !== 'gemma3n_text') throw new UnsupportedConfigError('text_config.model_type', tc.model_type, 'only gemma3n_text');
  const text = parseText(new Fields(tc, 'text_config.', defaulted), top);
  const vision = parseEmbedder(top, 'vision_config', text, { vocabOffset: 262_144, hiddenSize: 2048 });
  const audio = parseEmbedder(top, 'audio_config', text, { vocabOffset: 262_272, hiddenSize: 1536 });
  if (vision && audio && vision.vocabOffset < audio.vocabOffset + audio.vocabSize && audio.vocabOffset < vision.vocabOffset + vision.vocabSize) {
    throw new ConfigError('audio_config.vocab_offset', `gives audio ids [${audio.vocabOffset}, ${audio.vocabOffset + audio.vocabSize}) that overlap the vision ids [${vision.vocabOffset}, ${vision.vocabOffset + vision.vocabSize})`);
  }
  const id = (key: string): number | null => top.tokenId(key) ?? null;
  return {
    text,
    vision,
    audio,
    imageTokenId: id('image_token_id'),
    audioTokenId: id('audio_token_id'),
    boiTokenId: id('boi_token_id'),
    eoiTokenId: id('eoi_token_id'),
    boaTokenId: id('boa_token_id'),
    eoaTokenId: id('eoa_token_id'),
    raw: json,
  };
}
