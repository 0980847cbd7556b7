/**
 * MatFormer through engine.load on the tiny parent gemma3n-tiny-matformer (15 layers, FFN 256): a
 * slice by name (among the fixture's configs.csv) from the Hugging Face checkpoint, a slice config
 * from a bf16 g3n artifact read by HTTP ranges (only the slice's bytes are fetched), and 'auto' under
 * a memory budget and under buffer limits, with ModelInfo.matformer saying what was chosen and why.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseSlice, parseConfig, parseConfigsCsv, parseSliceJson, type PublishedSliceRow } from '@g3n/gemma3n';
import { requestNodeGpu } from '@g3n/gpu/node';
import { convertCheckpoint, openCheckpoint, type Manifest } from '@g3n/weights';
import { nodeArtifactSink, nodeFileSource } from '@g3n/weights/node';
import { startArtifactServer, type ArtifactServer } from '../../../e2e/server/artifact-server.ts';
import { InThreadEngine } from '../src/engine.ts';
import type { LoadOptions, LoadProgress } from '../src/types.ts';
import { GPU_TEST_TIMEOUT, nodeEngine, tokenizerJson } from './helpers.ts';

const DIR = join(import.meta.dirname, '../../../../shared/fixtures/gemma3n-tiny-matformer');
const goldenOf = (name: string) => JSON.parse(readFileSync(join(DIR, `golden-${name}.json`), 'utf8')) as { prompt_ids: number[]; generated_ids: number[] };
const candidates: PublishedSliceRow[] = parseConfigsCsv(readFileSync(join(DIR, 'slices/configs.csv'), 'utf8'));
/** model.safetensors' 8-byte length and its JSON header. */
const HEADER_BYTES = 47_000;
const CONTEXT = { maxContext: 64, maxChunk: 16 };

let server: ArtifactServer;
let artifactDir: string;
let manifest: Manifest;
let engine: InThreadEngine;

const sent = (re: RegExp) => server.gets(re).reduce((a, r) => a + r.sent, 0);
const lastOf = (events: LoadProgress[], phase: LoadProgress['phase']) => events.filter((e) => e.phase === phase).at(-1);

async function greedyIds(name: string, count = 12): Promise<number[]> {
  const r = await engine.chat.completions.create({ messages: [], prompt_token_ids: goldenOf(name).prompt_ids, max_tokens: count, temperature: 0 });
  return r.choices[0].token_ids;
}

