import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openCheckpoint, toF32, type Checkpoint } from '@g3n/weights';
import { nodeFileSource } from '@g3n/weights/node';
import { parseConfig, type ModelConfig } from '../src/config.ts';
import { parseConfigsCsv, parseIntListExpression } from '../src/matformer/csv.ts';
import { sliceStats } from '../src/matformer/published.ts';
import { parentTensorName, sliceRanges, sliceReader, slicedShape, type ParentTensors } from '../src/matformer/reader.ts';
import { parseSliceJson, planSlice, SliceError, type SliceConfig, type SliceErrorReason } from '../src/matformer/slice.ts';
import { FIXTURES } from './golden.ts';

const DIR = join(FIXTURES, 'gemma3n-tiny-matformer');
const SLICES = ['e2b-like', 'mix-layer', 'mix-block-skip', 'identity'] as const;
const LM = 'model.language_model.';

const json = (path: string): unknown => JSON.parse(readFileSync(join(DIR, path), 'utf8'));
const parentRaw = json('config.json') as Record<string, unknown>;
const parent: ModelConfig = parseConfig(parentRaw);
const sliceOf = (name: string): SliceConfig => parseSliceJson(json(`slices/${name}.json`));

interface Golden {
  sliced_text_config: { num_hidden_layers: number; intermediate_size: number[]; num_kv_shared_layers: number; activation_sparsity_pattern: number[]; layer_types: string[] };
  kept_parent_layers: number[];
  kv_source_layer: number[];
  kv_source_parent_layer: number[];
  effective_params: number;
}

function expectSliceError(f: () => unknown, reason: SliceErrorReason): void {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SliceError);
    expect((e as SliceError).code).toBe('BAD_SLICE');
    expect((e as SliceError).details.reason).toBe(reason);
    return;
  }
  throw new Error(`expected a SliceError with reason '${reason}'`);
}

/** A parent config with other sizes: `L` layers, the last `shared` KV-sharing, every FFN `width` wide. */
function syntheticParent(L: number, shared: number, width: number): ModelConfig {
  const tc = parentRaw.text_config as Record<string, unknown>;
  return parseConfig({
    ...parentRaw,
    text_config: {
      ...tc,
      num_hidden_layers: L,
      num_kv_shared_layers: shared,
      intermediate_size: Array(L).fill(width),
      layer_types: Array.from({ length: L }, (_, i) => ((i + 1) % 5 === 0 ? 'full_attention' : 'sliding_attention')),
      activation_sparsity_pattern: Array.from({ length: L }, (_, i) => (i < 6 ? 0.95 : 0)),
    },
  });
}

describe('slicing configuration JSON', () => {
  it('parses the fixture format and ignores informational fields', () => {
    expect(sliceOf('e2b-like')).toEqual({ name: 'e2b-like', layersSkipped: [5, 6, 7, 8, 9], ffnHiddenDims: Array(10).fill(128), numLayers: 10 });
    expect(sliceOf('identity').layersSkipped).toEqual([]);
  });

  it.each([
    ['not an object', [1, 2], 'bad-format'],
    ['no name', { ffn_hidden_dims: [128], layers_skipped: [] }, 'bad-format'],
    ['no widths', { name: 'x', layers_skipped: [] }, 'bad-format'],
    ['fractional width', { name: 'x', ffn_hidden_dims: [128.5], layers_skipped: [] }, 'bad-format'],
    ['skips not a list', { name: 'x', ffn_hidden_dims: [128], layers_skipped: '5' }, 'bad-format'],
    ['num_layers disagrees with the widths', { name: 'x', num_layers: 3, ffn_hidden_dims: [128, 128], layers_skipped: [] }, 'wrong-layer-count'],
  ] as const)('rejects %s', (_, input, reason) => {
    expectSliceError(() => parseSliceJson(input), reason);
  });
});

