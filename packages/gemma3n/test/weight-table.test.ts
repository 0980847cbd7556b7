import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DType } from '@g3n/gpu';
import { CheckpointError, defaultCut, layoutOf, openCheckpoint, type Checkpoint, type CheckpointErrorKind, type TensorEntry } from '@g3n/weights';
import { nodeFileSource } from '@g3n/weights/node';
import { checkWeights, converterRules, paramCount, parseConfig, tableBytes, textWeightTable, weightBytes, type ModelConfig, type WeightSpec } from '../src/index.ts';

const FIXTURES = join(import.meta.dirname, '../../../../shared/fixtures');
const DIRS = ['gemma3n-tiny-a', 'gemma3n-tiny-audio-a', 'gemma3n-tiny-vision-a', 'gemma3n-tiny-matformer', 'gemma3n-tiny-matformer/sliced-e2b-like'];
const LM = 'model.language_model.';

const checkpoints = new Map<string, Checkpoint>();
beforeAll(async () => {
  for (const d of DIRS) checkpoints.set(d, await openCheckpoint(nodeFileSource(join(FIXTURES, d))));
});

function expectKind(fn: () => void, kind: CheckpointErrorKind, ...mentions: string[]): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected CheckpointError '${kind}'`).toBeInstanceOf(CheckpointError);
  expect((err as CheckpointError).code).toBe('BAD_CHECKPOINT');
  expect((err as CheckpointError).kind, (err as Error).message).toBe(kind);
  for (const m of mentions) expect((err as Error).message).toContain(m);
}

const tinyA = (): ModelConfig => parseConfig(checkpoints.get('gemma3n-tiny-a')!.config);
const textSide = (tensors: Map<string, TensorEntry>) => [...tensors.keys()].filter((n) => n.startsWith(LM) || n.startsWith('model.embed_')).sort();

describe('textWeightTable', () => {
  for (const d of DIRS) {
    it(`names and shapes match ${d}; checkWeights passes`, () => {
      const ck = checkpoints.get(d)!;
      const table = textWeightTable(parseConfig(ck.config));
      expect(table.map((s) => s.name).sort()).toEqual(textSide(ck.tensors));
      for (const s of table) expect(ck.tensors.get(s.name)!.shape, s.name).toEqual(s.shape);
      checkWeights(table, ck.tensors);
    });
  }

  it('roles, layers, stages, required and quantizable flags (tiny-a)', () => {
    const table = textWeightTable(tinyA());
    const by = new Map(table.map((s) => [s.name, s]));
    expect(table.length).toBe(211);
    expect(by.get(`${LM}embed_tokens.weight`)).toMatchObject({ shape: [1024, 128], role: 'embedding', layer: null, stage: 'text', required: true, quantizable: true });
    expect(by.get(`${LM}embed_tokens_per_layer.weight`)).toMatchObject({ shape: [992, 128], role: 'ple', quantizable: true });
    expect(by.get(`${LM}per_layer_model_projection.weight`)).toMatchObject({ shape: [128, 128], role: 'linear' });
    expect(by.get(`${LM}layers.4.mlp.down_proj.weight`)).toMatchObject({ shape: [128, 320], role: 'linear', layer: 4, quantizable: true });
    expect(by.get(`${LM}layers.3.laurel.linear_right.weight`)).toMatchObject({ shape: [128, 8], role: 'linear', quantizable: false });
    expect(by.get(`${LM}layers.3.per_layer_projection.weight`)).toMatchObject({ shape: [128, 16], quantizable: false });
    expect(by.get(`${LM}layers.0.altup.correct_output_scale`)).toMatchObject({ role: 'vector', quantizable: false });
    expect(by.get(`${LM}layers.0.altup.prediction_coefs.weight`)).toMatchObject({ shape: [16, 4], role: 'coefs', quantizable: false });
    expect(by.get(`${LM}layers.0.altup.correction_coefs.weight`)).toMatchObject({ shape: [4, 4], role: 'coefs' });
    expect(by.get(`${LM}layers.7.self_attn.q_norm.weight`)).toMatchObject({ shape: [32], role: 'norm', quantizable: false });
    expect(by.get('model.embed_vision.embedding_projection.weight')).toMatchObject({ shape: [128, 48], stage: 'embed_vision', layer: null, role: 'linear', quantizable: false });
    expect(by.get('model.embed_audio.embedding.weight')).toMatchObject({ shape: [16, 40], stage: 'embed_audio', role: 'embedding', quantizable: false });
    const optional = table.filter((s) => s.stage === 'text' && !s.required).map((s) => s.name);
    const kv = (l: number) => ['k_proj', 'v_proj', 'k_norm'].map((t) => `${LM}layers.${l}.self_attn.${t}.weight`);
    expect(optional.sort()).toEqual([4, 5, 6, 7].flatMap(kv).sort());
  });

  it('how the loader stores each tensor, its slot, and how a MatFormer slice cuts it (tiny-a)', () => {
    const cfg = tinyA();
    const table = textWeightTable(cfg);
    const by = new Map(table.map((s) => [s.name, s]));
    expect(by.get(`${LM}embed_tokens.weight`)).toMatchObject({ load: 'matrix', slot: { in: 'model', field: 'embedTokens' }, slice: 'whole', transposed: false });
    expect(by.get(`${LM}embed_tokens_per_layer.weight`)).toMatchObject({ slice: 'ple-table', slot: { in: 'model', field: 'embedTokensPerLayer' } });
    expect(by.get(`${LM}per_layer_model_projection.weight`)).toMatchObject({ slice: 'ple-projection' });
    expect(by.get(`${LM}altup_unembed_projections.2.weight`)).toMatchObject({ slot: { in: 'list', field: 'altupUnembedProjections', index: 2 } });
    expect(by.get(`${LM}layers.1.mlp.gate_proj.weight`)).toMatchObject({ slice: 'ffn-rows', slot: { in: 'layer', field: 'gateProj' } });
    expect(by.get(`${LM}layers.1.mlp.up_proj.weight`)).toMatchObject({ slice: 'ffn-rows' });
    expect(by.get(`${LM}layers.1.mlp.down_proj.weight`)).toMatchObject({ slice: 'ffn-cols', load: 'matrix' });
    expect(by.get(`${LM}layers.0.altup.prediction_coefs.weight`)).toMatchObject({ load: 'coefs' });
    expect(by.get(`${LM}layers.0.altup.modality_router.weight`)).toMatchObject({ load: 'f32-matrix', role: 'linear' });
    expect(by.get(`${LM}layers.0.input_layernorm.weight`)).toMatchObject({ load: 'vector', slot: { in: 'layer', field: 'inputLayernorm' } });
    expect(by.get('model.embed_vision.embedding.weight')).toMatchObject({ slot: { in: 'embedder', field: 'embedding' } });
    // The towers read the soft norm; the text loader does not.
    expect(by.get('model.embed_vision.soft_embedding_norm.weight')!.slot).toBeNull();
    // Only the sparse layers keep down_proj transposed.
    for (let l = 0; l < cfg.text.numLayers; l++) expect(by.get(`${LM}layers.${l}.mlp.down_proj.weight`)!.transposed, `layer ${l}`).toBe(cfg.text.activationSparsity[l] > 0);
    // KV-sharing layers' k/v projections and k_norm are optional and never loaded: no slot.
    for (const s of table) if (s.stage === 'text') expect(s.slot === null, s.name).toBe(!s.required);
    // Every slotted field of a layer appears once per layer.
    const fields = table.filter((s) => s.layer === 0).map((s) => s.slot?.field);
    expect(new Set(fields).size).toBe(fields.length);
  });

  it('converter rules: the table cuts as the converter defaults do for Gemma 3n names, and decides layouts', () => {
    const cfg = tinyA();
    const rules = converterRules(cfg, { roleOf: () => 'other', cutOf: () => 'none' });
    const cuts = new Map<string, string[]>();
    for (const s of textWeightTable(cfg)) {
      expect(rules.cutOf(s.name), s.name).toBe(defaultCut(s.name));
      expect(rules.roleOf(s.name, s.shape), s.name).toBe(s.role);
      cuts.set(rules.cutOf(s.name), [...(cuts.get(rules.cutOf(s.name)) ?? []), s.name]);
    }
    expect(cuts.get('cols')!.length).toBe(cfg.text.numLayers);
    expect(cuts.get('rows')!.length).toBe(2 * cfg.text.numLayers);
    expect(cuts.get('layer-columns')).toEqual([`${LM}embed_tokens_per_layer.weight`]);
    expect(cuts.get('layer-rows')).toEqual([`${LM}per_layer_model_projection.weight`]);
    // Outside the table: the defaults given.
    expect(rules.cutOf('model.vision_tower.timm_model.conv_stem.conv.weight')).toBe('none');
    expect(rules.roleOf('model.vision_tower.timm_model.conv_stem.conv.weight', [8, 3, 3, 3])).toBe('other');
    expect(layoutOf(`${LM}layers.1.mlp.down_proj.weight`, [128, 320], 'Q4', 16, rules.cutOf(`${LM}layers.1.mlp.down_proj.weight`))).toBe('column-blocks');
    expect(layoutOf(`${LM}embed_tokens_per_layer.weight`, [992, 128], 'BF16', 16, rules.cutOf(`${LM}embed_tokens_per_layer.weight`))).toBe('layer-major');
    expect(layoutOf(`${LM}layers.1.mlp.down_proj.weight`, [128, 320], 'Q4', 16, 'none')).toBe('row-major');
  });

  it('paramCount and byte accounting', () => {
    const table = textWeightTable(tinyA());
    const ck = checkpoints.get('gemma3n-tiny-a')!;
    const stored = [...ck.tensors.values()].reduce((s, e) => s + (e.end - e.start), 0);
    expect(paramCount(table) * 2).toBe(stored);
    expect(paramCount(table, (s) => s.stage === 'embed_vision')).toBe(16 * 48 + 2 * 48 + 128 * 48);
    expect(tableBytes(table, 'f32')).toBe(paramCount(table) * 4);
    const q4 = (s: WeightSpec): DType => (s.quantizable ? 'q4' : 'f32');
    const n = 1024 * 128;
    expect(weightBytes(table[0], 'q4')).toBe(n / 2 + n / 32 * 2);
    expect(weightBytes(table[0], 'q8')).toBe(n + n / 32 * 2);
    expect(tableBytes(table, q4)).toBeLessThan(tableBytes(table, 'bf16'));
    const norm = table.find((s) => s.role === 'norm')!;
    expect(() => weightBytes(norm, 'q4')).toThrow(/not quantizable/);
  });
});

describe('checkWeights', () => {
  const entries = () => new Map(checkpoints.get('gemma3n-tiny-a')!.tensors);

  it('accepts a checkpoint without the KV-consumer k_proj / v_proj / k_norm, or without an embedder', () => {
    const t = entries();
    for (const l of [4, 5, 6, 7]) for (const n of ['k_proj', 'v_proj', 'k_norm']) t.delete(`${LM}layers.${l}.self_attn.${n}.weight`);
    for (const n of [...t.keys()]) if (n.startsWith('model.embed_audio.')) t.delete(n);
    t.set('lm_head.weight', t.get(`${LM}embed_tokens.weight`)!);
    checkWeights(textWeightTable(tinyA()), t);
  });

  it('missing tensors', () => {
    const table = textWeightTable(tinyA());
    for (const name of [`${LM}layers.3.self_attn.k_proj.weight`, `${LM}norm.weight`, `${LM}altup_unembed_projections.2.weight`, 'model.embed_vision.hard_embedding_norm.weight']) {
      const t = entries();
      t.delete(name);
      expectKind(() => checkWeights(table, t), 'missing-tensor', name);
    }
  });

  it('shapes disagreeing with config.json', () => {
    const t = entries();
    const name = `${LM}layers.2.mlp.gate_proj.weight`;
    t.set(name, { ...t.get(name)!, shape: [256, 128] });
    expectKind(() => checkWeights(textWeightTable(tinyA()), t), 'shape-mismatch', name, '[256, 128]', '[192, 128]');
    const cfg = tinyA();
    cfg.text.intermediateSize = [...cfg.text.intermediateSize];
    cfg.text.intermediateSize[0] = 512;
    expectKind(() => checkWeights(textWeightTable(cfg), entries()), 'shape-mismatch', `${LM}layers.0.mlp`);
    const wide = parseConfig({ ...(checkpoints.get('gemma3n-tiny-a')!.config as object), text_config: { ...((checkpoints.get('gemma3n-tiny-a')!.config as { text_config: object }).text_config), hidden_size_per_layer_input: 32 } });
    expectKind(() => checkWeights(textWeightTable(wide), entries()), 'shape-mismatch', 'embed_tokens_per_layer');
  });

  it('non-float dtypes', () => {
    const t = entries();
    const name = `${LM}layers.1.input_layernorm.weight`;
    t.set(name, { ...t.get(name)!, dtype: 'I64' });
    expectKind(() => checkWeights(textWeightTable(tinyA()), t), 'bad-dtype', name, 'I64');
  });
});
