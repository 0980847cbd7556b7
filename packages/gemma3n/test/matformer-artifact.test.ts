/**
 * MatFormer slices read from a g3n artifact of gemma3n-tiny-matformer in its stored layout: for every
 * tiny slice the range path gives the CPU slicing path's tensors (a bf16 artifact: the same bytes;
 * q8 / q4: exactly the sliced tensor quantized, data and scales), skipped layers are never read, and
 * the e2b-like slice loaded from the artifact over HTTP ranges fetches exactly its bytes and decodes
 * the golden's greedy ids.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointWeights, convertCheckpoint, encodeBlock, mergeSpans, openArtifact, openArtifactRanges, openCheckpoint, rangeSpans, selectionRanges, type Artifact, type Checkpoint, type QuantName, type Span } from '@g3n/weights';
import { nodeFileSource } from '@g3n/weights/node';
import { startArtifactServer, type ArtifactServer } from '../../../e2e/server/artifact-server.ts';
import { memoryFiles, memorySink } from '../../weights/test/artifact-util.ts';
import { testGpu } from '../../kernels/test/util.ts';
import { parseConfig, type ModelConfig } from '../src/config.ts';
import { loadTextModel } from '../src/load.ts';
import { artifactSliceBytes, artifactSliceReader, artifactSliceTensors } from '../src/matformer/artifact-slice.ts';
import { runtimeBytes } from '../src/matformer/auto.ts';
import { sliceReader } from '../src/matformer/reader.ts';
import { parseSliceJson, planSlice, type SliceConfig, type SlicePlan } from '../src/matformer/slice.ts';
import { FIXTURES, ids, loadGolden, readJson } from './golden.ts';

const DIR = join(FIXTURES, 'gemma3n-tiny-matformer');
const SLICES = ['e2b-like', 'mix-layer', 'mix-block-skip', 'identity'] as const;

let ckpt: Checkpoint;
let parent: ModelConfig;
const slices = new Map<string, SliceConfig>();
const artifacts = new Map<QuantName, { art: Artifact; files: Map<string, Uint8Array> }>();

beforeAll(async () => {
  ckpt = await openCheckpoint(nodeFileSource(DIR));
  parent = parseConfig(ckpt.config);
  for (const name of SLICES) slices.set(name, parseSliceJson(JSON.parse(await readFile(join(DIR, 'slices', `${name}.json`), 'utf8'))));
  for (const quant of ['bf16', 'q8', 'q4'] as const) {
    const sink = memorySink();
    await convertCheckpoint(ckpt, { quant, modelId: 'tiny-matformer', revision: quant, shardBytes: 256 << 10 }, sink);
    artifacts.set(quant, { art: await openArtifact(memoryFiles(sink.files)), files: sink.files });
  }
});

const planOf = (name: string): SlicePlan => planSlice(parent, slices.get(name)!);

describe('a MatFormer slice read from an artifact in its stored layout', () => {
  for (const quant of ['bf16', 'q8', 'q4'] as const) {
    it(`${quant}: every tensor of every tiny slice equals the CPU-sliced tensor stored as the artifact stores it`, async () => {
      const { art } = artifacts.get(quant)!;
      const cpu = checkpointWeights(ckpt);
      let quantized = 0;
      for (const name of SLICES) {
        const plan = planOf(name);
        const reader = artifactSliceReader(parent, plan, art);
        const onCpu = sliceReader(plan, { has: (n) => cpu.tensors.has(n), shape: (n) => cpu.tensors.get(n)?.shape, read: async (n) => (await cpu.readTensorData(n)) as { dtype: 'BF16'; bytes: Uint8Array } });
        for (const t of reader.tensors) {
          const stored = art.manifest.tensors.find((x) => x.name === t.parent)!;
          const shape = onCpu.shape(t.name)!;
          const cols = shape.length ? shape[shape.length - 1] : 1;
          const want = encodeBlock((await onCpu.read(t.name)).bytes, 'BF16', stored.dtype, shape.reduce((a, b) => a * b, 1) / cols, cols, t.name);
          const got = await reader.read(t.name);
          expect(got.dtype, t.name).toBe(stored.dtype);
          expect(Buffer.compare(Buffer.from(got.bytes), Buffer.from(want.data)), `${name} ${t.name} data`).toBe(0);
          if (got.dtype === 'Q8' || got.dtype === 'Q4') {
            quantized++;
            expect(Buffer.compare(Buffer.from(got.scales), Buffer.from(want.scales!)), `${name} ${t.name} scales`).toBe(0);
          }
        }
      }
      if (quant !== 'bf16') expect(quantized).toBeGreaterThan(100);
    });
  }

  it("reads only the slice's bytes: nothing of a skipped layer, FFN prefixes, the kept layers' PLE columns; a smaller slice's bytes lie inside a larger one's", () => {
    const { art } = artifacts.get('q8')!;
    const spansOf = (name: string): Span[] => {
      const tensors = artifactSliceTensors(parent, planOf(name), art.manifest);
      const byName = new Map(art.manifest.tensors.map((t) => [t.name, t]));
      return mergeSpans(tensors.flatMap((t) => selectionRanges(byName.get(t.parent)!, t.selection).flatMap((r) => rangeSpans(r).map(([s, e]): Span => [r.shard * 1e9 + s, r.shard * 1e9 + e]))));
    };
    const e2b = spansOf('e2b-like');
    const identity = spansOf('identity');
    for (const l of slices.get('e2b-like')!.layersSkipped) {
      for (const r of art.manifest.layout.layers[l]) {
        const [s, e] = [r.shard * 1e9 + r.start, r.shard * 1e9 + r.end];
        expect(e2b.some(([a, b]) => a < e && b > s), `layer ${l}`).toBe(false);
      }
    }
    const inside = (a: Span[], b: Span[]) => a.every(([s, e]) => b.some(([x, y]) => x <= s && e <= y));
    expect(inside(e2b, identity)).toBe(true);
    const bytes = (name: string) => artifactSliceBytes(parent, planOf(name), art.manifest);
    expect(bytes('e2b-like')).toBeLessThan(bytes('mix-block-skip'));
    expect(bytes('mix-layer')).toBeLessThan(bytes('identity'));
    expect(bytes('identity')).toBe(artifactSliceBytes(parent, null, art.manifest));
    const ple = artifactSliceTensors(parent, planOf('e2b-like'), art.manifest).find((t) => t.name.endsWith('embed_tokens_per_layer.weight'))!;
    expect(ple.selection.elements).toEqual([
      [0, 5 * 16],
      [10 * 16, 5 * 16],
    ]);
  });
});

describe('loading a slice from an artifact', () => {
  let server: ArtifactServer;
  afterAll(async () => server?.close());

  it('e2b-like from a bf16 artifact over HTTP ranges: fetches exactly its bytes, greedy ids equal the golden', async () => {
    const { files } = artifacts.get('bf16')!;
    const dir = mkdtempSync(join(tmpdir(), 'g3n-matformer-'));
    try {
      for (const [f, b] of files) writeFileSync(join(dir, f), b);
      server = await startArtifactServer({ '/m/': dir });
      const art = await openArtifactRanges(`${server.url}/m/`, { cache: false });
      const gpu = await testGpu();
      const meta = await readJson<{ prompt_ids: number[]; generated_ids: number[] }>(join(DIR, 'golden-e2b-like.json'));
      const golden = await loadGolden(join(DIR, 'golden-e2b-like.safetensors'));
      expect(ids(golden, 'prompt_ids')).toEqual(meta.prompt_ids);
      const reports: number[] = [];
      const model = await loadTextModel(gpu, art, { matformer: slices.get('e2b-like')!, maxContext: 64, maxChunk: 48, onPrefetch: (r) => reports.push(r.networkBytes) });
      try {
        const want = artifactSliceBytes(parent, planOf('e2b-like'), art.manifest);
        expect(reports).toEqual([want]);
        expect(server.gets(/shard-\d+\.bin$/).reduce((a, r) => a + r.sent, 0)).toBe(want);
        expect(model.cfg.numLayers).toBe(10);
        const rt = runtimeBytes(model.cfg, 64, 48);
        expect(model.memoryBytes()).toBe(rt.kvCache + rt.activations);
        const { logits } = await model.prefill(meta.prompt_ids);
        const V = model.cfg.vocabSize;
        const generated: number[] = [];
        let last = logits.subarray(logits.length - V);
        for (let s = 0; s < meta.generated_ids.length; s++) {
          let best = 0;
          for (let i = 1; i < V; i++) if (last[i] > last[best]) best = i;
          generated.push(best);
          if (s + 1 < meta.generated_ids.length) last = await model.decode(best);
        }
        expect(generated).toEqual(meta.generated_ids);
      } finally {
        model.destroy();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it('mix-block-skip from a local q4 artifact loads (quantized slices need no float weights) and prefills', async () => {
    const { art } = artifacts.get('q4')!;
    const model = await loadTextModel(await testGpu(), art, { matformer: slices.get('mix-block-skip')!, maxContext: 16, maxChunk: 8 });
    try {
      expect(model.cfg.intermediateSize).toEqual(slices.get('mix-block-skip')!.ffnHiddenDims);
      const { logits } = await model.prefill([2, 17, 300, 5]);
      expect(logits.every(Number.isFinite)).toBe(true);
    } finally {
      model.destroy();
    }
  }, 300_000);
});
