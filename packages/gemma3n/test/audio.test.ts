import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readF32 } from '@g3n/gpu';
import { openModelDir, type ModelWeights } from '@g3n/weights';
import { nodeFileSource } from '@g3n/weights/node';
import { testGpu } from '../../kernels/test/util.ts';
import { AudioInputError, AudioTower, AudioTowerMissingError, encodeAudio, loadAudioTower } from '../src/audio/index.ts';
import { parseConfig } from '../src/config.ts';
import { loadTextModel } from '../src/load.ts';
import { checkLogits, FIXTURES, ids, loadGolden, tensor, type GoldenTensor } from './golden.ts';

const DIR = join(FIXTURES, 'gemma3n-tiny-audio-a');
/** Fixture README: encoder outputs and soft tokens within 1e-3 (values are O(1)). */
const TOL = 1e-3;

let weights: ModelWeights;
let tower: AudioTower;
let golden: Map<string, GoldenTensor>;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Number.isNaN(a[i] - b[i]) ? Infinity : Math.abs(a[i] - b[i]));
  return m;
}

/** Max |diff| over rows where valid = 1; rows where valid = 0 must be exactly 0 in `got`. */
function validRowsDiff(got: Float32Array, want: Float32Array, valid: ArrayLike<number>, cols: number): number {
  let m = 0;
  for (let r = 0; r < valid.length; r++) {
    for (let j = 0; j < cols; j++) {
      const g = got[r * cols + j];
      if (valid[r]) m = Math.max(m, Number.isNaN(g) ? Infinity : Math.abs(g - want[r * cols + j]));
      else if (g !== 0) return Infinity;
    }
  }
  return m;
}