describe.each(SLICES)('slice plan %s', (name) => {
  const golden = json(`golden-${name}.json`) as Golden;
  const plan = planSlice(parent, sliceOf(name));

  it('matches the golden sliced text_config, kept-layer map and KV-source maps', () => {
    const t = plan.config.text;
    const g = golden.sliced_text_config;
    expect(t.numLayers).toBe(g.num_hidden_layers);
    expect(t.intermediateSize).toEqual(g.intermediate_size);
    expect(t.numKvSharedLayers).toBe(g.num_kv_shared_layers);
    expect(t.activationSparsity).toEqual(g.activation_sparsity_pattern);
    expect(t.layerTypes.map((x) => `${x}_attention`)).toEqual(g.layer_types);
    expect(plan.keptLayers).toEqual(golden.kept_parent_layers);
    expect(t.kvSource).toEqual(golden.kv_source_layer);
    expect(t.kvSource.map((j) => plan.keptLayers[j])).toEqual(golden.kv_source_parent_layer);
  });

  it('has a raw config that parses back to the same config', () => {
    const { raw, ...rest } = parseConfig(plan.config.raw);
    const { raw: _, ...expected } = plan.config;
    expect(rest).toEqual(expected);
    expect(raw).toBe(plan.config.raw);
  });

  it('counts the golden effective parameters', () => {
    expect(sliceStats(parent, plan.slice).effectiveParams).toBe(golden.effective_params);
  });
});

describe('slice plan against the pre-sliced checkpoint', () => {
  it('agrees with parseConfig of sliced-e2b-like/config.json on every TextConfig field', () => {
    const sliced = parseConfig(json('sliced-e2b-like/config.json'));
    const plan = planSlice(parent, sliceOf('e2b-like'));
    expect(Object.keys(plan.config.text).sort()).toEqual(Object.keys(sliced.text).sort());
    for (const key of Object.keys(sliced.text) as Array<keyof typeof sliced.text>) expect(plan.config.text[key], key).toEqual(sliced.text[key]);
    expect({ ...plan.config, text: null, raw: null }).toEqual({ ...sliced, text: null, raw: null });
  });
});

describe('slice plan rules beyond the fixture', () => {
  it('skips below the first KV-shared layer: sharing count unchanged, producers move down, sparsity entries dropped', () => {
    const p = syntheticParent(20, 10, 320);
    const plan = planSlice(p, { name: 'low', layersSkipped: [4, 0, 1, 2, 3], ffnHiddenDims: [96, 160, 320, 64, 32, 96, 160, 320, 64, 32, 96, 160, 320, 64, 32] });
    const t = plan.config.text;
    expect(plan.keptLayers).toEqual(Array.from({ length: 15 }, (_, i) => i + 5));
    expect(plan.slice.layersSkipped).toEqual([0, 1, 2, 3, 4]);
    expect(t.numKvSharedLayers).toBe(10);
    expect(t.activationSparsity).toEqual([0.95, ...Array(14).fill(0)]);
    expect(t.kvSource).toEqual([0, 1, 2, 3, 4, 3, 3, 3, 3, 4, 3, 3, 3, 3, 4]);
    expect(t.kvSource.map((j) => plan.keptLayers[j])).toEqual([5, 6, 7, 8, 9, 8, 8, 8, 8, 9, 8, 8, 8, 8, 9]);
    expect(p.text.kvSource.slice(10)).toEqual([8, 8, 8, 8, 9, 8, 8, 8, 8, 9]);
  });

  it('handles several skipped blocks with a widened different block', () => {
    const p = syntheticParent(25, 10, 256);
    const widths = [...Array(5).fill(128), ...Array(5).fill(256), ...Array(5).fill(96)];
    const plan = planSlice(p, { name: 'two-blocks', layersSkipped: [15, 16, 17, 18, 19, 20, 21, 22, 23, 24], ffnHiddenDims: widths });
    expect(plan.config.text.numKvSharedLayers).toBe(0);
    expect(plan.config.text.kvSource).toEqual(Array.from({ length: 15 }, (_, i) => i));
    expect(plan.config.text.intermediateSize).toEqual(widths);
  });

  const N = 10;
  const widths = (w: number, at = 0) => Array.from({ length: N }, (_, j) => (j === at ? w : 128));
  it.each([
    ['a KV producer (sliding)', { layersSkipped: [3, 5, 6, 7, 8], ffnHiddenDims: widths(128) }, 'skips-kv-producer'],
    ['a KV producer (full)', { layersSkipped: [4, 5, 6, 7, 8], ffnHiddenDims: widths(128) }, 'skips-kv-producer'],
    ['a width above the parent width', { layersSkipped: [5, 6, 7, 8, 9], ffnHiddenDims: widths(288, 3) }, 'width-too-large'],
    ['a width not a multiple of 32', { layersSkipped: [5, 6, 7, 8, 9], ffnHiddenDims: widths(100, 7) }, 'width-not-multiple-of-32'],
    ['a zero width', { layersSkipped: [5, 6, 7, 8, 9], ffnHiddenDims: widths(0, 0) }, 'width-not-multiple-of-32'],
    ['too few widths', { layersSkipped: [5, 6, 7, 8, 9], ffnHiddenDims: widths(128).slice(1) }, 'wrong-width-count'],
    ['widths by parent layer', { layersSkipped: [5, 6, 7, 8, 9], ffnHiddenDims: Array(15).fill(128) }, 'wrong-width-count'],
    ['a skip out of range', { layersSkipped: [10, 11, 12, 13, 15], ffnHiddenDims: widths(128) }, 'bad-skip'],
    ['a negative skip', { layersSkipped: [-1, 11, 12, 13, 14], ffnHiddenDims: widths(128) }, 'bad-skip'],
    ['a repeated skip', { layersSkipped: [10, 11, 12, 13, 13], ffnHiddenDims: widths(128) }, 'bad-skip'],
    ['num_layers disagreeing with the parent', { layersSkipped: [5, 6, 7, 8, 9], ffnHiddenDims: widths(128), numLayers: 11 }, 'wrong-layer-count'],
  ] as const)('rejects %s', (_, s, reason) => {
    expectSliceError(() => planSlice(parent, { name: 'bad', ...s, layersSkipped: [...s.layersSkipped], ffnHiddenDims: [...s.ffnHiddenDims] }), reason);
  });

  it('rejects a skip that leaves a KV-sharing layer type without a producer', () => {
    const p = syntheticParent(20, 15, 256);
    expectSliceError(() => planSlice(p, { name: 'misaligned', layersSkipped: [0], ffnHiddenDims: Array(19).fill(256) }), 'no-kv-producer');
  });
});

