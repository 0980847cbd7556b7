/**
 * Artifacts through the real model (Dawn + SwiftShader): a lossless (bf16) artifact gives the same logits as
 * the checkpoint, bit for bit; q8 / q4 artifacts are compared with plain group-32 absmax quantization on load.
 * The model package sits above this one, so it is imported by path, as a test-only dependency.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testGpu } from '../../kernels/test/util.ts';
import { Gemma3nTextModel, loadTextModel, type WeightFormat } from '../../gemma3n/src/index.ts';
import { ids, loadGolden, tensor, type GoldenTensor } from '../../gemma3n/test/golden.ts';
import { convertCheckpoint } from '../src/artifact/convert.ts';
import type { QuantName } from '../src/artifact/manifest.ts';
import { checkpointWeights, openArtifact } from '../src/artifact/reader.ts';
import { memoryFiles, memorySink, TINY, tinyCheckpoint } from './artifact-util.ts';

const OPTIONS = { maxContext: 64, maxChunk: 48 };
let golden: Map<string, GoldenTensor>;
let prompt: number[];

beforeAll(async () => {
  golden = await loadGolden(join(TINY, 'golden.safetensors'));
  prompt = ids(golden, 'prompt_ids');
});

async function artifactModel(quant: QuantName): Promise<Gemma3nTextModel> {
  const sink = memorySink();
  await convertCheckpoint(await tinyCheckpoint(), { quant, modelId: 'tiny', revision: quant, shardBytes: 256 << 10 }, sink);
  const art = await openArtifact(memoryFiles(sink.files));
  return loadTextModel(await testGpu(), art, OPTIONS);
}

async function checkpointModel(format: WeightFormat): Promise<Gemma3nTextModel> {
  return loadTextModel(await testGpu(), checkpointWeights(await tinyCheckpoint()), { ...OPTIONS, format });
}

async function prefillLogits(model: Gemma3nTextModel): Promise<Float32Array> {
  model.reset();
  const { logits } = await model.prefill(prompt, { allLogits: true });
  return logits;
}

/** Cosine similarity of each position's logits with the golden's: min and mean. */
function cosines(got: Float32Array, want: Float32Array, V: number): { min: number; mean: number } {
  const all: number[] = [];
  for (let r = 0; r < want.length / V; r++) {
    let [dot, a, b] = [0, 0, 0];
    for (let i = r * V; i < (r + 1) * V; i++) {
      dot += got[i] * want[i];
      a += got[i] * got[i];
      b += want[i] * want[i];
    }
    all.push(dot / Math.sqrt(a * b));
  }
  return { min: Math.min(...all), mean: all.reduce((x, y) => x + y, 0) / all.length };
}

describe('artifacts of gemma3n-tiny-a through the text model', () => {
  const models: Gemma3nTextModel[] = [];
  afterAll(() => models.forEach((m) => m.destroy()));
  const keep = (m: Gemma3nTextModel) => (models.push(m), m);

  it("a bf16 artifact gives the checkpoint's prefill logits bit for bit, so the golden's too", async () => {
    const fromCheckpoint = await prefillLogits(keep(await checkpointModel('auto')));
    const model = keep(await artifactModel('bf16'));
    const logits = await prefillLogits(model);
    expect(logits.length).toBe(fromCheckpoint.length);
    expect(logits.every((v, i) => Object.is(v, fromCheckpoint[i]))).toBe(true);
    const V = model.cfg.vocabSize;
    const last = logits.subarray(logits.length - V);
    let best = 0;
    for (let i = 1; i < V; i++) if (last[i] > last[best]) best = i;
    expect(best).toBe(ids(golden, 'generated_ids')[0]);
    expect(cosines(logits, tensor(golden, 'prefill_logits'), V).min).toBeGreaterThan(0.9999);
  });

  for (const quant of ['q8', 'q4'] as const) {
    it(`${quant}: prefill-logit cosine against the f32 golden is no worse than plain absmax group-32 quantization`, async () => {
      const want = tensor(golden, 'prefill_logits');
      const plainModel = keep(await checkpointModel(quant));
      const V = plainModel.cfg.vocabSize;
      const plain = cosines(await prefillLogits(plainModel), want, V);
      const ours = cosines(await prefillLogits(keep(await artifactModel(quant))), want, V);
      console.log(`${quant} prefill logits vs golden: artifact cosine min ${ours.min.toFixed(6)} mean ${ours.mean.toFixed(6)}; plain group-32 absmax min ${plain.min.toFixed(6)} mean ${plain.mean.toFixed(6)}`);
      expect(ours.min).toBeGreaterThanOrEqual(plain.min - 1e-6);
      expect(ours.mean).toBeGreaterThanOrEqual(plain.mean - 1e-6);
    });
  }
});