describe('MatFormer slices through engine.load', { timeout: GPU_TEST_TIMEOUT }, () => {
  beforeAll(async () => {
    artifactDir = mkdtempSync(join(tmpdir(), 'g3n-engine-matformer-'));
    manifest = await convertCheckpoint(await openCheckpoint(nodeFileSource(DIR)), { quant: 'bf16', modelId: 'tiny-matformer', revision: 'bf16', shardBytes: 256 << 10 }, nodeArtifactSink(artifactDir));
    server = await startArtifactServer({ '/hf/': DIR, '/art/': artifactDir });
    engine = nodeEngine().engine;
  }, GPU_TEST_TIMEOUT);
  afterAll(async () => {
    await engine?.unload();
    await server?.close();
    if (artifactDir) rmSync(artifactDir, { recursive: true, force: true });
  });

  it('a slice by name from the checkpoint gives its golden greedy ids; its progress counts exactly the bytes fetched', async () => {
    const events: LoadProgress[] = [];
    const info = await engine.load({ model: `${server.url}/hf/`, tokenizer: tokenizerJson, matformer: 'mix-block-skip', matformerCandidates: candidates, ...CONTEXT, onProgress: (p) => events.push(p) });
    expect(info).toMatchObject({ numLayers: 10, matformer: { name: 'mix-block-skip', reason: `Requested by name ('mix-block-skip'): "mix-block-skip", 10 of 15 layers.` } });
    const download = lastOf(events, 'download')!;
    expect(download.loadedBytes).toBe(download.totalBytes);
    expect(sent(/hf\/model\.safetensors$/)).toBe(HEADER_BYTES + download.totalBytes);
    expect(await greedyIds('mix-block-skip')).toEqual(goldenOf('mix-block-skip').generated_ids);
  });

  it('a slice config from an artifact read by ranges fetches only the slice and gives its golden greedy ids', async () => {
    const slice = parseSliceJson(JSON.parse(readFileSync(join(DIR, 'slices/e2b-like.json'), 'utf8')));
    const events: LoadProgress[] = [];
    const info = await engine.load({ model: `${server.url}/art/`, tokenizer: tokenizerJson, matformer: slice, ...CONTEXT, onProgress: (p) => events.push(p) });
    expect(info).toMatchObject({ numLayers: 10, matformer: { name: 'e2b-like', reason: 'Requested as a slice config: "e2b-like", 10 of 15 layers.' } });
    const download = lastOf(events, 'download')!;
    expect(download.loadedBytes).toBe(download.totalBytes);
    const shardBytes = sent(/art\/shard-\d+\.bin$/);
    expect(shardBytes).toBe(download.totalBytes);
    expect(shardBytes).toBeLessThan(0.6 * manifest.totalBytes);
    expect(await greedyIds('e2b-like')).toEqual(goldenOf('e2b-like').generated_ids);
  });

  it("'auto' in a memory budget that the full-width model exceeds picks the next largest configuration and says why", async () => {
    const parent = parseConfig(JSON.parse(readFileSync(join(DIR, 'config.json'), 'utf8')));
    const sizes = chooseSlice(parent, {
      format: 'bf16',
      limits: { maxBufferSize: 2 ** 30, maxStorageBufferBindingSize: 2 ** 30 },
      budgetBytes: null,
      ...CONTEXT,
      candidates: candidates.map((c) => ({ ...c, numLayers: c.ffnHiddenDims.length, aliases: [], effectiveParamsB: c.effectiveParamsB ?? 0, mmlu: Number.NaN })),
    }).candidates;
    const total = (name: string) => sizes.find((c) => c.slice.name === name)!.memory.total;
    expect(total('identity')).toBeGreaterThan(total('mix-layer'));
    const budget = Math.floor((total('identity') + total('mix-layer')) / 2);
    const options: LoadOptions = { model: `${server.url}/hf/`, tokenizer: tokenizerJson, matformer: 'auto', matformerCandidates: candidates, memoryBudgetBytes: budget, ...CONTEXT };
    const info = await engine.load(options);
    expect(info.numLayers).toBe(15);
    expect(info.memory.budgetBytes).toBe(budget);
    expect(info.matformer!.name).toBe('mix-layer');
    expect(info.matformer!.reason).toMatch(/^Chose "mix-layer" \(0\.00B effective parameters\) needs .+ within a budget of .+ \(memoryBudgetBytes\); the next larger, "identity" .+: over the .+ budget\.$/);
    expect(await greedyIds('mix-layer', 3)).toEqual(goldenOf('mix-layer').generated_ids.slice(0, 3));
  });

  it("'auto' under buffer limits too small for every configuration is OUT_OF_MEMORY before any weight is read; an unknown name is BAD_SLICE", async () => {
    const capped = new InThreadEngine({ requestGpu: () => requestNodeGpu({ capLimits: { maxStorageBufferBindingSize: 256 << 10 } }) });
    try {
      const events: LoadProgress[] = [];
      const err = await capped.load({ model: `${server.url}/hf/`, tokenizer: tokenizerJson, matformer: 'auto', matformerCandidates: candidates, onProgress: (p) => events.push(p) }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'OUT_OF_MEMORY', message: expect.stringContaining("over the adapter's 0.3 MB buffer limit") });
      expect(events.map((e) => e.phase)).toEqual(['config', 'config', 'tokenizer', 'tokenizer']);
      const bad = await capped.load({ model: `${server.url}/hf/`, tokenizer: tokenizerJson, matformer: 'E9B', matformerCandidates: candidates }).catch((e: unknown) => e);
      expect(bad).toMatchObject({ name: 'SliceError', code: 'BAD_SLICE' });
    } finally {
      await capped.unload();
    }
  });
});
