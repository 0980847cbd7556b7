/**
 * `ple: 'host'`: the PLE table stays off the GPU, its rows written per pass into a staging tensor in the
 * table's storage format. Logits and tokens are bit for bit those of `ple: 'gpu'` (Float32Arrays compared
 * exactly) on gemma3n-tiny-a (float checkpoint, loaded as stored and as q4), on a q4 artifact, and on a
 * MatFormer slice; decode still submits once per token, creates nothing and reads back 4 bytes.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { submitStats } from '@g3n/gpu';
import { convertCheckpoint, openArtifact, openCheckpoint, openModelDir, type ModelWeights } from '@g3n/weights';
import { nodeFileSource } from '@g3n/weights/node';
import { memoryFiles, memorySink } from '../../weights/test/artifact-util.ts';
import { testGpu } from '../../kernels/test/util.ts';
import { loadTextModel, type LoadTextModelOptions } from '../src/load.ts';
import { parseSliceJson } from '../src/matformer/slice.ts';
import { matrixBytes } from '../src/gpu-weights.ts';
import type { Gemma3nTextModel } from '../src/model.ts';
import { GREEDY } from '../src/sampling.ts';
import { FIXTURES, ids, loadGolden, readJson } from './golden.ts';

const DIR = join(FIXTURES, 'gemma3n-tiny-a');
const SIZES = { maxContext: 64, maxChunk: 20 };

interface Run {
  prefill: Float32Array;
  decode: Float32Array[];
}

/** All-logits prefill of the prompt (in chunks of 20), then greedy decode steps fed on the host. */
async function run(model: Gemma3nTextModel, prompt: number[], steps: number): Promise<Run> {
  model.reset();
  const { logits } = await model.prefill(prompt, { allLogits: true });
  const V = model.cfg.vocabSize;
  const decode: Float32Array[] = [];
  let next = argmax(logits.subarray(logits.length - V));
  for (let s = 0; s < steps; s++) {
    const l = await model.decode(next);
    decode.push(l);
    next = argmax(l);
  }
  return { prefill: logits, decode };
}

function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

/** Load with the PLE table on the GPU and on the host (one device, so pipelines compile once) and compare the logits exactly. */
async function compare(weights: () => Promise<ModelWeights>, options: LoadTextModelOptions, prompt: number[], steps: number): Promise<Gemma3nTextModel> {
  const gpu = await testGpu();
  const onGpu = await loadTextModel(gpu, await weights(), { ...SIZES, ...options, ple: 'gpu' });
  let a: Run;
  try {
    expect(matrixBytes(onGpu.weights.embedTokensPerLayer)).toBeGreaterThan(0);
    a = await run(onGpu, prompt, steps);
  } finally {
    onGpu.destroy();
  }
  const onHost = await loadTextModel(gpu, await weights(), { ...SIZES, ...options, ple: 'host' });
  try {
    expect(onHost.hostPle).not.toBeNull();
    expect(onHost.weights.embedTokensPerLayer.parts, 'no part of the PLE table on the GPU').toEqual([]);
    const b = await run(onHost, prompt, steps);
    expect(b.prefill, 'prefill logits, every position').toEqual(a.prefill);
    b.decode.forEach((l, i) => expect(l, `decode step ${i} logits`).toEqual(a.decode[i]));
    return onHost;
  } catch (e) {
    onHost.destroy();
    throw e;
  }
}

const SLOW = 400_000;

describe("ple: 'host' equals ple: 'gpu' bit for bit", async () => {
  const golden = await loadGolden(join(DIR, 'golden.safetensors'));
  const meta = await readJson<{ generated_ids: number[] }>(join(DIR, 'golden.json'));
  const prompt = ids(golden, 'prompt_ids');
  const tiny = () => openModelDir(nodeFileSource(DIR));

  it('gemma3n-tiny-a as stored: all-logits prefill in chunks and decode logits; then the golden ids sampled on the GPU with one submit, 4 bytes read back and nothing created per token', async () => {
    const model = await compare(tiny, {}, prompt, 2);
    const gpu = model.gpu;
    const device = gpu.device;
    const counts = { buffers: 0, bindGroups: 0 };
    const createBuffer = device.createBuffer.bind(device);
    const createBindGroup = device.createBindGroup.bind(device);
    device.createBuffer = (d) => (counts.buffers++, createBuffer(d));
    device.createBindGroup = (d) => (counts.bindGroups++, createBindGroup(d));
    try {
      expect(model.hostPle!.dtype).toBe('bf16');
      model.reset();
      const tokens = [await model.prefillSample(prompt, GREEDY)];
      tokens.push(await model.decodeSample(GREEDY, 1)); // records the decode plan
      const before = { ...counts, submits: submitStats.submits, read: model.tokenReadback.bytesRead, rows: model.hostPle!.rowsRead };
      const steps = meta.generated_ids.length - tokens.length;
      for (let step = 0; step < steps; step++) tokens.push(await model.decodeSample(GREEDY, tokens.length));
      expect(tokens).toEqual(meta.generated_ids);
      expect(submitStats.submits - before.submits, 'queue submits').toBe(steps);
      expect(model.tokenReadback.bytesRead - before.read, 'bytes read back').toBe(4 * steps);
      expect(model.hostPle!.rowsRead - before.rows, 'PLE rows written').toBe(steps);
      expect(counts.buffers - before.buffers, 'buffers created').toBe(0);
      expect(counts.bindGroups - before.bindGroups, 'bind groups created').toBe(0);
    } finally {
      device.createBuffer = createBuffer;
      device.createBindGroup = createBindGroup;
      model.destroy();
    }
  }, SLOW);

  it('a q4 artifact of gemma3n-tiny-a (the data words and f16 scales of each row), fast prefill off', async () => {
    const sink = memorySink();
    await convertCheckpoint(await openCheckpoint(nodeFileSource(DIR)), { quant: 'q4', modelId: 'tiny-a', revision: 'q4', shardBytes: 256 << 10 }, sink);
    const model = await compare(() => openArtifact(memoryFiles(sink.files)), { fastPrefill: false }, prompt.slice(0, 24), 1);
    expect(model.hostPle!.dtype).toBe('q4');
    model.destroy();
  }, SLOW);

  it('a MatFormer slice (e2b-like of gemma3n-tiny-matformer): the columns of the kept layers in each PLE row, sliced at load', async () => {
    const dir = join(FIXTURES, 'gemma3n-tiny-matformer');
    const slice = parseSliceJson(JSON.parse(await readFile(join(dir, 'slices', 'e2b-like.json'), 'utf8')));
    const g = await loadGolden(join(dir, 'golden-e2b-like.safetensors'));
    const model = await compare(() => openModelDir(nodeFileSource(dir)), { matformer: slice }, ids(g, 'prompt_ids').slice(0, 24), 1);
    expect(model.hostPle!.cols).toBe(model.cfg.numLayers * model.cfg.hiddenSizePerLayerInput);
    model.destroy();
  }, SLOW);
});
