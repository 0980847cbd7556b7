import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, parseConfigReport, REQUIRED_TEXT_FIELDS, UnsupportedConfigError, type ModelConfig, type TextConfig } from '../src/index.ts';

const FIXTURES = join(import.meta.dirname, '../../../../shared/fixtures');
const load = (dir: string): Record<string, unknown> => JSON.parse(readFileSync(join(FIXTURES, dir, 'config.json'), 'utf8'));
const tinyA = () => load('gemma3n-tiny-a') as { text_config: Record<string, unknown> } & Record<string, unknown>;

/** The shape fields every config must give (REQUIRED_TEXT_FIELDS), at E4B's sizes. */
const E4B_SHAPES = {
  vocab_size: 262_400,
  vocab_size_per_layer_input: 262_144,
  hidden_size: 2048,
  hidden_size_per_layer_input: 256,
  intermediate_size: 16_384,
  num_hidden_layers: 35,
  num_attention_heads: 8,
  num_key_value_heads: 2,
  head_dim: 256,
};

const S = 'sliding';
const F = 'full';
const sparse = (n: number, total: number) => Array.from({ length: total }, (_, i) => (i < n ? 0.95 : 0));

/** Derived values from each fixture's README (and the reference's normalize_text_config / kv_source). */
const fixtures: Array<{ dir: string; text: Partial<TextConfig>; mm: Partial<ModelConfig> }> = [
  {
    dir: 'gemma3n-tiny-a',
    text: {
      vocabSize: 1024, vocabSizePerLayerInput: 992, hiddenSize: 128, numLayers: 8, numHeads: 4, numKvHeads: 2, headDim: 32,
      intermediateSize: [256, 256, 192, 192, 320, 320, 128, 256], layerTypes: [S, S, S, F, S, S, S, F], slidingWindow: 16,
      numKvSharedLayers: 4, kvSource: [0, 1, 2, 3, 2, 2, 2, 3], activationSparsity: sparse(2, 8), hiddenSizePerLayerInput: 16,
      laurelRank: 8, altupNumInputs: 4, ropeTheta: { full: 1_000_000, sliding: 10_000 }, finalLogitSoftcap: 30,
    },
    mm: { vision: { vocabOffset: 992, vocabSize: 16, hiddenSize: 48, rmsNormEps: 1e-6 }, audio: { vocabOffset: 1008, vocabSize: 16, hiddenSize: 40, rmsNormEps: 1e-6 }, imageTokenId: 993, audioTokenId: 1009, boiTokenId: 4, eoiTokenId: 992, boaTokenId: 5, eoaTokenId: 1008 },
  },
  {
    dir: 'gemma3n-tiny-audio-a',
    text: { numLayers: 8, intermediateSize: [256, 256, 192, 192, 320, 320, 128, 256], kvSource: [0, 1, 2, 3, 2, 2, 2, 3], slidingWindow: 16 },
    mm: { audio: { vocabOffset: 1008, vocabSize: 16, hiddenSize: 32, rmsNormEps: 1e-6 }, audioTokenId: 1009 },
  },
  {
    dir: 'gemma3n-tiny-vision-a',
    text: {
      vocabSize: 512, vocabSizePerLayerInput: 480, hiddenSize: 64, numLayers: 4, numHeads: 2, numKvHeads: 1, headDim: 32,
      intermediateSize: [128, 96, 128, 64], layerTypes: [S, F, S, F], numKvSharedLayers: 2, kvSource: [0, 1, 0, 1],
      activationSparsity: sparse(1, 4), hiddenSizePerLayerInput: 8, laurelRank: 4,
    },
    mm: { vision: { vocabOffset: 480, vocabSize: 16, hiddenSize: 2048, rmsNormEps: 1e-6 }, audio: { vocabOffset: 496, vocabSize: 16, hiddenSize: 32, rmsNormEps: 1e-6 }, imageTokenId: 481, eoiTokenId: 480, eoaTokenId: 496 },
  },
  {
    dir: 'gemma3n-tiny-matformer',
    text: {
      numLayers: 15, intermediateSize: Array(15).fill(256), layerTypes: [S, S, S, S, F, S, S, S, S, F, S, S, S, S, F], numKvSharedLayers: 10,
      kvSource: [0, 1, 2, 3, 4, 3, 3, 3, 3, 4, 3, 3, 3, 3, 4], activationSparsity: sparse(3, 15),
    },
    mm: {},
  },
  {
    dir: 'gemma3n-tiny-matformer/sliced-e2b-like',
    text: { numLayers: 10, intermediateSize: Array(10).fill(128), numKvSharedLayers: 5, kvSource: [0, 1, 2, 3, 4, 3, 3, 3, 3, 4], activationSparsity: sparse(3, 10) },
    mm: {},
  },
];

