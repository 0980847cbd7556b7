import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openModelDir } from '@g3n/weights';
import { nodeFileSource } from '@g3n/weights/node';
import { testGpu } from '../../kernels/test/util.ts';
import { loadTextModel } from '../src/load.ts';
import { parseSliceJson } from '../src/matformer/slice.ts';
import type { Gemma3nTextModel } from '../src/model.ts';
import { checkLogits, FIXTURES, ids, loadGolden, readJson, relL2, tensor } from './golden.ts';

const DIR = join(FIXTURES, 'gemma3n-tiny-matformer');
const SLICES = ['e2b-like', 'mix-layer', 'mix-block-skip', 'identity'];

async function greedy(model: Gemma3nTextModel, prompt: number[], steps: number, capture: string[]) {
  model.reset();
  const V = model.cfg.vocabSize;
  const { logits, captures } = await model.prefill(prompt, { allLogits: true, capture });
  const generated: number[] = [];
  const decodeLogits = new Float32Array(steps * V);
  let last = logits.subarray((prompt.length - 1) * V);
  for (let s = 0; s < steps; s++) {
    decodeLogits.set(last, s * V);
    let best = 0;
    for (let i = 1; i < V; i++) if (last[i] > last[best]) best = i;
    generated.push(best);
    if (s + 1 < steps) last = await model.decode(best);
  }
  return { prefill: logits, decodeLogits, generated, captures };
}

describe('MatFormer slices of gemma3n-tiny-matformer, sliced at load', () => {
  for (const name of SLICES) {
    it(`${name}: greedy ids exact, logits and intermediates within tolerance`, async () => {
      const gpu = await testGpu();
      const slice = parseSliceJson(JSON.parse(await readFile(join(DIR, 'slices', `${name}.json`), 'utf8')));
      const golden = await loadGolden(join(DIR, `golden-${name}.safetensors`));
      const meta = await readJson<{ generated_ids: number[]; prefill_top1_top2_margin: number[] }>(join(DIR, `golden-${name}.json`));
      const model = await loadTextModel(gpu, await openModelDir(nodeFileSource(DIR)), { matformer: slice, maxContext: 64, maxChunk: 48 });
      try {
        expect(model.cfg.numLayers).toBe(slice.ffnHiddenDims.length);
        const capture = ['inputs_embeds', 'per_layer_inputs', 'final_hidden'];
        for (let l = 0; l < model.cfg.numLayers; l++) capture.push(`layers.${l}.attn_out`, `layers.${l}.mlp_out`);
        const run = await greedy(model, ids(golden, 'prompt_ids'), meta.generated_ids.length, capture);
        for (const n of capture) expect(relL2(run.captures.get(n)!, tensor(golden, `prefill.${n}`)), n).toBeLessThanOrEqual(1e-3);
        const V = model.cfg.vocabSize;
        for (const [label, got, want, margins] of [
          ['prefill', run.prefill, tensor(golden, 'prefill_logits'), meta.prefill_top1_top2_margin],
          ['decode', run.decodeLogits, tensor(golden, 'decode_logits'), null],
        ] as const) {
          const c = checkLogits(got, want, V, margins);
          expect(c.maxAbs, `${label} max |diff|`).toBeLessThanOrEqual(2e-2);
          expect(c.meanAbs, `${label} mean |diff|`).toBeLessThanOrEqual(2e-3);
          expect(c.top1Mismatches, `${label} argmax`).toEqual([]);
        }
        expect(run.generated).toEqual(meta.generated_ids);
      } finally {
        model.destroy();
      }
    });
  }

  it('slicing e2b-like at load equals loading the pre-sliced checkpoint', async () => {
    const gpu = await testGpu();
    const slice = parseSliceJson(JSON.parse(await readFile(join(DIR, 'slices', 'e2b-like.json'), 'utf8')));
    const golden = await loadGolden(join(DIR, 'golden-e2b-like.safetensors'));
    const prompt = ids(golden, 'prompt_ids');
    const atLoad = await loadTextModel(gpu, await openModelDir(nodeFileSource(DIR)), { matformer: slice, maxContext: 52, maxChunk: 48 });
    const a = await greedy(atLoad, prompt, 4, []);
    atLoad.destroy();
    const direct = await loadTextModel(gpu, await openModelDir(nodeFileSource(join(DIR, 'sliced-e2b-like'))), { maxContext: 52, maxChunk: 48 });
    const b = await greedy(direct, prompt, 4, []);
    direct.destroy();
    expect(a.generated).toEqual(b.generated);
    expect(Array.from(a.prefill)).toEqual(Array.from(b.prefill));
    expect(Array.from(a.decodeLogits)).toEqual(Array.from(b.decodeLogits));
  });

  it('rejects a slice that skips a KV producer, with a typed error', async () => {
    const gpu = await testGpu();
    const bad = { name: 'bad', layersSkipped: [3], ffnHiddenDims: Array(14).fill(128) };
    await expect(loadTextModel(gpu, await openModelDir(nodeFileSource(DIR)), { matformer: bad })).rejects.toMatchObject({ code: 'BAD_SLICE' });
  });
});
