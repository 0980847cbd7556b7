import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { submitStats } from '@g3n/gpu';
import { openModelDir } from '@g3n/weights';
import { nodeFileSource } from '@g3n/weights/node';
import { testGpu } from '../../kernels/test/util.ts';
import { loadTextModel } from '../src/load.ts';
import { GREEDY } from '../src/sampling.ts';
import { FIXTURES, ids, loadGolden, readJson } from './golden.ts';

const DIR = join(FIXTURES, 'gemma3n-tiny-a');

describe('decode on the GPU sampler: tokens and per-token budgets', () => {
  it('greedy tokens sampled on the GPU equal the golden ids, with one submit, 4 bytes read back and nothing created per token', async () => {
    const gpu = await testGpu();
    const golden = await loadGolden(join(DIR, 'golden.safetensors'));
    const meta = await readJson<{ generated_ids: number[] }>(join(DIR, 'golden.json'));
    const model = await loadTextModel(gpu, await openModelDir(nodeFileSource(DIR)), { maxContext: 64, maxChunk: 48 });
    const device = gpu.device;
    const counts = { buffers: 0, bindGroups: 0 };
    const createBuffer = device.createBuffer.bind(device);
    const createBindGroup = device.createBindGroup.bind(device);
    device.createBuffer = (d) => (counts.buffers++, createBuffer(d));
    device.createBindGroup = (d) => (counts.bindGroups++, createBindGroup(d));
    try {
      const tokens = [await model.prefillSample(ids(golden, 'prompt_ids'), GREEDY)];
      tokens.push(await model.decodeSample(GREEDY, 1)); // records the decode plan
      const before = { ...counts, submits: submitStats.submits, read: model.tokenReadback.bytesRead, pipelines: gpu.pipelines.created };
      const steps = meta.generated_ids.length - tokens.length;
      for (let step = 0; step < steps; step++) tokens.push(await model.decodeSample(GREEDY, tokens.length));
      expect(tokens).toEqual(meta.generated_ids);
      expect(submitStats.submits - before.submits, 'queue submits').toBe(steps);
      expect(model.tokenReadback.bytesRead - before.read, 'bytes read back').toBe(4 * steps);
      expect(counts.buffers - before.buffers, 'buffers created').toBe(0);
      expect(counts.bindGroups - before.bindGroups, 'bind groups created').toBe(0);
      expect(gpu.pipelines.created - before.pipelines, 'pipelines created').toBe(0);
    } finally {
      device.createBuffer = createBuffer;
      device.createBindGroup = createBindGroup;
      model.destroy();
    }
  });

  it('seeded sampling gives the same tokens run after run', async () => {
    const gpu = await testGpu();
    const golden = await loadGolden(join(DIR, 'golden.safetensors'));
    const model = await loadTextModel(gpu, await openModelDir(nodeFileSource(DIR)), { maxContext: 64, maxChunk: 48 });
    const sampling = { temperature: 1, topK: 64, topP: 0.95, seed: 1234 };
    const run = async () => {
      model.reset();
      const out = [await model.prefillSample(ids(golden, 'prompt_ids').slice(0, 16), sampling, 0)];
      for (let s = 1; s < 6; s++) out.push(await model.decodeSample(sampling, s));
      return out;
    };
    try {
      const a = await run();
      const b = await run();
      expect(a).toEqual(b);
      expect(a.every((t) => t >= 0 && t < model.cfg.vocabSizePerLayerInput)).toBe(true);
    } finally {
      model.destroy();
    }
  });
});
