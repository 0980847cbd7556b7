/**
 * Test page for e2e/weights.spec.ts: exposes the artifact loader and the cache API on `window.g3nWeights`
 * so the spec can drive loads and read back what happened (progress events, cache state, a tensor hash).
 */
import { clearCache, deleteCachedModel, listCachedModels, type CachedModel } from '../../packages/weights/src/artifact/cache.ts';
import { sha256Hex } from '../../packages/weights/src/artifact/hash.ts';
import { loadArtifact, type ShardProgress } from '../../packages/weights/src/artifact/loader.ts';

export interface LoadSummary {
  ok: boolean;
  error: { name: string; code: string; message: string } | null;
  fromCache: boolean;
  networkBytes: number;
  totalBytes: number;
  phases: Record<string, number>;
  last: ShardProgress | null;
  monotonic: boolean;
  shardsHanded: number[];
  tensorSha256: string | null;
  estimate: { usage?: number; quota?: number };
}

async function load(url: string, tensor: string): Promise<LoadSummary> {
  const events: ShardProgress[] = [];
  const shardsHanded: number[] = [];
  const summary = (): Omit<LoadSummary, 'ok' | 'error' | 'fromCache' | 'networkBytes' | 'tensorSha256' | 'estimate'> => {
    const phases: Record<string, number> = {};
    for (const e of events) phases[e.phase] = (phases[e.phase] ?? 0) + 1;
    const obtained = events.filter((e) => e.phase !== 'upload');
    return {
      totalBytes: events[0]?.totalBytes ?? 0,
      phases,
      last: obtained.at(-1) ?? null,
      monotonic: obtained.every((e, i) => i === 0 || e.loadedBytes >= obtained[i - 1].loadedBytes),
      shardsHanded,
    };
  };
  try {
    const art = await loadArtifact(url, { onProgress: (p) => events.push(p), onShard: (_s, i) => void shardsHanded.push(i) });
    const data = await art.readTensorData(tensor);
    return { ok: true, error: null, fromCache: art.fromCache, networkBytes: art.networkBytes, tensorSha256: await sha256Hex(data.bytes), estimate: await navigator.storage.estimate(), ...summary() };
  } catch (e) {
    const err = e as Error & { code?: string };
    return { ok: false, error: { name: err.name, code: err.code ?? '', message: err.message }, fromCache: false, networkBytes: 0, tensorSha256: null, estimate: {}, ...summary() };
  }
}

declare global {
  interface Window {
    g3nWeights: {
      load(url: string, tensor: string): Promise<LoadSummary>;
      list(): Promise<CachedModel[]>;
      remove(id: string, revision: string): Promise<void>;
      clear(): Promise<void>;
    };
  }
}

window.g3nWeights = { load, list: () => listCachedModels(), remove: (id, revision) => deleteCachedModel(id, revision), clear: () => clearCache() };
(document.querySelector('[data-testid=status]') as HTMLElement).textContent = 'ready';
