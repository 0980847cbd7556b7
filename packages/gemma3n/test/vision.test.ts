import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readF32 } from '@g3n/gpu';
import { openModelDir } from '@g3n/weights';
import { nodeFileSource } from '@g3n/weights/node';
import { testGpu } from '../../kernels/test/util.ts';
import { parseConfig } from '../src/config.ts';
import { loadTextModel } from '../src/load.ts';
import { VisionInputError, VisionTowerMissingError } from '../src/vision/errors.ts';
import { loadVisionTower, type EncodedImage, type VisionTower } from '../src/vision/tower.ts';
import { checkLogits, FIXTURES, ids, loadGolden, readJson, relL2, tensor, type GoldenTensor } from './golden.ts';

const DIR = join(FIXTURES, 'gemma3n-tiny-vision-a');
/** Fixture README: stage outputs and last_hidden_state max |diff| <= 1e-3 and rel L2 <= 1e-4; soft tokens max |diff| <= 1e-3. */
const MAX_ABS = 1e-3;
const REL_L2 = 1e-4;
/** End to end (263-token prompt): max |diff| <= 5e-2, mean |diff| <= 5e-3, greedy ids exact. */
const E2E = { maxAbs: 5e-2, meanAbs: 5e-3 };
const STAGES = ['vision_tower.stem_first4ch', 'vision_tower.stage0', 'vision_tower.stage1', 'vision_tower.stage2', 'vision_tower.stage3', 'vision_tower.last_hidden_state', 'vision_soft_tokens'];

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Number.isNaN(a[i]) ? Infinity : Math.abs(a[i] - b[i]));
  return m;
}

let tower: VisionTower;
let golden: Map<string, GoldenTensor>;
let enc: EncodedImage;

describe('Gemma 3n vision tower on gemma3n-tiny-vision-a', () => {
  beforeAll(async () => {
    golden = await loadGolden(join(DIR, 'golden.safetensors'));
    const weights = await openModelDir(nodeFileSource(DIR));
    tower = await loadVisionTower(await testGpu(), parseConfig(weights.config), weights);
    const px = golden.get('pixel_values')!;
    [enc] = await tower.encode([{ data: px.data, shape: px.shape }], { capture: STAGES });
  }, 2_400_000);
  afterAll(() => {
    enc?.softTokens.buffer.destroy();
    tower?.destroy();
  });

  it('every stage, last_hidden_state and the soft tokens match the goldens (first diverging stage named)', async () => {
    const report = STAGES.map((name) => {
      const got = enc.captures.get(name)!;
      const want = golden.get(name)!;
      expect(got.shape, `${name} shape`).toEqual(want.shape);
      return { name, maxAbs: maxAbsDiff(got.data, want.data), relL2: relL2(got.data, want.data) };
    });
    const first = report.find((r) => !(r.maxAbs <= MAX_ABS) || (r.name !== 'vision_soft_tokens' && !(r.relL2 <= REL_L2)));
    expect(first, `first diverging stage: ${JSON.stringify(first)}; all: ${JSON.stringify(report)}`).toBeUndefined();
    const soft = await readF32(tower.gpu, enc.softTokens);
    expect(maxAbsDiff(soft, tensor(golden, 'vision_soft_tokens'))).toBeLessThanOrEqual(MAX_ABS);
  });

  it('end to end: the soft tokens fill the image placeholders; prefill logits and greedy ids match', async () => {
    const meta = await readJson<{ e2e_prefill_top1_top2_margin: number[]; e2e_generated_ids: number[] }>(join(DIR, 'golden.json'));
    const weights = await openModelDir(nodeFileSource(DIR));
    const cfg = parseConfig(weights.config);
    const prompt = ids(golden, 'e2e.prompt_ids');
    const steps = meta.e2e_generated_ids.length;
    const read: string[] = [];
    const spy = { config: weights.config, tensors: weights.tensors, readTensorData: (n: string) => (read.push(n), weights.readTensorData(n)) };
    const model = await loadTextModel(tower.gpu, spy, { maxContext: prompt.length + steps, maxChunk: prompt.length });
    try {
      expect(read.filter((n) => n.startsWith('model.vision_tower.')), 'a text-only load reads no vision tower tensor').toEqual([]);
      const V = model.cfg.vocabSize;
      const { logits } = await model.prefill(prompt, { allLogits: true, softTokens: [{ tokenId: cfg.imageTokenId!, embeds: enc.softTokens, count: tower.config.tokensPerImage }] });
      const c = checkLogits(logits, tensor(golden, 'e2e.prefill_logits'), V, meta.e2e_prefill_top1_top2_margin);
      expect(c.maxAbs, 'prefill max |diff|').toBeLessThanOrEqual(E2E.maxAbs);
      expect(c.meanAbs, 'prefill mean |diff|').toBeLessThanOrEqual(E2E.meanAbs);
      expect(c.top1Mismatches, 'prefill argmax differs at rows').toEqual([]);
      const generated: number[] = [];
      let last = logits.subarray((prompt.length - 1) * V);
      for (let step = 0; step < steps; step++) {
        let best = 0;
        for (let i = 1; i < V; i++) if (last[i] > last[best]) best = i;
        generated.push(best);
        if (step + 1 < steps) last = await model.decode(best);
      }
      expect(generated).toEqual(meta.e2e_generated_ids);
    } finally {
      model.destroy();
    }
  }, 300_000);

  it('typed errors: wrong pixel_values shape, a checkpoint without a vision tower', async () => {
    await expect(tower.encode([{ data: new Float32Array(2 * 64 * 64), shape: [2, 64, 64] }])).rejects.toThrow(VisionInputError);
    await expect(tower.encode([{ data: new Float32Array(3 * 64 * 60), shape: [3, 64, 64] }])).rejects.toThrow(/pixel_values/);
    const text = await openModelDir(nodeFileSource(join(FIXTURES, 'gemma3n-tiny-a')));
    await expect(loadVisionTower(tower.gpu, parseConfig(text.config), text)).rejects.toThrow(VisionTowerMissingError);
    const weights = await openModelDir(nodeFileSource(DIR));
    const noTower = { tensors: new Map<string, { shape: readonly number[] }>([...weights.tensors].filter(([n]) => !n.startsWith('model.vision_tower.'))), readTensorData: (n: string) => weights.readTensorData(n) };
    await expect(loadVisionTower(tower.gpu, parseConfig(weights.config), noTower)).rejects.toMatchObject({ code: 'BAD_CHECKPOINT', name: 'VisionTowerMissingError' });
  });
});