describe('Gemma 3n audio tower on gemma3n-tiny-audio-a', () => {
  beforeAll(async () => {
    golden = await loadGolden(join(DIR, 'golden.safetensors'));
    weights = await openModelDir(nodeFileSource(DIR));
    const cfg = parseConfig(weights.config);
    tower = await loadAudioTower(await testGpu(), cfg, (n) => weights.readTensorData(n), (n) => weights.tensors.has(n), (n) => weights.tensors.get(n)?.shape);
  });
  afterAll(() => tower?.destroy());

  it('encodes the stored features: every intermediate, the last hidden state and the soft tokens within 1e-3', async () => {
    const c = tower.config;
    const names = ['audio_encoder.sscp_out', ...Array.from({ length: c.numLayers }, (_, l) => `audio_encoder.conformer.${l}.output`), 'audio_encoder.last_hidden_state', 'audio_soft_tokens'];
    const feats = golden.get('input_features')!;
    const enc = await encodeAudio(tower, feats.data, feats.shape, tensor(golden, 'input_features_mask'), { capture: [...names, 'audio_encoder.mask_valid'] });
    try {
      const errors = names.map((n) => [n, maxAbsDiff(enc.captures.get(n)!, tensor(golden, n))] as const);
      const first = errors.find(([, e]) => !(e <= TOL));
      expect(first, `first diverging stage: ${first?.[0]} (max |diff| ${first?.[1]}); all: ${errors.map(([n, e]) => `${n} ${e.toExponential(2)}`).join(', ')}`).toBeUndefined();
      expect(Array.from(enc.valid[0])).toEqual(ids(golden, 'audio_encoder.mask_valid'));
      expect(Array.from(enc.captures.get('audio_encoder.mask_valid')!)).toEqual(ids(golden, 'audio_encoder.mask_valid'));
      expect(maxAbsDiff(await readF32(tower.gpu, enc.hidden), tensor(golden, 'audio_encoder.last_hidden_state'))).toBeLessThanOrEqual(TOL);
      expect(maxAbsDiff(await readF32(tower.gpu, enc.softTokens[0]), tensor(golden, 'audio_soft_tokens'))).toBeLessThanOrEqual(TOL);
    } finally {
      enc.destroy();
    }
  });

  it('encodes a batch of padded clips: valid rows match, padded rows are zero', async () => {
    const feats = golden.get('batch.input_features')!;
    const mask = tensor(golden, 'batch.input_features_mask');
    const enc = await tower.encode(feats.data, feats.shape, mask, { capture: ['audio_encoder.last_hidden_state'] });
    try {
      const D = tower.config.hiddenSize;
      const all = await readF32(tower.gpu, enc.hidden);
      for (let b = 0; b < 2; b++) {
        const valid = ids(golden, `batch.audio_encoder.mask_valid.${b}`);
        expect(Array.from(enc.valid[b]), `clip ${b} mask`).toEqual(valid);
        const want = tensor(golden, `batch.audio_encoder.last_hidden_state.${b}`);
        const got = all.subarray(b * enc.frames * D, (b + 1) * enc.frames * D);
        expect(validRowsDiff(got, want, valid, D), `clip ${b}`).toBeLessThanOrEqual(TOL);
        expect(validRowsDiff(enc.captures.get(`audio_encoder.last_hidden_state.${b}`)!, want, valid, D), `clip ${b} capture`).toBeLessThanOrEqual(TOL);
      }
      expect(enc.valid[1].includes(0), 'the second clip has padded frames').toBe(true);
    } finally {
      enc.destroy();
    }
  });

  it('end to end: the soft tokens fill the audio placeholders; prefill logits within 2e-2 and greedy ids exact', async () => {
    const gpu = await testGpu();
    const model = await loadTextModel(gpu, weights, { maxContext: 64, maxChunk: 48 });
    const feats = golden.get('input_features')!;
    const enc = await tower.encode(feats.data, feats.shape, tensor(golden, 'input_features_mask'));
    try {
      const V = model.cfg.vocabSize;
      const softTokens = [{ tokenId: tower.config.audioTokenId, embeds: enc.softTokens[0], count: tower.config.softTokens }];
      const { logits, captures } = await model.prefill(ids(golden, 'e2e.prompt_ids'), { softTokens, allLogits: true, capture: ['inputs_embeds'] });
      expect(maxAbsDiff(captures.get('inputs_embeds')!, tensor(golden, 'e2e.inputs_embeds')), 'merged input embeddings').toBeLessThanOrEqual(TOL);
      const pre = checkLogits(logits, tensor(golden, 'e2e.prefill_logits'), V, null);
      expect(pre.maxAbs, 'prefill logits max |diff|').toBeLessThanOrEqual(2e-2);
      const want = tensor(golden, 'e2e.decode_logits');
      const expected = ids(golden, 'e2e.generated_ids');
      const generated: number[] = [];
      let last = logits.subarray(logits.length - V);
      for (let step = 0; step < expected.length; step++) {
        expect(checkLogits(last, want.subarray(step * V, (step + 1) * V), V, null).maxAbs, `decode step ${step}`).toBeLessThanOrEqual(2e-2);
        let best = 0;
        for (let i = 1; i < V; i++) if (last[i] > last[best]) best = i;
        generated.push(best);
        if (step + 1 < expected.length) last = await model.decode(best);
      }
      expect(generated).toEqual(expected);
    } finally {
      enc.destroy();
      model.destroy();
    }
  }, 400_000);

  it('refuses features of the wrong shape and a checkpoint without the tower with typed errors', async () => {
    const feats = golden.get('input_features')!;
    await expect(tower.encode(feats.data, [197, 127])).rejects.toThrow(AudioInputError);
    await expect(tower.encode(feats.data.subarray(1), [197, 128])).rejects.toMatchObject({ code: 'BAD_INPUT', reason: 'feature-shape' });
    await expect(tower.encode(feats.data, [197, 128], new Float32Array(5))).rejects.toMatchObject({ reason: 'mask-shape' });
    const cfg = parseConfig(weights.config);
    const read = (n: string) => weights.readTensorData(n);
    await expect(loadAudioTower(tower.gpu, cfg, read, (n) => !n.startsWith('model.audio_tower.'))).rejects.toThrow(AudioTowerMissingError);
    const raw = { ...(weights.config as Record<string, unknown>) };
    delete raw.audio_config;
    await expect(loadAudioTower(tower.gpu, parseConfig(raw), read)).rejects.toMatchObject({ code: 'BAD_CHECKPOINT' });
  });
});
