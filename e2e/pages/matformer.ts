/**
 * Test page for e2e/matformer.spec.ts: opens a g3n artifact by HTTP ranges (IndexedDB range cache),
 * loads a MatFormer slice of it onto WebGPU and decodes greedily, and exposes that and the cache API
 * on `window.g3nMatformer` so the spec can compare what was fetched with what the slice needs.
 */
import { loadTextModel } from '../../packages/gemma3n/src/load.ts';
import { parseSliceJson } from '../../packages/gemma3n/src/matformer/slice.ts';
import { requestGpu, type Gpu } from '../../packages/gpu/src/index.ts';
import { clearCache, listCachedModels, type CachedModel } from '../../packages/weights/src/artifact/cache.ts';
import type { ShardProgress } from '../../packages/weights/src/artifact/loader.ts';
import { openArtifactRanges, type PrefetchReport } from '../../packages/weights/src/artifact/range-loader.ts';

export interface SliceRun {
  error: { name: string; code: string; message: string } | null;
  report: PrefetchReport | null;
  numLayers: number;
  intermediateSize: number[];
  generated: number[];
  progress: { events: number; last: ShardProgress | null };
}

let gpu: Promise<Gpu> | null = null;

async function run(url: string, sliceJson: unknown, prompt: number[], steps: number): Promise<SliceRun> {
  const events: ShardProgress[] = [];
  let report: PrefetchReport | null = null;
  const out: SliceRun = { error: null, report: null, numLayers: 0, intermediateSize: [], generated: [], progress: { events: 0, last: null } };
  try {
    const art = await openArtifactRanges(url);
    const model = await loadTextModel(await (gpu ??= requestGpu()), art, {
      matformer: parseSliceJson(sliceJson),
      maxContext: prompt.length + steps,
      maxChunk: prompt.length,
      onProgress: (p) => events.push(p),
      onPrefetch: (r) => (report = r),
    });
    try {
      out.numLayers = model.cfg.numLayers;
      out.intermediateSize = model.cfg.intermediateSize.slice();
      const V = model.cfg.vocabSize;
      const { logits } = await model.prefill(prompt);
      let last = logits.subarray(logits.length - V);
      for (let s = 0; s < steps; s++) {
        let best = 0;
        for (let i = 1; i < V; i++) if (last[i] > last[best]) best = i;
        out.generated.push(best);
        if (s + 1 < steps) last = await model.decode(best);
      }
    } finally {
      model.destroy();
    }
  } catch (e) {
    const err = e as Error & { code?: string };
    out.error = { name: err.name, code: err.code ?? '', message: err.message };
  }
  return { ...out, report, progress: { events: events.length, last: events.at(-1) ?? null } };
}

declare global {
  interface Window {
    g3nMatformer: {
      run(url: string, slice: unknown, prompt: number[], steps: number): Promise<SliceRun>;
      list(): Promise<CachedModel[]>;
      clear(): Promise<void>;
    };
  }
}

window.g3nMatformer = { run, list: () => listCachedModels(), clear: () => clearCache() };
(document.querySelector('[data-testid=status]') as HTMLElement).textContent = 'ready';
