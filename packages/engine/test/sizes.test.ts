/**
 * matformerSizes: the sizes a page offers without importing the model package. E4B's published
 * configurations and the tiny MatFormer parent's slicing files, each with the model package's own
 * figures (sliceStats, runtimeBytes), largest first; sizeFigures picks the GPU format.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { E4B_CONFIG, parseConfig, planSlice, publishedSlices, runtimeBytes, sliceStats } from '@g3n/gemma3n';
import { matformerSizes, sizeFigures } from '../src/sizes.ts';

const DIR = join(import.meta.dirname, '../../../../shared/fixtures/gemma3n-tiny-matformer');
const tiny = {
  config: JSON.parse(readFileSync(join(DIR, 'config.json'), 'utf8')) as unknown,
  slices: readdirSync(join(DIR, 'slices'))
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(DIR, 'slices', f), 'utf8')) as unknown),
};

describe('matformerSizes', () => {
  it('E4B: every published configuration, largest first, with the model package figures', () => {
    const e4b = matformerSizes('gemma-3n-e4b', { maxContext: 1024, maxChunk: 64 });
    const parent = parseConfig(E4B_CONFIG);
    expect(e4b.sizes.map((s) => s.slice.name).sort()).toEqual(publishedSlices.map((p) => p.name).sort());
    expect(e4b.candidates).toBeNull();
    expect(e4b.stored).toBe('bf16');
    expect(e4b.parent).toEqual({ numLayers: parent.text.numLayers, hiddenSize: parent.text.hiddenSize, vocabSize: parent.text.vocabSize, ffnWidth: Math.max(...parent.text.intermediateSize) });
    for (let i = 1; i < e4b.sizes.length; i++) expect(e4b.sizes[i - 1].effectiveParams).toBeGreaterThanOrEqual(e4b.sizes[i].effectiveParams);
    for (const s of e4b.sizes) {
      const published = publishedSlices.find((p) => p.name === s.slice.name)!;
      expect(s.request).toBe(published.name);
      expect(s.aliases).toEqual(published.aliases);
      expect(s.mmlu).toBe(published.mmlu);
      expect(s.bytes).toEqual(sliceStats(parent, published).bytes);
      const text = planSlice(parent, published).config.text;
      expect(s.numLayers).toBe(text.numLayers);
      expect(s.kvCacheBytes).toBe(runtimeBytes(text, 1024, 64).kvCache);
    }
    const full = e4b.sizes[0];
    expect(sizeFigures(e4b, full, 'auto')).toEqual({ downloadBytes: full.bytes.bf16, weightBytes: full.bytes.bf16, kvCacheBytes: full.kvCacheBytes, gpuBytes: full.bytes.bf16 + full.kvCacheBytes, format: 'bf16' });
    expect(sizeFigures(e4b, full, 'q4').weightBytes).toBe(full.bytes.q4);
    expect(full.bytes.q4).toBeLessThan(full.bytes.bf16);
  });

  it('a parent with its own slicing files: those that fit, passed to auto as candidates', () => {
    const sizes = matformerSizes(tiny);
    expect(sizes.candidates?.map((c) => c.name)).toEqual(tiny.slices.map((s) => (s as { name: string }).name));
    expect(sizes.sizes.length).toBeGreaterThan(1);
    for (const s of sizes.sizes) {
      expect(s.request).toBe(s.slice);
      expect(s.mmlu).toBeNull();
    }
    const parent = parseConfig(tiny.config);
    // The default context is the engine's 4096 tokens, capped by the model's positions.
    expect(sizes.sizes[0].kvCacheBytes).toBe(runtimeBytes(planSlice(parent, sizes.sizes[0].slice).config.text, 4096, 128).kvCache);
  });
});
