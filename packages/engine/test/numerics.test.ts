/**
 * The checkNumerics load option: a checkpoint whose weights are all finite but whose layer 5 overflows
 * (two rows of its MLP down projection near the bf16 maximum) is refused by load's warm-up with NUMERIC;
 * with checkNumerics the error names layer 5, without it only the step. (The healthy checkpoint with the
 * option is run by packages/gemma3n/test/numerics.test.ts.)
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointWith } from '../../gemma3n/test/damaged.ts';
import { GPU_TEST_TIMEOUT, nodeEngine, serveFiles, tokenizerJson, TINY_DIR } from './helpers.ts';

const LM = 'model.language_model.';

describe('engine.load({ checkNumerics })', { timeout: GPU_TEST_TIMEOUT }, () => {
  let overflow: { base: string; close(): Promise<void> };
  beforeAll(async () => {
    const dir = await checkpointWith(TINY_DIR, `${LM}layers.5.mlp.down_proj.weight`, Array.from({ length: 2 * 320 }, () => 3e38));
    overflow = await serveFiles({ '/m/config.json': join(dir, 'config.json'), '/m/model.safetensors': join(dir, 'model.safetensors') });
  });
  afterAll(async () => {
    await overflow?.close();
  });

  it('names the first layer with a non-finite output; without it, NUMERIC names only the step', async () => {
    const { engine } = nodeEngine();
    const options = { model: `${overflow.base}m/`, tokenizer: tokenizerJson, maxContext: 32, maxChunk: 8, cache: false };
    try {
      const checked = await engine.load({ ...options, checkNumerics: true }).catch((e: unknown) => e);
      expect(checked).toMatchObject({ code: 'NUMERIC' });
      expect((checked as Error).message).toMatch(/at prefill: the first stage with a non-finite output is layers\.5\.\w+ \(layer 5\)/);
      const plain = await engine.load(options).catch((e: unknown) => e);
      expect(plain).toMatchObject({ code: 'NUMERIC' });
      expect((plain as Error).message).toMatch(/in the logits at prefill; load the model with checkNumerics/);
      expect((plain as Error).message).not.toMatch(/layer 5/);
    } finally {
      await engine.unload();
    }
  });
});
