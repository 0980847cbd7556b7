import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openModelDir } from '@g3n/weights';
import { nodeFileSource } from '@g3n/weights/node';
import { testGpu } from '../../kernels/test/util.ts';
import { NumericError } from '../src/errors.ts';
import { loadTextModel } from '../src/load.ts';
import { GREEDY } from '../src/sampling.ts';
import { checkpointWith } from './damaged.ts';
import { FIXTURES } from './golden.ts';

const TINY = join(FIXTURES, 'gemma3n-tiny-a');
const LM = 'model.language_model.';
const OPTIONS = { maxContext: 32, maxChunk: 16 };

async function loadFrom(dir: string, options: Record<string, unknown> = {}) {
  return loadTextModel(await testGpu(), await openModelDir(nodeFileSource(dir)), { ...OPTIONS, ...options });
}

describe('non-finite weights are refused at load, by name', () => {
  const cases: Array<[string, string, number, number, Record<string, unknown>]> = [
    ['NaN in a linear weight (bf16 on the GPU)', `${LM}layers.1.mlp.down_proj.weight`, Number.NaN, 37, {}],
    ['+inf in the embedding table, read in blocks', `${LM}embed_tokens.weight`, Infinity, 5000, { blockBytes: 4096 }],
    ['-inf in a norm vector (f32 on the GPU)', `${LM}layers.0.post_attention_layernorm.weight`, -Infinity, 3, {}],
    ['+inf in the AltUp coefficients (clamped on load)', `${LM}layers.2.altup.correction_coefs.weight`, Infinity, 5, {}],
    ['NaN in a weight quantized to q8 on load (its scale)', `${LM}layers.0.self_attn.q_proj.weight`, Number.NaN, 37, { format: 'q8' }],
    ['NaN in a weight quantized to q4 on load (its scale)', `${LM}layers.3.mlp.gate_proj.weight`, Number.NaN, 37, { format: 'q4' }],
  ];
  it.each(cases)('%s', async (_, tensor, value, at, options) => {
    const dir = await checkpointWith(TINY, tensor, [value], at);
    const err = await loadFrom(dir, options).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(NumericError);
    expect((err as NumericError).code).toBe('NUMERIC');
    expect((err as NumericError).message).toContain(tensor);
    expect((err as NumericError).details.tensor).toBe(tensor);
  });
});

describe('non-finite logits from finite weights raise NUMERIC naming the step', () => {
  // Every weight finite, but the LM head overflows: the final norm's weight near the bf16 maximum.
  const overflowAtHead = () => checkpointWith(TINY, `${LM}norm.weight`, Array.from({ length: 8 }, () => 3e38));
  // ... or layer 5's MLP output overflows (two rows of its down_proj near the maximum), which the debug option names.
  const overflowAtLayer5 = () => checkpointWith(TINY, `${LM}layers.5.mlp.down_proj.weight`, Array.from({ length: 2 * 320 }, () => 3e38));

  it('prefillSample (the sampler flag in the token word) and prefill (logits read back)', async () => {
    const model = await loadFrom(await overflowAtHead());
    try {
      await expect(model.prefillSample([2, 5, 7], GREEDY)).rejects.toThrow(/non-finite values \(NaN or infinity\) in the logits at prefill/);
      model.reset();
      await expect(model.prefill([2, 5, 7])).rejects.toThrow(/non-finite values \(NaN or infinity\) in the logits at prefill/);
    } finally {
      model.destroy();
    }
  });

  it('decodeSample and decode name the step whose logits are non-finite', async () => {
    // The healthy model's first token t; then a copy whose per-layer embedding row of t overflows, so
    // the prompt stays finite and the first decode step (which feeds t) does not.
    const healthy = await loadFrom(TINY);
    const t = await healthy.prefillSample([2, 5, 7], GREEDY);
    healthy.destroy();
    const row = 8 * 16;
    const model = await loadFrom(await checkpointWith(TINY, `${LM}embed_tokens_per_layer.weight`, Array.from({ length: row }, () => 3e38), t * row));
    try {
      expect(await model.prefillSample([2, 5, 7], GREEDY)).toBe(t);
      await expect(model.decodeSample(GREEDY, 1)).rejects.toThrow(/in the logits at decode step 1/);
      model.reset();
      await model.prefill([2, 5, 7]);
      await expect(model.decode(t)).rejects.toThrow(/in the logits at decode step 1/);
    } finally {
      model.destroy();
    }
  });

  it('checkNumerics names the first layer with a non-finite output', async () => {
    const model = await loadFrom(await overflowAtLayer5(), { checkNumerics: true });
    try {
      const err = await model.prefillSample([2, 5, 7, 11], GREEDY).then(() => null, (e: unknown) => e as NumericError);
      expect(err).toBeInstanceOf(NumericError);
      expect(err!.message).toMatch(/at prefill: the first stage with a non-finite output is layers\.5\.\w+ \(layer 5\)/);
      expect(err!.details).toMatchObject({ where: 'prefill', layer: 5 });
      model.reset();
      await expect(model.prefill([2, 5, 7, 11])).rejects.toThrow(/the first stage with a non-finite output is layers\.5\.\w+ \(layer 5\)/);
    } finally {
      model.destroy();
    }
  });

  it('the healthy checkpoint with checkNumerics samples the golden tokens', async () => {
    const model = await loadFrom(TINY, { checkNumerics: true });
    try {
      const t = await model.prefillSample([2, 5, 7], GREEDY);
      expect(t).toBeGreaterThanOrEqual(0);
      expect(t).toBeLessThan(model.cfg.vocabSizePerLayerInput);
      expect(await model.decodeSample(GREEDY, 1)).toBeLessThan(model.cfg.vocabSizePerLayerInput);
    } finally {
      model.destroy();
    }
  });
});
