import { describe, expect, it } from 'vitest';
import { parseConfig, type ModelConfig } from '../src/config.ts';
import { parseConfigsCsv } from '../src/matformer/csv.ts';
import { findPublishedSlice, publishedSlices, sliceStats } from '../src/matformer/published.ts';
import { planSlice, SliceError } from '../src/matformer/slice.ts';

/** The published google/gemma-3n-E4B config.json (spec §1), text part in full. */
function gemma3nConfig(layers: number, width: number, kvShared: number): Record<string, unknown> {
  return {
    architectures: ['Gemma3nForConditionalGeneration'],
    model_type: 'gemma3n',
    text_config: {
      model_type: 'gemma3n_text',
      hidden_size: 2048,
      num_hidden_layers: layers,
      num_attention_heads: 8,
      num_key_value_heads: 2,
      head_dim: 256,
      intermediate_size: Array(layers).fill(width),
      vocab_size: 262_400,
      vocab_size_per_layer_input: 262_144,
      hidden_size_per_layer_input: 256,
      sliding_window: 512,
      layer_types: Array.from({ length: layers }, (_, i) => ((i + 1) % 5 === 0 ? 'full_attention' : 'sliding_attention')),
      rope_theta: 1_000_000.0,
      rope_local_base_freq: 10_000.0,
      rope_scaling: null,
      max_position_embeddings: 32_768,
      rms_norm_eps: 1e-6,
      final_logit_softcapping: 30.0,
      query_pre_attn_scalar: 256,
      hidden_activation: 'gelu_pytorch_tanh',
      altup_num_inputs: 4,
      altup_active_idx: 0,
      altup_coef_clip: 120.0,
      altup_correct_scale: true,
      laurel_rank: 64,
      num_kv_shared_layers: kvShared,
      activation_sparsity_pattern: Array.from({ length: layers }, (_, i) => (i < 10 ? 0.95 : 0.0)),
      tie_word_embeddings: true,
      attention_bias: false,
      pad_token_id: 0,
      eos_token_id: 1,
      bos_token_id: 2,
      torch_dtype: 'bfloat16',
    },
    vision_config: { model_type: 'gemma3n_vision', architecture: 'mobilenetv5_300m_enc', hidden_size: 2048, vocab_size: 128, vocab_offset: 262_144, rms_norm_eps: 1e-6 },
    audio_config: { model_type: 'gemma3n_audio', hidden_size: 1536, input_feat_size: 128, vocab_size: 128, vocab_offset: 262_272, rms_norm_eps: 1e-6 },
    vision_soft_tokens_per_image: 256,
    audio_soft_tokens_per_image: 188,
    boi_token_id: 255_999,
    eoi_token_id: 262_144,
    image_token_id: 262_145,
    boa_token_id: 256_000,
    eoa_token_id: 262_272,
    audio_token_id: 262_273,
    eos_token_id: [1, 106],
  };
}

const E4B: ModelConfig = parseConfig(gemma3nConfig(35, 16_384, 15));
const E2B: ModelConfig = parseConfig(gemma3nConfig(30, 8_192, 10));

/** Spec §8, last column: non-embedding text params recomputed from the §7 shapes, in B. */
const RECOMPUTED: Record<string, number> = {
  'Main model (E4B)': 3.98,
  'Config for official E2B Model': 1.905,
  'E1.96B (layer-level)': 1.956,
  'E2.54B (layer-level)': 2.521,
  'E2.69B (layer-level)': 2.672,
  'E2.98B (layer-level)': 2.974,
  'E3.18B (layer-level)': 3.175,
  'E3.39B (layer-level)': 3.377,
  'E3.59B (layer-level)': 3.578,
  'E3.79B (layer-level)': 3.779,
  'E2.49B (block-level)': 2.471,
  'E2.73B (block-level)': 2.722,
  'E2.98B (block-level)': 2.974,
  'E3.24B (block-level)': 3.226,
  'E3.49B (block-level)': 3.477,
  '"E3.79B" (block-level)': 3.729,
};