describe('configs.csv', () => {
  it('equals the four JSON slices and their effective parameter counts', () => {
    const rows = parseConfigsCsv(readFileSync(join(DIR, 'slices/configs.csv'), 'utf8'));
    expect(rows.map((r) => r.name)).toEqual([...SLICES]);
    for (const r of rows) {
      const { effectiveParamsB, mmlu, ...slice } = r;
      expect(slice).toEqual(sliceOf(r.name));
      expect(mmlu).toBeNull();
      expect(effectiveParamsB).toBe(Number((sliceStats(parent, slice).effectiveParams / 1e9).toFixed(6)));
    }
  });

  it('evaluates Python list expressions of integer products and nothing else', () => {
    expect(parseIntListExpression('[2_048 * 8, 128 * 2, 96]')).toEqual([16384, 256, 96]);
    expect(parseIntListExpression(' [] ')).toEqual([]);
    expect(parseIntListExpression('')).toEqual([]);
    expect(parseIntListExpression('[20, 21, 22,]')).toEqual([20, 21, 22]);
    for (const bad of ['[2048 + 1]', '[2__048]', '[_2048]', '[2048 * ]', '2048', '[1e3]', '[2**3]', '[2048] * 2', '[-1]']) {
      expectSliceError(() => parseIntListExpression(bad), 'bad-format');
    }
  });

  it('reads quoted fields, doubled quotes, CRLF, percent and empty cells, in any column order', () => {
    const text = [
      'Layers Skipped,name,FFN Hidden Dims,# Layers,MMLU PT accuracy,# Effective Params (B)',
      '"[1, 2]","""E3.79B"" (block-level), v2","[2_048 * 4, 2_048 * 8]",2,62.00%,3.74',
      ',plain,"[32 * 3]",1,,',
      '',
    ].join('\r\n');
    expect(parseConfigsCsv(text)).toEqual([
      { name: '"E3.79B" (block-level), v2', layersSkipped: [1, 2], ffnHiddenDims: [8192, 16384], numLayers: 2, effectiveParamsB: 3.74, mmlu: 62 },
      { name: 'plain', layersSkipped: [], ffnHiddenDims: [96], numLayers: 1, effectiveParamsB: null, mmlu: null },
    ]);
  });

  it.each([
    ['a missing column', 'name,# Layers,FFN Hidden Dims,Layers Skipped\nx,1,[32],\n', 'bad-format'],
    ['an unclosed quote', 'name,# Layers,# Effective Params (B),MMLU PT accuracy,FFN Hidden Dims,Layers Skipped\nx,1,,,"[32],\n', 'bad-format'],
    ['a layer count that disagrees', 'name,# Layers,# Effective Params (B),MMLU PT accuracy,FFN Hidden Dims,Layers Skipped\nx,2,,,"[32]",\n', 'wrong-layer-count'],
    ['a bad number', 'name,# Layers,# Effective Params (B),MMLU PT accuracy,FFN Hidden Dims,Layers Skipped\nx,1,lots,,"[32]",\n', 'bad-format'],
  ] as const)('rejects %s', (_, text, reason) => {
    expectSliceError(() => parseConfigsCsv(text), reason);
  });
});

