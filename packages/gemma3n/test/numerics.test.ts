import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openModelDir } from '@g3n/weights';
import { nodeFileSource } from '@g3n/weights/node';
import { testGpu } from '../../kernels/test/util.ts';
import { NumericError } from '../src/errors.ts';
import { loadTextModel } from '../src/load.ts';
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
