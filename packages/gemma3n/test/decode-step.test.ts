/**
 * The fused decode step (decode-step.ts) against the unfused kernels, token by token: the same logits
 * within f32 rounding and the same greedy tokens, on the tiny fixture as stored (bf16), quantized at load
 * (q4 and q8), with the PLE table on the host, and on a MatFormer slice with skipped layers; decode runs
 * past the 16-position sliding window, so the ring-buffer KV append is exercised. The goldens themselves
 * are checked by decoder.test.ts and the MatFormer tests, whose decode steps run the fused step. Also:
 * the fused plan's dispatches per layer.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openModelDir } from '@g3n/weights';
import { nodeFileSource } from '@g3n/weights/node';
import { testGpu } from '../../kernels/test/util.ts';
import { loadTextModel, type LoadTextModelOptions } from '../src/load.ts';
import { parseSliceJson } from '../src/matformer/slice.ts';
import type { Gemma3nTextModel } from '../src/model.ts';
import { FIXTURES, ids, loadGolden } from './golden.ts';

const A = join(FIXTURES, 'gemma3n-tiny-a');
const MATFORMER = join(FIXTURES, 'gemma3n-tiny-matformer');

interface Run {
  logits: Float32Array[];
  tokens: number[];
  dispatches: number;
}

/** A prompt, then `steps` greedy decode steps; the logits of every step. */
async function greedy(model: Gemma3nTextModel, prompt: number[], steps: number): Promise<Run> {
  const logits = [(await model.prefill(prompt)).logits.slice()];
  const tokens: number[] = [];
  for (let s = 0; s < steps; s++) {
    const last = logits[logits.length - 1];
    let best = 0;
    for (let i = 1; i < last.length; i++) if (last[i] > last[best]) best = i;
    tokens.push(best);
    logits.push((await model.decode(best)).slice());
  }
  // The recorded one-token plan of model.decode (its dispatch count is what the fused step changes).
  const plans = (model as unknown as { decodePlans: Map<string, { plan: { dispatches: readonly unknown[] } }> }).decodePlans;
  return { logits, tokens, dispatches: plans.get('logits')?.plan.dispatches.length ?? 0 };
}

async function compare(dir: string, options: LoadTextModelOptions, steps: number) {
  const gpu = await testGpu();
  const prompt = ids(await loadGolden(join(A, 'golden.safetensors')), 'prompt_ids').slice(0, 10);
  const runs: Run[] = [];
  let layers = 0;
  // 10 prompt tokens and 8 steps pass the fixture's 16-position sliding window.
  for (const fusedDecode of [false, true]) {
    const model = await loadTextModel(gpu, await openModelDir(nodeFileSource(dir)), { maxContext: 64, maxChunk: 48, ...options, fusedDecode });
    try {
      layers = model.cfg.numLayers;
      runs.push(await greedy(model, prompt, steps));
    } finally {
      model.destroy();
    }
  }
  const [unfused, fused] = runs;
  expect(fused.tokens).toEqual(unfused.tokens);
  for (let s = 1; s <= steps; s++) {
    let maxDiff = 0;
    let scale = 0;
    for (let i = 0; i < fused.logits[s].length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(fused.logits[s][i] - unfused.logits[s][i]));
      scale = Math.max(scale, Math.abs(unfused.logits[s][i]));
    }
    expect(maxDiff, `step ${s}: max |fused - unfused| (logits up to ${scale.toFixed(2)})`).toBeLessThanOrEqual(2e-5 * Math.max(scale, 1) * 10);
  }
  // Per layer: layer_in, q/k/v, qkv_post, attention (2), o_proj, post_attn, FFN (1; sparse: gate, top-k, masked up),
  // down_proj, layer_out, PLE gate, PLE projection; plus about a dozen before and after the layers.
  expect(fused.dispatches, `fused plan: ${fused.dispatches} dispatches for ${layers} layers (unfused ${unfused.dispatches})`).toBeLessThanOrEqual(13 * layers + 16);
  expect(unfused.dispatches).toBeGreaterThan(30 * layers);
}

describe('fused decode step equals the unfused kernels', () => {
  it('gemma3n-tiny-a as stored (bf16): same tokens, logits within f32 rounding, past the sliding window; <= 13 dispatches per layer', async () => {
    await compare(A, {}, 8);
  }, 300_000);

  it('quantized at load (q4) and q8 with the PLE table on the host', async () => {
    await compare(A, { format: 'q4' }, 3);
    await compare(A, { format: 'q8', ple: 'host' }, 3);
  }, 300_000);

  it('a MatFormer slice that skips layers (mix-block-skip)', async () => {
    const slice = parseSliceJson(JSON.parse(await readFile(join(MATFORMER, 'slices', 'mix-block-skip.json'), 'utf8')));
    await compare(MATFORMER, { matformer: slice }, 3);
  }, 300_000);
});
