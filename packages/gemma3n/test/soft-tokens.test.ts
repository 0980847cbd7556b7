import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTensor, G3nError } from '@g3n/gpu';
import { openModelDir } from '@g3n/weights';
import { nodeFileSource } from '@g3n/weights/node';
import { testGpu } from '../../kernels/test/util.ts';
import { loadTextModel } from '../src/load.ts';
import type { Gemma3nTextModel, SoftTokens } from '../src/model.ts';
import { GREEDY } from '../src/sampling.ts';
import { checkLogits, FIXTURES, ids, loadGolden, readJson, relL2, tensor, type GoldenTensor } from './golden.ts';

/**
 * The text model's soft-token hook on the goldens' own encoder outputs: the multimodal fixtures' soft
 * tokens replace the placeholder positions, and prefill / greedy decode reproduce the end-to-end goldens
 * (the towers themselves are tested in vision.test.ts and audio.test.ts).
 */
interface Case {
  fixture: string;
  soft: string;
  tokenId: (m: Gemma3nTextModel) => number;
  logits: { maxAbs: number; meanAbs: number };
  /** Tokens per prefill chunk: small enough that a placeholder run crosses chunks. */
  maxChunk: number;
}

const CASES: Case[] = [
  { fixture: 'gemma3n-tiny-vision-a', soft: 'vision_soft_tokens', tokenId: (m) => m.config.imageTokenId!, logits: { maxAbs: 5e-2, meanAbs: 5e-3 }, maxChunk: 100 },
  { fixture: 'gemma3n-tiny-audio-a', soft: 'audio_soft_tokens', tokenId: (m) => m.config.audioTokenId!, logits: { maxAbs: 2e-2, meanAbs: 5e-3 }, maxChunk: 7 },
];

for (const c of CASES) {
  describe(`soft tokens on ${c.fixture}`, () => {
    const dir = join(FIXTURES, c.fixture);
    let model: Gemma3nTextModel;
    let golden: Map<string, GoldenTensor>;
    let meta: { e2e_generated_ids: number[]; e2e_prefill_top1_top2_margin: number[] };
    let prompt: number[];
    let soft: SoftTokens;

    beforeAll(async () => {
      golden = await loadGolden(join(dir, 'golden.safetensors'));
      meta = await readJson(join(dir, 'golden.json'));
      prompt = ids(golden, 'e2e.prompt_ids');
      model = await loadTextModel(await testGpu(), await openModelDir(nodeFileSource(dir)), { maxContext: prompt.length + 16, maxChunk: c.maxChunk });
      const rows = tensor(golden, c.soft);
      soft = { tokenId: c.tokenId(model), embeds: rows, count: rows.length / model.cfg.hiddenSize };
    });
    afterAll(() => model?.destroy());

    it('prefill: the merged embeddings and every position\'s logits match the goldens', async () => {
      model.reset();
      const { logits, captures } = await model.prefill(prompt, { allLogits: true, capture: ['inputs_embeds'], softTokens: [soft] });
      // inputs_embeds is captured from the last chunk only
      const D = model.cfg.hiddenSize;
      const lastStart = Math.floor((prompt.length - 1) / c.maxChunk) * c.maxChunk;
      const want = tensor(golden, 'e2e.inputs_embeds').subarray(lastStart * D);
      expect(relL2(captures.get('inputs_embeds')!, want)).toBeLessThan(1e-5);
      const check = checkLogits(logits, tensor(golden, 'e2e.prefill_logits'), model.cfg.vocabSize, meta.e2e_prefill_top1_top2_margin);
      expect(check.maxAbs).toBeLessThanOrEqual(c.logits.maxAbs);
      expect(check.meanAbs).toBeLessThanOrEqual(c.logits.meanAbs);
      expect(check.top1Mismatches).toEqual([]);
    });

    it('greedy decode after a prefill from a GPU soft-token tensor gives the golden ids', async () => {
      const gpu = await testGpu();
      const onGpu = createTensor(gpu, 'test.soft', 'f32', [soft.count, model.cfg.hiddenSize]);
      gpu.device.queue.writeBuffer(onGpu.buffer, 0, soft.embeds as Float32Array);
      try {
        model.reset();
        let { logits } = await model.prefill(prompt, { softTokens: [{ ...soft, embeds: onGpu }] });
        const out: number[] = [];
        while (out.length < meta.e2e_generated_ids.length) {
          out.push(logits.indexOf(Math.max(...logits)));
          if (out.length < meta.e2e_generated_ids.length) logits = await model.decode(out[out.length - 1]);
        }
        expect(out).toEqual(meta.e2e_generated_ids);
      } finally {
        onGpu.buffer.destroy();
      }
    });

    it('prefillSample takes the soft tokens too (first greedy token)', async () => {
      model.reset();
      expect(await model.prefillSample(prompt, GREEDY, 0, { softTokens: [soft] })).toBe(meta.e2e_generated_ids[0]);
    });

    it('refuses a placeholder count that differs from the soft tokens', async () => {
      model.reset();
      const short = prompt.filter((id, i) => !(id === soft.tokenId && i === prompt.indexOf(soft.tokenId)));
      const err = await model.prefill(short, { softTokens: [soft] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(G3nError);
      expect((err as G3nError).code).toBe('BAD_INPUT');
      expect((err as Error).message).toMatch(new RegExp(`${soft.count - 1} placeholders of id ${soft.tokenId} but 1 input brings ${soft.count} soft tokens`));
      const twice = await model.prefill(prompt, { softTokens: [soft, soft] }).catch((e: unknown) => e);
      expect((twice as G3nError).code).toBe('BAD_INPUT');
      expect(model.position).toBe(0);
    });
  });
}