describe('published MatFormer configurations', () => {
  it('lists the 16 official configurations in the published order', () => {
    expect(publishedSlices.map((s) => s.name)).toEqual(Object.keys(RECOMPUTED));
  });

  it.each(publishedSlices.map((s) => [s.name, s] as const))('%s reproduces the recomputed parameter count', (name, slice) => {
    const plan = planSlice(E4B, slice);
    expect(plan.config.text.numLayers).toBe(slice.numLayers);
    expect(slice.ffnHiddenDims.every((w) => w === 8192 || w === 16_384)).toBe(true);
    expect(Number((sliceStats(E4B, slice).effectiveParams / 1e9).toFixed(3))).toBe(RECOMPUTED[name]);
    expect(Math.abs(slice.effectiveParamsB - RECOMPUTED[name])).toBeLessThan(0.025);
  });

  it('gives the exact spec §7.4 counts for E4B and E2B', () => {
    expect(sliceStats(E4B, findPublishedSlice('E4B')!).effectiveParams).toBe(3_980_491_248);
    expect(sliceStats(E4B, findPublishedSlice('E2B')!).effectiveParams).toBe(1_905_495_648);
  });

  it('slices E4B into exactly the E2B config', () => {
    const plan = planSlice(E4B, findPublishedSlice('E2B')!);
    expect(plan.keptLayers).toEqual([...Array(20).keys(), ...Array.from({ length: 10 }, (_, i) => 25 + i)]);
    const { raw: _, ...sliced } = plan.config;
    const { raw: __, ...e2b } = E2B;
    expect(sliced).toEqual(e2b);
    expect(plan.config.text.kvSource.slice(20)).toEqual([18, 18, 18, 18, 19, 18, 18, 18, 18, 19]);
  });

  it('finds configurations by published name, alias, and ignoring case and quotes', () => {
    expect(findPublishedSlice('E4B')?.name).toBe('Main model (E4B)');
    expect(findPublishedSlice('Main model (E4B)')?.aliases).toEqual(['E4B']);
    expect(findPublishedSlice('E2B')?.layersSkipped).toEqual([20, 21, 22, 23, 24]);
    expect(findPublishedSlice('"E3.79B" (block-level)')?.effectiveParamsB).toBe(3.74);
    expect(findPublishedSlice('e3.79b (block-level)')?.name).toBe('"E3.79B" (block-level)');
    expect(findPublishedSlice('E3.79B (layer-level)')?.mmlu).toBe(63.4);
    expect(findPublishedSlice('E9B')).toBeUndefined();
    const e254 = findPublishedSlice('E2.54B (layer-level)')!;
    expect([...e254.ffnHiddenDims.keys()].filter((j) => e254.ffnHiddenDims[j] === 16_384)).toEqual([4, 20, 21, 22, 23, 24]);
  });

  it.each([18, 19])('refuses to skip the KV producer layer %i of E4B', (layer) => {
    const slice = { name: 'bad', layersSkipped: [layer, 20, 21, 22, 23], ffnHiddenDims: Array(30).fill(8192) };
    expect(() => planSlice(E4B, slice)).toThrow(SliceError);
    expect(() => planSlice(E4B, slice)).toThrow(/layer 1[89]/);
  });

  it('parses an official-style configs.csv back into the published table', () => {
    const dims = (s: (typeof publishedSlices)[number]) => `"[${s.ffnHiddenDims.map((w) => `2_048 * ${w / 2048}`).join(', ')}]"`;
    const cell = (s: string) => (/[",]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
    const lines = publishedSlices.map((s) =>
      [cell(s.name), s.numLayers, s.effectiveParamsB.toFixed(2), `${s.mmlu.toFixed(2)}%`, dims(s), s.layersSkipped.length ? `"[${s.layersSkipped.join(', ')}]"` : ''].join(','),
    );
    const rows = parseConfigsCsv(['name,# Layers,# Effective Params (B),MMLU PT accuracy,FFN Hidden Dims,Layers Skipped', ...lines].join('\n'));
    expect(rows).toEqual(publishedSlices.map(({ aliases: _, ...s }) => s));
  });
});

describe('slice load size', () => {
  // Text tensors of the whole parent (spec §7.4): non-embedding + embed_tokens + PLE table.
  const E4B_TEXT = 3_980_491_248 + 537_395_200 + 2_348_810_240;
  const E2B_TEXT = 1_905_495_648 + 537_395_200 + 2_013_265_920;
  // Never loaded: k_proj, v_proj [512, 2048] and k_norm [256] of each KV-sharing layer.
  const unused = (consumers: number) => consumers * (2 * 512 * 2048 + 256);
  // Kept f32 in every format: per layer q_norm, 4 norms, altup scale/coefs/router/router norm,
  // laurel norm, per-layer input norm; k_norm of owner layers; the PLE projection norm and final norm.
  const f32 = (layers: number, owners: number) => layers * (256 + 4 * 2048 + 2048 + 16 + 64 + 4 * 2048 + 2048 + 2048 + 2048) + owners * 256 + 256 + 2048;

  it.each([
    ['E4B', E4B_TEXT, 15, 35, 20],
    ['E2B', E2B_TEXT, 10, 30, 20],
  ] as const)('%s: bytes per storage format', (name, text, consumers, layers, owners) => {
    const loaded = text - unused(consumers);
    const vec = f32(layers, owners);
    const mat = loaded - vec;
    const { bytes } = sliceStats(E4B, findPublishedSlice(name)!);
    expect(bytes.f32).toBe(4 * loaded);
    expect(bytes.bf16).toBe(2 * mat + 4 * vec);
    expect(bytes.f16).toBe(bytes.bf16);
    expect(bytes.q8).toBe((1 + 1 / 16) * mat + 4 * vec);
    expect(bytes.q4).toBe((0.5 + 1 / 16) * mat + 4 * vec);
  });
});
