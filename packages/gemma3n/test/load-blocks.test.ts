/**
 * Loading gemma3n-tiny-matformer with small blocks (`blockBytes`): every matrix larger than a block is
 * read and uploaded block by block, the layer-major PLE table of a bf16 artifact a layer's columns at
 * a time. The model is the same as loaded with the default (one read per tensor): prefill logits
 * equal bit for bit, for the e2b-like slice of an artifact (stored dtype, and quantized to q8 at load)
 * and of the HF checkpoint; and no read of the embedding or PLE table is larger than a block (of an
 * artifact, than one hashed piece: every byte is checked against its piece's sha256).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { convertCheckpoint, openCheckpoint, openModelDir, shardUnits, type FileSource, type Manifest } from '@g3n/weights';
import { nodeFileSource } from '@g3n/weights/node';
import { memoryFiles, memorySink } from '../../weights/test/artifact-util.ts';
import { testGpu } from '../../kernels/test/util.ts';
import { loadTextModel, type LoadTextModelOptions } from '../src/load.ts';
import { parseSliceJson, type SliceConfig } from '../src/matformer/slice.ts';
import { FIXTURES, readJson } from './golden.ts';

const DIR = join(FIXTURES, 'gemma3n-tiny-matformer');
const BLOCK = 4096;
const TABLES = /\.(embed_tokens|embed_tokens_per_layer)\.weight$/;

interface Read {
  path: string;
  offset: number;
  length: number;
}

/** A FileSource that logs every read. */
function logged(source: FileSource): { files: FileSource; reads: Read[] } {
  const reads: Read[] = [];
  return {
    reads,
    files: {
      base: source.base,
      async open(path) {
        const f = await source.open(path);
        return f && { name: f.name, size: () => f.size(), read: (offset: number, length: number) => (reads.push({ path, offset, length }), f.read(offset, length)) };
      },
    },
  };
}

/** The longest read overlapping any of `regions` ([path, start, end)). */
function longestRead(reads: Read[], regions: Array<[string, number, number]>): number {
  let most = 0;
  for (const r of reads) if (regions.some(([p, s, e]) => p === r.path && r.offset < e && r.offset + r.length > s)) most = Math.max(most, r.length);
  return most;
}

/** The largest read unit (hashed piece) of the artifact that overlaps `regions`. */
function largestPiece(m: Manifest, regions: Array<[string, number, number]>): number {
  let most = 0;
  m.shards.forEach((s, i) => {
    for (const u of shardUnits(m, i)) if (regions.some(([p, a, b]) => p === s.file && u.start < b && u.end > a)) most = Math.max(most, u.end - u.start);
  });
  return most;
}

function tableRegions(m: Manifest): Array<[string, number, number]> {
  return m.tensors.filter((t) => TABLES.test(t.name)).flatMap((t) => t.parts.flatMap((p): Array<[string, number, number]> => [[m.shards[p.shard].file, p.offset, p.offset + p.length], ...(p.scalesOffset === undefined ? [] : [[m.shards[p.shard].file, p.scalesOffset, p.scalesOffset + (p.scalesLength ?? 0)] as [string, number, number]])]));
}

async function logits(files: FileSource, slice: SliceConfig, prompt: number[], options: LoadTextModelOptions): Promise<Float32Array> {
  const model = await loadTextModel(await testGpu(), await openModelDir(files), { matformer: slice, maxContext: 32, maxChunk: 16, ...options });
  try {
    return (await model.prefill(prompt, { allLogits: true })).logits;
  } finally {
    model.destroy();
  }
}

describe('loading in blocks', () => {
  it('e2b-like from a bf16 artifact (stored dtype, and q8 at load): the same logits; no table read larger than a block', async () => {
    const slice = parseSliceJson(await readJson(join(DIR, 'slices', 'e2b-like.json')));
    const prompt = (await readJson<{ prompt_ids: number[] }>(join(DIR, 'golden-e2b-like.json'))).prompt_ids.slice(0, 12);
    const sink = memorySink();
    const manifest = await convertCheckpoint(await openCheckpoint(nodeFileSource(DIR)), { quant: 'bf16', modelId: 'tiny-matformer', revision: 'blocks', shardBytes: 256 << 10 }, sink);
    expect(manifest.tensors.find((t) => t.name.endsWith('embed_tokens_per_layer.weight'))!.layout).toBe('layer-major');
    for (const format of ['auto', 'q8'] as const) {
      const whole = await logits(memoryFiles(sink.files), slice, prompt, { format });
      const src = logged(memoryFiles(sink.files));
      const blocks = await logits(src.files, slice, prompt, { format, blockBytes: BLOCK });
      expect(Array.from(blocks), format).toEqual(Array.from(whole));
      // Artifact reads are checked against piece hashes, so a read of a table is one whole piece: never the table.
      const regions = tableRegions(manifest);
      const longest = longestRead(src.reads, regions);
      expect(longest, format).toBeGreaterThan(BLOCK / 4);
      expect(longest, format).toBeLessThanOrEqual(largestPiece(manifest, regions));
      const tableBytes = manifest.tensors.filter((t) => TABLES.test(t.name)).map((t) => t.parts.reduce((a, p) => a + p.length + (p.scalesLength ?? 0), 0));
      expect(longest, format).toBeLessThan(Math.max(...tableBytes));
    }
  }, 600_000);

  it('e2b-like from the HF checkpoint: the same logits; no table read larger than a block', async () => {
    const slice = parseSliceJson(await readJson(join(DIR, 'slices', 'e2b-like.json')));
    const prompt = (await readJson<{ prompt_ids: number[] }>(join(DIR, 'golden-e2b-like.json'))).prompt_ids.slice(0, 12);
    const whole = await logits(nodeFileSource(DIR), slice, prompt, {});
    const src = logged(nodeFileSource(DIR));
    const blocks = await logits(src.files, slice, prompt, { blockBytes: BLOCK });
    expect(Array.from(blocks)).toEqual(Array.from(whole));
    const ckpt = await openCheckpoint(nodeFileSource(DIR));
    const regions = [...ckpt.tensors.values()].filter((e) => TABLES.test(e.name)).map((e): [string, number, number] => [e.file, e.start, e.end]);
    expect(regions).toHaveLength(2);
    const longest = longestRead(src.reads, regions);
    expect(longest).toBeGreaterThan(BLOCK / 4);
    expect(longest).toBeLessThanOrEqual(BLOCK);
  }, 600_000);
});
