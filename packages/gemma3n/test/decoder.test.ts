import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openModelDir } from '@g3n/weights';
import { nodeFileSource } from '@g3n/weights/node';
import { freshGpu, testGpu } from '../../kernels/test/util.ts';
import { loadTextModel } from '../src/load.ts';
import type { Gemma3nTextModel } from '../src/model.ts';
import { fastPrefillFrom, prefillLayerRows } from '../src/forward.ts';
import { runFinal, runLayers } from '../src/stages.ts';
import { checkLogits, FIXTURES, ids, loadGolden, readJson, relL2, tensor, type GoldenTensor } from './golden.ts';

const DIR = join(FIXTURES, 'gemma3n-tiny-a');
const LOGITS = { maxAbs: 2e-2, meanAbs: 2e-3 };
const INTERMEDIATE_REL_L2 = 1e-3;

let model: Gemma3nTextModel;
let golden: Map<string, GoldenTensor>;
let meta: { prefill_top1_top2_margin: number[]; mm_top1_top2_margin: number[]; generated_ids: number[] };

async function freshModel(): Promise<Gemma3nTextModel> {
  return loadTextModel(await testGpu(), await openModelDir(nodeFileSource(DIR)), { maxContext: 64, maxChunk: 48 });
}

function expectLogits(label: string, got: Float32Array, want: Float32Array, V: number, margins: number[] | null) {
  const c = checkLogits(got, want, V, margins);
  expect(c.maxAbs, `${label}: max |diff|`).toBeLessThanOrEqual(LOGITS.maxAbs);
  expect(c.meanAbs, `${label}: mean |diff|`).toBeLessThanOrEqual(LOGITS.meanAbs);
  expect(c.top1Mismatches, `${label}: argmax differs at rows`).toEqual([]);
}

describe('Gemma 3n text decoder on gemma3n-tiny-a', () => {
  beforeAll(async () => {
    golden = await loadGolden(join(DIR, 'golden.safetensors'));
    meta = await readJson(join(DIR, 'golden.json'));
    model = await freshModel();
  });
  afterAll(() => model?.destroy());

  it('prefill: logits of every position and every intermediate', async () => {
    const L = model.cfg.numLayers;
    const names = ['inputs_embeds', 'per_layer_inputs', 'altup_init', 'final_hidden'];
    for (let l = 0; l < L; l++) names.push(`layers.${l}.attn_out`, `layers.${l}.mlp_out`, `layers.${l}.output`);
    model.reset();
    const { logits, captures } = await model.prefill(ids(golden, 'prompt_ids'), { allLogits: true, capture: names });
    const errors = names.map((n) => [n, relL2(captures.get(n)!, tensor(golden, `prefill.${n}`))] as const);
    const first = errors.find(([, e]) => !(e <= INTERMEDIATE_REL_L2));
    expect(first, `first diverging stage: ${first?.[0]} (rel L2 ${first?.[1]})`).toBeUndefined();
    expectLogits('prefill', logits, tensor(golden, 'prefill_logits'), model.cfg.vocabSize, meta.prefill_top1_top2_margin);
  });

  it('greedy decode with the KV cache reproduces the golden tokens and logits', async () => {
    const V = model.cfg.vocabSize;
    model.reset();
    const prompt = ids(golden, 'prompt_ids');
    const { logits } = await model.prefill(prompt);
    const want = tensor(golden, 'decode_logits');
    const generated: number[] = [];
    let last = logits;
    for (let step = 0; step < meta.generated_ids.length; step++) {
      expectLogits(`decode step ${step}`, last, want.subarray(step * V, (step + 1) * V), V, null);
      let best = 0;
      for (let i = 1; i < V; i++) if (last[i] > last[best]) best = i;
      generated.push(best);
      if (step + 1 < meta.generated_ids.length) last = await model.decode(best);
    }
    expect(generated).toEqual(meta.generated_ids);
    expect(generated).toEqual(ids(golden, 'generated_ids'));
  });

  it('multimodal special-token ids use the embed_vision / embed_audio hard path', async () => {
    model.reset();
    const { logits, captures } = await model.prefill(ids(golden, 'mm_prompt_ids'), { allLogits: true, capture: ['inputs_embeds'] });
    expect(relL2(captures.get('inputs_embeds')!, tensor(golden, 'mm_inputs_embeds'))).toBeLessThanOrEqual(INTERMEDIATE_REL_L2);
    expectLogits('mm', logits, tensor(golden, 'mm_logits'), model.cfg.vocabSize, meta.mm_top1_top2_margin);
  });

  it('each layer reproduces its golden output from the golden input of the layer before', async () => {
    const L = model.cfg.numLayers;
    const T = ids(golden, 'prompt_ids').length;
    const perLayer = tensor(golden, 'prefill.per_layer_inputs');
    for (let l = 0; l < L; l++) {
      const input = tensor(golden, l === 0 ? 'prefill.altup_init' : `prefill.layers.${l - 1}.output`);
      const names = [`layers.${l}.attn_out`, `layers.${l}.mlp_out`, `layers.${l}.output`];
      const got = await runLayers(model, l, l + 1, T, input, perLayer, names);
      for (const n of names) expect(relL2(got.get(n)!, tensor(golden, `prefill.${n}`)), `layer ${l}: ${n}`).toBeLessThanOrEqual(INTERMEDIATE_REL_L2);
    }
    const fin = await runFinal(model, T, tensor(golden, `prefill.layers.${L - 1}.output`), ['final_hidden', 'logits']);
    expect(relL2(fin.get('final_hidden')!, tensor(golden, 'prefill.final_hidden'))).toBeLessThanOrEqual(INTERMEDIATE_REL_L2);
    expectLogits('final stage', fin.get('logits')!, tensor(golden, 'prefill.logits'), model.cfg.vocabSize, meta.prefill_top1_top2_margin);
  });
});