function expectConfigError(json: unknown, cls: typeof ConfigError | typeof UnsupportedConfigError, field: string): void {
  let err: unknown;
  try {
    parseConfig(json);
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${cls.name} on ${field}`).toBeInstanceOf(cls);
  const e = err as ConfigError;
  expect(e.code).toBe(cls === ConfigError ? 'BAD_CONFIG' : 'UNSUPPORTED_CONFIG');
  expect(e.field).toBe(field);
  expect(e.details.field).toBe(field);
  expect(e.message).toContain(field);
}

describe('parseConfig on the fixtures', () => {
  for (const f of fixtures) {
    it(f.dir, () => {
      const raw = load(f.dir);
      const cfg = parseConfig(raw);
      expect(cfg.text).toMatchObject(f.text);
      expect(cfg).toMatchObject(f.mm);
      expect(cfg.raw).toBe(raw);
      const t = cfg.text;
      expect(t).toMatchObject({ rmsNormEps: 1e-6, altupActiveIdx: 0, altupCoefClip: 120, altupCorrectScale: true, maxPositionEmbeddings: 32768, padTokenId: 0, bosTokenId: 2, eosTokenIds: [1, 106] });
      for (const arr of [t.intermediateSize, t.layerTypes, t.activationSparsity, t.kvSource]) expect(arr.length).toBe(t.numLayers);
    });
  }
});

describe('parseConfig layouts and defaults', () => {
  it('a bare gemma3n_text config gives the same text config and no multimodal parts', () => {
    const nested = parseConfig(tinyA());
    const bare = parseConfig(tinyA().text_config);
    expect(bare.text).toEqual(nested.text);
    expect(bare).toMatchObject({ vision: null, audio: null, imageTokenId: null, audioTokenId: null, boiTokenId: null, eoiTokenId: null, boaTokenId: null, eoaTokenId: null });
  });

  it('applies the Gemma3nTextConfig defaults (E4B) and derives the E4B KV map', () => {
    const t = parseConfig({ model_type: 'gemma3n_text', ...E4B_SHAPES }).text;
    expect(t).toMatchObject({ vocabSize: 262400, vocabSizePerLayerInput: 262144, hiddenSize: 2048, numLayers: 35, numHeads: 8, numKvHeads: 2, headDim: 256, hiddenSizePerLayerInput: 256, slidingWindow: 512, laurelRank: 64, numKvSharedLayers: 15, altupNumInputs: 4, finalLogitSoftcap: 30 });
    expect(t.intermediateSize).toEqual(Array(35).fill(16384));
    expect(t.layerTypes.flatMap((x, i) => (x === 'full' ? [i] : []))).toEqual([4, 9, 14, 19, 24, 29, 34]);
    expect(t.activationSparsity).toEqual(sparse(10, 35));
    expect(t.kvSource.slice(0, 20)).toEqual([...Array(20).keys()]);
    expect(t.kvSource.slice(20)).toEqual([18, 18, 18, 18, 19, 18, 18, 18, 18, 19, 18, 18, 18, 18, 19]);
    expect(t.ropeTheta).toEqual({ full: 1_000_000, sliding: 10_000 });
  });

  it('E2B: 30 layers, 10 shared, scalar intermediate_size', () => {
    const t = parseConfig({ model_type: 'gemma3n_text', ...E4B_SHAPES, num_hidden_layers: 30, num_kv_shared_layers: 10, intermediate_size: 8192 }).text;
    expect(t.intermediateSize).toEqual(Array(30).fill(8192));
    expect(t.kvSource.slice(20)).toEqual([18, 18, 18, 18, 19, 18, 18, 18, 18, 19]);
    expect(parseConfig({ model_type: 'gemma3n_text', ...E4B_SHAPES, num_hidden_layers: 6, num_kv_shared_layers: 0, layer_types: null }).text.activationSparsity).toEqual(Array(6).fill(0));
  });

  it('both rope forms', () => {
    const legacy = tinyA();
    Object.assign(legacy.text_config, { rope_theta: 500_000, rope_local_base_freq: 20_000 });
    expect(parseConfig(legacy).text.ropeTheta).toEqual({ full: 500_000, sliding: 20_000 });
    const modern = tinyA();
    delete modern.text_config.rope_theta;
    delete modern.text_config.rope_local_base_freq;
    delete modern.text_config.rope_scaling;
    modern.text_config.rope_parameters = { full_attention: { rope_type: 'default', rope_theta: 250_000 }, sliding_attention: { rope_type: 'default', rope_theta: 5_000 } };
    expect(parseConfig(modern).text.ropeTheta).toEqual({ full: 250_000, sliding: 5_000 });
    modern.text_config.rope_parameters = { sliding_attention: { rope_theta: 7_000 } };
    expect(parseConfig(modern).text.ropeTheta).toEqual({ full: 1_000_000, sliding: 7_000 });
    modern.text_config.rope_scaling = { rope_type: 'default' };
    expect(parseConfig(modern).text.ropeTheta.sliding).toBe(7_000);
  });

  it('token ids: eos as a number, from text_config, or the default; nullable softcap and clip', () => {
    const c = tinyA();
    c.eos_token_id = 7;
    expect(parseConfig(c).text.eosTokenIds).toEqual([7]);
    delete c.eos_token_id;
    expect(parseConfig(c).text.eosTokenIds).toEqual([1, 106]);
    c.text_config.eos_token_id = [1, 2, 3];
    Object.assign(c.text_config, { pad_token_id: 9, bos_token_id: 8, final_logit_softcapping: null, altup_coef_clip: null });
    expect(parseConfig(c).text).toMatchObject({ eosTokenIds: [1, 2, 3], padTokenId: 9, bosTokenId: 8, finalLogitSoftcap: null, altupCoefClip: null });
    delete c.vision_config;
    delete c.image_token_id;
    expect(parseConfig(c)).toMatchObject({ vision: null, imageTokenId: null });
  });
});

type Edit = (c: ReturnType<typeof tinyA>) => void;
const text = (patch: Record<string, unknown>): Edit => (c) => Object.assign(c.text_config, patch);
const bad: Array<{ what: string; edit: Edit; cls: typeof ConfigError | typeof UnsupportedConfigError; field: string }> = [
  { what: 'rope_scaling', edit: text({ rope_scaling: { rope_type: 'linear', factor: 2 } }), cls: UnsupportedConfigError, field: 'text_config.rope_scaling' },
  { what: 'rope_parameters yarn', edit: text({ rope_parameters: { full_attention: { rope_type: 'yarn', rope_theta: 1e6 } } }), cls: UnsupportedConfigError, field: 'text_config.rope_parameters.full_attention.rope_type' },
  { what: 'rope_parameters not an object', edit: text({ rope_parameters: 5 }), cls: ConfigError, field: 'text_config.rope_parameters' },
  { what: 'rope_theta 0', edit: text({ rope_theta: 0 }), cls: ConfigError, field: 'text_config.rope_theta' },
  { what: 'hidden_activation gelu', edit: text({ hidden_activation: 'gelu' }), cls: UnsupportedConfigError, field: 'text_config.hidden_activation' },
  { what: 'altup_active_idx 1', edit: text({ altup_active_idx: 1 }), cls: UnsupportedConfigError, field: 'text_config.altup_active_idx' },
  { what: 'altup_active_idx out of range', edit: text({ altup_active_idx: 4 }), cls: ConfigError, field: 'text_config.altup_active_idx' },
  { what: 'attention_bias', edit: text({ attention_bias: true }), cls: UnsupportedConfigError, field: 'text_config.attention_bias' },
  { what: 'intermediate_size too short', edit: text({ intermediate_size: [256, 256] }), cls: ConfigError, field: 'text_config.intermediate_size' },
  { what: 'intermediate_size entry 0', edit: text({ intermediate_size: [256, 256, 0, 192, 320, 320, 128, 256] }), cls: ConfigError, field: 'text_config.intermediate_size[2]' },
  { what: 'intermediate_size a string', edit: text({ intermediate_size: '256' }), cls: ConfigError, field: 'text_config.intermediate_size' },
  { what: 'layer_types too long', edit: text({ layer_types: Array(9).fill('full_attention') }), cls: ConfigError, field: 'text_config.layer_types' },
  { what: 'layer_types unknown entry', edit: text({ layer_types: ['sliding_attention', 'local', 'sliding_attention', 'full_attention', 'sliding_attention', 'sliding_attention', 'sliding_attention', 'full_attention'] }), cls: ConfigError, field: 'text_config.layer_types[1]' },
  { what: 'activation_sparsity_pattern length', edit: text({ activation_sparsity_pattern: [0.95] }), cls: ConfigError, field: 'text_config.activation_sparsity_pattern' },
  { what: 'activation_sparsity_pattern value 1', edit: text({ activation_sparsity_pattern: [1, 0, 0, 0, 0, 0, 0, 0] }), cls: ConfigError, field: 'text_config.activation_sparsity_pattern[0]' },
  { what: 'hidden_size 0', edit: text({ hidden_size: 0 }), cls: ConfigError, field: 'text_config.hidden_size' },
  { what: 'hidden_size fractional', edit: text({ hidden_size: 127.5 }), cls: ConfigError, field: 'text_config.hidden_size' },
  { what: 'vocab_size a string', edit: text({ vocab_size: '1024' }), cls: ConfigError, field: 'text_config.vocab_size' },
  { what: 'num_hidden_layers null', edit: text({ num_hidden_layers: null }), cls: ConfigError, field: 'text_config.num_hidden_layers' },
  { what: 'laurel_rank negative', edit: text({ laurel_rank: -8 }), cls: ConfigError, field: 'text_config.laurel_rank' },
  { what: 'heads not a multiple of kv heads', edit: text({ num_attention_heads: 3 }), cls: ConfigError, field: 'text_config.num_attention_heads' },
  { what: 'odd head_dim', edit: text({ head_dim: 33 }), cls: ConfigError, field: 'text_config.head_dim' },
  { what: 'every layer KV-shared', edit: text({ num_kv_shared_layers: 8 }), cls: ConfigError, field: 'text_config.num_kv_shared_layers' },
  { what: 'shared layer without an owner of its type', edit: text({ layer_types: ['sliding_attention', 'sliding_attention', 'sliding_attention', 'sliding_attention', 'full_attention', 'full_attention', 'full_attention', 'full_attention'] }), cls: ConfigError, field: 'text_config.num_kv_shared_layers' },
  { what: 'PLE vocab above vocab', edit: text({ vocab_size_per_layer_input: 2048 }), cls: ConfigError, field: 'text_config.vocab_size_per_layer_input' },
  { what: 'rms_norm_eps negative', edit: text({ rms_norm_eps: -1e-6 }), cls: ConfigError, field: 'text_config.rms_norm_eps' },
  { what: 'softcap 0', edit: text({ final_logit_softcapping: 0 }), cls: ConfigError, field: 'text_config.final_logit_softcapping' },
  { what: 'altup_correct_scale a string', edit: text({ altup_correct_scale: 'yes' }), cls: ConfigError, field: 'text_config.altup_correct_scale' },
  { what: 'text_config model_type', edit: text({ model_type: 'gemma3_text' }), cls: UnsupportedConfigError, field: 'text_config.model_type' },
  { what: 'model_type gemma3', edit: (c) => void (c.model_type = 'gemma3'), cls: UnsupportedConfigError, field: 'model_type' },
  { what: 'text_config a list', edit: (c) => void (c.text_config = [] as unknown as Record<string, unknown>), cls: ConfigError, field: 'text_config' },
  { what: 'vision ids past the vocab', edit: (c) => void Object.assign(c.vision_config as object, { vocab_offset: 1020 }), cls: ConfigError, field: 'vision_config.vocab_offset' },
  { what: 'audio ids overlap vision ids', edit: (c) => void Object.assign(c.audio_config as object, { vocab_offset: 1000 }), cls: ConfigError, field: 'audio_config.vocab_offset' },
  { what: 'audio hidden_size 0', edit: (c) => void Object.assign(c.audio_config as object, { hidden_size: 0 }), cls: ConfigError, field: 'audio_config.hidden_size' },
  { what: 'eos list empty', edit: (c) => void (c.eos_token_id = []), cls: ConfigError, field: 'eos_token_id' },
  { what: 'eos id negative', edit: (c) => void (c.eos_token_id = [1, -106]), cls: ConfigError, field: 'eos_token_id' },
  { what: 'image_token_id a string', edit: (c) => void (c.image_token_id = '993'), cls: ConfigError, field: 'image_token_id' },
];

describe('parseConfig rejects bad configs with the field named', () => {
  for (const b of bad) {
    it(b.what, () => {
      const c = tinyA();
      b.edit(c);
      expectConfigError(c, b.cls, b.field);
    });
  }
  it('not an object, no text config', () => {
    expectConfigError([1], ConfigError, '(root)');
    expectConfigError({ model_type: 'llama' }, UnsupportedConfigError, 'model_type');
    expectConfigError({ architectures: ['Gemma3nForConditionalGeneration'] }, ConfigError, 'text_config');
    expectConfigError({ model_type: 'gemma3n_text', ...E4B_SHAPES, head_dim: 0 }, ConfigError, 'head_dim');
  });

  it('a missing field that sets a weight shape is an error naming it, nested or bare', () => {
    for (const field of REQUIRED_TEXT_FIELDS) {
      const nested = tinyA();
      delete nested.text_config[field];
      expectConfigError(nested, ConfigError, `text_config.${field}`);
      const bare = { ...tinyA().text_config };
      bare[field] = null;
      expectConfigError(bare, ConfigError, field);
    }
    expect(() => parseConfig({ model_type: 'gemma3n_text' })).toThrow(/config\.json: vocab_size is missing; it sets the shape of weights/);
  });

  it('a missing field with a Hugging Face default takes it, and the report lists it once', () => {
    const c = tinyA();
    expect(parseConfigReport(c).defaulted).toEqual([]);
    delete c.text_config.sliding_window;
    delete c.text_config.final_logit_softcapping;
    const { config, defaulted } = parseConfigReport(c);
    expect(config.text.slidingWindow).toBe(512);
    expect(config.text.finalLogitSoftcap).toBe(30);
    expect(defaulted).toEqual(['text_config.sliding_window', 'text_config.final_logit_softcapping']);
    const modern = tinyA();
    delete modern.text_config.rope_theta;
    delete modern.text_config.rope_local_base_freq;
    modern.text_config.rope_parameters = { full_attention: { rope_theta: 250_000 } };
    expect(parseConfigReport(modern).defaulted).toEqual(['text_config.rope_parameters.sliding_attention']);
  });
});