/** Bit-identical float arrays (a plain toEqual over ~100k elements is slow). */
function expectSameBits(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length, what).toBe(want.length);
  expect(Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(Buffer.from(want.buffer, want.byteOffset, want.byteLength)), what).toBe(true);
}

function parentTensors(ckpt: Checkpoint): ParentTensors {
  return {
    has: (name) => ckpt.tensors.has(name),
    shape: (name) => ckpt.tensors.get(name)?.shape,
    async read(name) {
      const dtype = ckpt.tensors.get(name)?.dtype;
      if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16') throw new Error(`${name}: ${dtype}`);
      return { dtype, bytes: await ckpt.read(name) };
    },
  };
}

describe('slice reader', () => {
  const open = async () => openCheckpoint(nodeFileSource(DIR));

  it('serves exactly the bytes of sliced-e2b-like/model.safetensors', async () => {
    const [parentCkpt, sliced] = await Promise.all([open(), openCheckpoint(nodeFileSource(join(DIR, 'sliced-e2b-like')))]);
    const plan = planSlice(parent, sliceOf('e2b-like'));
    const reader = sliceReader(plan, parentTensors(parentCkpt));
    expect(sliced.tensors.size).toBeGreaterThan(100);
    for (const [name, entry] of sliced.tensors) {
      expect(reader.has(name), name).toBe(true);
      expect(reader.shape(name), name).toEqual(entry.shape);
      const got = await reader.read(name);
      expect(got.dtype, name).toBe(entry.dtype);
      expect(Buffer.from(got.bytes).equals(Buffer.from(await sliced.read(name))), name).toBe(true);
    }
    expect(reader.has(`${LM}layers.10.mlp.gate_proj.weight`)).toBe(false);
    expect(reader.has(`${LM}layers.9.mlp.gate_proj.weight`)).toBe(true);
    await expect(reader.read(`${LM}layers.10.mlp.gate_proj.weight`)).rejects.toMatchObject({ code: 'BAD_CHECKPOINT' });
  });

  it.each(SLICES)('slices %s element by element as the notebook does', async (name) => {
    const ckpt = await open();
    const plan = planSlice(parent, sliceOf(name));
    const reader = sliceReader(plan, parentTensors(ckpt));
    const { hiddenSizePerLayerInput: P, numLayers: N } = plan.config.text;
    const L = parent.text.numLayers;
    const get = async (n: string) => toF32(await ckpt.read(n), ckpt.tensors.get(n)!);
    const sliced = async (n: string) => toF32((await reader.read(n)).bytes, { name: n, dtype: 'BF16', file: 'sliced' });
    for (let j = 0; j < N; j++) {
      const i = plan.keptLayers[j];
      const w = plan.config.text.intermediateSize[j];
      const [I, D] = ckpt.tensors.get(`${LM}layers.${i}.mlp.up_proj.weight`)!.shape;
      const up = await get(`${LM}layers.${i}.mlp.up_proj.weight`);
      expectSameBits(await sliced(`${LM}layers.${j}.mlp.up_proj.weight`), up.subarray(0, w * D), `${LM}layers.${j}.mlp.up_proj.weight`);
      const down = await get(`${LM}layers.${i}.mlp.down_proj.weight`);
      const want = new Float32Array(D * w);
      for (let r = 0; r < D; r++) for (let c = 0; c < w; c++) want[r * w + c] = down[r * I + c];
      expectSameBits(await sliced(`${LM}layers.${j}.mlp.down_proj.weight`), want, `${LM}layers.${j}.mlp.down_proj.weight`);
      expectSameBits(await sliced(`${LM}layers.${j}.laurel.linear_left.weight`), await get(`${LM}layers.${i}.laurel.linear_left.weight`), `${LM}layers.${j}.laurel.linear_left.weight`);
    }
    const [V, cols] = ckpt.tensors.get(`${LM}embed_tokens_per_layer.weight`)!.shape;
    expect(cols).toBe(L * P);
    const ple = await get(`${LM}embed_tokens_per_layer.weight`);
    const wantPle = new Float32Array(V * N * P);
    for (let v = 0; v < V; v++) for (let j = 0; j < N; j++) for (let k = 0; k < P; k++) wantPle[(v * N + j) * P + k] = ple[(v * L + plan.keptLayers[j]) * P + k];
    expectSameBits(await sliced(`${LM}embed_tokens_per_layer.weight`), wantPle, `${LM}embed_tokens_per_layer.weight`);
    const H = parent.text.hiddenSize;
    const proj = await get(`${LM}per_layer_model_projection.weight`);
    const wantProj = new Float32Array(N * P * H);
    for (let j = 0; j < N; j++) wantProj.set(proj.subarray(plan.keptLayers[j] * P * H, (plan.keptLayers[j] + 1) * P * H), j * P * H);
    expectSameBits(await sliced(`${LM}per_layer_model_projection.weight`), wantProj, `${LM}per_layer_model_projection.weight`);
  });

  it('describes each transform as merged byte ranges of the parent tensor', () => {
    const plan = planSlice(parent, sliceOf('e2b-like'));
    const identity = planSlice(parent, sliceOf('identity'));
    expect(parentTensorName(plan, `${LM}layers.5.self_attn.q_proj.weight`)).toBe(`${LM}layers.10.self_attn.q_proj.weight`);
    expect(parentTensorName(plan, `${LM}layers.10.self_attn.q_proj.weight`)).toBeUndefined();
    expect(parentTensorName(plan, `${LM}norm.weight`)).toBe(`${LM}norm.weight`);
    expect(sliceRanges(plan, `${LM}layers.0.mlp.gate_proj.weight`, [256, 128], 2)).toEqual([{ start: 0, length: 128 * 128 * 2 }]);
    const down = sliceRanges(plan, `${LM}layers.0.mlp.down_proj.weight`, [128, 256], 2);
    expect(down).toHaveLength(128);
    expect(down[1]).toEqual({ start: 512, length: 256 });
    expect(sliceRanges(identity, `${LM}layers.0.mlp.down_proj.weight`, [128, 256], 4)).toEqual([{ start: 0, length: 128 * 256 * 4 }]);
    expect(sliceRanges(plan, `${LM}per_layer_model_projection.weight`, [240, 128], 2)).toEqual([
      { start: 0, length: 5 * 16 * 128 * 2 },
      { start: 10 * 16 * 128 * 2, length: 5 * 16 * 128 * 2 },
    ]);
    expect(sliceRanges(plan, `${LM}embed_tokens_per_layer.weight`, [2, 240], 4)).toEqual([
      { start: 0, length: 80 * 4 },
      { start: 160 * 4, length: 160 * 4 },
      { start: 400 * 4, length: 80 * 4 },
    ]);
    expect(sliceRanges(identity, `${LM}embed_tokens_per_layer.weight`, [992, 240], 2)).toEqual([{ start: 0, length: 992 * 240 * 2 }]);
    expect(slicedShape(plan, `${LM}embed_tokens_per_layer.weight`, [992, 240])).toEqual([992, 160]);
    expectSliceError(() => sliceRanges(plan, `${LM}per_layer_model_projection.weight`, [160, 128], 2), 'tensor-shape');
    expectSliceError(() => sliceRanges(plan, `${LM}layers.0.mlp.up_proj.weight`, [64, 128], 2), 'tensor-shape');
  });
});