describe('KV-sharing fast prefill (the shared layers run for the last prompt row only)', () => {
  it('in chunks, fast and full prefill give the golden last logits and decode steps, with fewer layer-rows', async () => {
    const gpu = await testGpu();
    const g = await loadGolden(join(DIR, 'golden.safetensors'));
    const m = await readJson<{ generated_ids: number[] }>(join(DIR, 'golden.json'));
    const prompt = ids(g, 'prompt_ids');
    const want = tensor(g, 'decode_logits');
    const steps = 3;
    const runs: Float32Array[][] = [];
    for (const fastPrefill of [true, false]) {
      // 48 prompt tokens in chunks of 20, 20 and 8: the first two chunks skip the shared layers entirely.
      const mdl = await loadTextModel(gpu, await openModelDir(nodeFileSource(DIR)), { maxContext: 64, maxChunk: 20, fastPrefill });
      try {
        const V = mdl.cfg.vocabSize;
        let { logits } = await mdl.prefill(prompt);
        const got = [logits];
        for (let step = 0; step < steps; step++) {
          expectLogits(`fast=${fastPrefill} step ${step}`, logits, want.subarray(step * V, (step + 1) * V), V, null);
          if (step + 1 < steps) got.push((logits = await mdl.decode(m.generated_ids[step])));
        }
        mdl.reset();
        expect(await mdl.prefillSample(prompt, { temperature: 0, topK: 0, topP: 1, seed: 0 }), `fast=${fastPrefill} prefillSample`).toBe(m.generated_ids[0]);
        runs.push(got);
      } finally {
        mdl.destroy();
      }
    }
    for (let i = 0; i < steps; i++) expect(checkLogits(runs[0][i], runs[1][i], runs[0][i].length, null).maxAbs, `fast vs full, step ${i}`).toBeLessThanOrEqual(1e-4);
    const cfg = model.cfg;
    const from = fastPrefillFrom(cfg);
    expect(from).toBe(cfg.numLayers - 4); // num_kv_shared_layers = 4
    expect(prefillLayerRows(cfg, prompt.length)).toBe(prompt.length * from + (cfg.numLayers - from));
    expect(prefillLayerRows(cfg, prompt.length, false)).toBe(prompt.length * cfg.numLayers);
  });
});

describe('tables larger than the binding limit are split, never bound whole', () => {
  it('with a 200 KiB maxStorageBufferBindingSize the embedding, PLE table and LM head are split and the logits still match', async () => {
    const gpu = await freshGpu({ capLimits: { maxStorageBufferBindingSize: 200 * 1024 } });
    const g = await loadGolden(join(DIR, 'golden.safetensors'));
    const m = await readJson<{ prefill_top1_top2_margin: number[] }>(join(DIR, 'golden.json'));
    const split = await loadTextModel(gpu, await openModelDir(nodeFileSource(DIR)), { maxContext: 48, maxChunk: 48 });
    try {
      expect(split.weights.embedTokens.parts.length).toBeGreaterThan(1);
      expect(split.weights.embedTokensPerLayer.parts.length).toBeGreaterThan(1);
      for (const p of split.weights.embedTokens.parts) expect(p.tensor.byteLength).toBeLessThanOrEqual(200 * 1024);
      const { logits } = await split.prefill(ids(g, 'prompt_ids'), { allLogits: true });
      expectLogits('split prefill', logits, tensor(g, 'prefill_logits'), split.cfg.vocabSize, m.prefill_top1_top2_margin);
    } finally {
      split.destroy();
      gpu.destroy();
    }
  });
});
