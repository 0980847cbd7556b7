/**
 * Loading an artifact in the browser: manifest -> storage check -> for each shard, one at a time:
 * IndexedDB hit, else download (Range resume, progress) -> sha256 -> store -> hand to `onShard`.
 * Each shard is fetched under a Web Lock named after its cache key, so a second tab waits and then
 * reads the cache. JS memory holds about one shard at a time; the returned reader fetches tensors
 * from the cache on demand (without a cache, the verified shards are kept in memory instead).
 */
import { NetworkError } from '../errors.ts';
import { defaultStore, ShardCache, shardKey, storedBytes, type KeyValueStore, type ShardMeta } from './cache.ts';
import { AbortedError, BadManifestError, IntegrityError, QuotaError } from './errors.ts';
import { downloadShard, memoryShardSink, type ShardSink } from './fetch.ts';
import { sha256Hex } from './hash.ts';
import { defaultLocks, withLock, type LockManagerLike } from './locks.ts';
import { MANIFEST_FILE, parseManifest, type Manifest, type ManifestShard } from './manifest.ts';
import { artifactReader, type Artifact } from './reader.ts';

export type ShardPhase = 'download' | 'cache' | 'upload' | 'compile';

/**
 * One progress event of an artifact's shards being fetched, cached and handed on. The engine turns
 * these into its public LoadProgress (which adds the config, tokenizer and ready phases).
 */
export interface ShardProgress {
  phase: ShardPhase;
  /** Bytes of the model obtained so far (download/cache) or handed on (upload). */
  loadedBytes: number;
  totalBytes: number;
  /** Network throughput of this load so far (0 before the first byte). */
  bytesPerSecond: number;
  /** Seconds left at that rate; null while unknown. */
  etaSeconds: number | null;
  fromCache: boolean;
  shard: number;
  file: string;
}

/** The subset of navigator.storage the loader uses. */
export interface StorageLike {
  estimate(): Promise<{ usage?: number; quota?: number }>;
  persist?(): Promise<boolean>;
  persisted?(): Promise<boolean>;
}

export interface LoadArtifactOptions {
  onProgress?: (p: ShardProgress) => void;
  signal?: AbortSignal;
  /** IndexedDB cache: on by default where indexedDB exists; false for none; or a store to use. */
  cache?: boolean | KeyValueStore;
  /** Extra request headers (e.g. Authorization). */
  headers?: Record<string, string>;
  /** Each verified shard, in order, before the next is fetched (e.g. upload into GPU buffers). */
  onShard?: (shard: ManifestShard, index: number, bytes: Uint8Array) => void | Promise<void>;
  fetch?: typeof fetch;
  /** Defaults to navigator.storage; null skips the quota check. */
  storage?: StorageLike | null;
  /** Defaults to navigator.locks (or a realm-local lock manager). */
  locks?: LockManagerLike;
  chunkBytes?: number;
  retries?: number;
}

export interface LoadedArtifact extends Artifact {
  /** True when every shard came from the cache. */
  fromCache: boolean;
  /** Body bytes received over the network by this load. */
  networkBytes: number;
}

/** The artifact's base URL and manifest URL, from either (relative URLs resolve against the page). */
export function artifactUrls(url: string): { base: string; manifest: string } {
  const abs = new URL(url, globalThis.location?.href);
  const manifest = abs.pathname.endsWith('.json') ? abs : new URL(MANIFEST_FILE, abs.href.endsWith('/') ? abs.href : `${abs.href}/`);
  return { base: new URL('.', manifest).href, manifest: manifest.href };
}

export function shardLockName(manifest: Manifest, shard: ManifestShard): string {
  return `g3n-weights:${shardKey(manifest.model, shard.sha256)}`;
}

export async function fetchManifest(url: string, f: typeof fetch, headers: Record<string, string> | undefined, signal: AbortSignal | undefined): Promise<Manifest> {
  let res: Response;
  try {
    res = await f(url, { headers, signal, cache: 'no-store' });
  } catch (e) {
    if (signal?.aborted) throw new AbortedError('Loading the model');
    throw new NetworkError(url, 0, `could not fetch the manifest: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!res.ok) throw new NetworkError(url, res.status, 'could not fetch the manifest');
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new BadManifestError('(root)', `is not valid JSON (${e instanceof Error ? e.message : String(e)})`, url);
  }
  return parseManifest(json, url);
}

export function resolveStore(cache: LoadArtifactOptions['cache']): KeyValueStore | null {
  if (cache === false) return null;
  if (cache && cache !== true) return cache;
  return typeof indexedDB === 'undefined' ? null : defaultStore();
}

export function defaultStorage(): StorageLike | null {
  return (globalThis as { navigator?: { storage?: StorageLike } }).navigator?.storage ?? null;
}

export async function freeBytes(storage: StorageLike | null): Promise<number> {
  if (!storage) return Infinity;
  const { usage = 0, quota = Infinity } = await storage.estimate();
  return Math.max(0, quota - usage);
}

export function isQuotaExceeded(e: unknown): boolean {
  return (e as { name?: string } | null)?.name === 'QuotaExceededError';
}

/** Load an artifact from `url` (its directory or its manifest.json). */
export async function loadArtifact(url: string, options: LoadArtifactOptions = {}): Promise<LoadedArtifact> {
  const f = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  const { base, manifest: manifestUrl } = artifactUrls(url);
  const { signal, headers } = options;
  const manifest = await fetchManifest(manifestUrl, f, headers, signal);
  const store = resolveStore(options.cache);
  const cache = store ? new ShardCache(store) : null;
  const storage = options.storage === undefined ? defaultStorage() : options.storage;
  const locks = options.locks ?? defaultLocks();
  const metas = cache ? await cache.metas(manifest.model, manifest.shards) : null;

  if (cache && storage && metas) {
    const needed = metas.reduce((a, m) => a + (m.complete ? 0 : m.bytes - storedBytes(m)), 0);
    const free = await freeBytes(storage);
    if (needed > free) throw new QuotaError(needed, free);
    if (needed > 0 && storage.persist && !(await storage.persisted?.())) await storage.persist().catch(() => false);
  }

  const total = manifest.totalBytes;
  let done = 0;
  let networkBytes = 0;
  let started = 0;
  let uploaded = 0;
  const emit = (phase: ShardProgress['phase'], loadedBytes: number, fromCache: boolean, shard: number) => {
    if (!options.onProgress) return;
    const seconds = started ? (performance.now() - started) / 1000 : 0;
    const bytesPerSecond = seconds > 0 ? networkBytes / seconds : 0;
    const left = total - loadedBytes;
    const etaSeconds = phase === 'upload' ? 0 : left <= 0 ? 0 : bytesPerSecond > 0 ? left / bytesPerSecond : null;
    options.onProgress({ phase, loadedBytes, totalBytes: total, bytesPerSecond, etaSeconds, fromCache, shard, file: manifest.shards[shard].file });
  };

  const inMemory: Uint8Array[] = [];
  let allCached = true;
  /** Obtain shard i (cache or network), verify it, hand it on; its bytes go out of reach when this returns. */
  const loadShard = async (i: number): Promise<void> => {
    const shard = manifest.shards[i];
    const shardUrl = new URL(shard.file, base).href;
    const obtain = async (): Promise<{ bytes: Uint8Array; fromCache: boolean }> => {
      let meta: ShardMeta | null = cache ? await cache.meta(manifest.model, shard) : null;
      if (cache && meta?.complete) {
        // A stored shard is hashed again: bytes that no longer match are dropped and downloaded, never used.
        const stored = await cache.readAll(meta).catch(() => null);
        if (stored && (await sha256Hex(stored)) === shard.sha256) return { bytes: stored, fromCache: true };
        meta = await cache.drop(meta);
      }
      const sink: ShardSink = cache ? cacheSink(cache, meta as ShardMeta, () => total - done, storage, (m) => (meta = m)) : memoryShardSink(shard.bytes);
      for (let attempt = 1; ; attempt++) {
        if (!started) started = performance.now();
        await downloadShard({
          url: shardUrl,
          shard,
          sink,
          fetch: f,
          headers,
          signal,
          chunkBytes: options.chunkBytes,
          retries: options.retries,
          onBytes: (n, position) => {
            networkBytes += n;
            emit('download', done + position, false, i);
          },
        });
        const bytes = await sink.readAll();
        const actual = await sha256Hex(bytes);
        if (actual === shard.sha256) {
          if (cache && meta) meta = await cache.markComplete(meta, true);
          return { bytes, fromCache: false };
        }
        await sink.reset();
        if (attempt >= 2) throw new IntegrityError(shard.file, shard.sha256, actual, attempt);
      }
    };
    const got = cache ? await withLock(locks, shardLockName(manifest, shard), signal, obtain) : await obtain();
    allCached &&= got.fromCache;
    done += shard.bytes;
    emit(got.fromCache ? 'cache' : 'download', done, got.fromCache, i);
    if (options.onShard) {
      await options.onShard(shard, i, got.bytes);
      uploaded += shard.bytes;
      emit('upload', uploaded, got.fromCache, i);
    }
    if (!cache) inMemory.push(got.bytes);
  };
  for (let i = 0; i < manifest.shards.length; i++) {
    if (signal?.aborted) throw new AbortedError('Loading the model');
    await loadShard(i);
  }

  const reader = cache
    ? artifactReaderFromCache(manifest, cache)
    : artifactReader(manifest, async (s, o, n) => inMemory[s].subarray(o, o + n));
  return Object.assign(await reader, { fromCache: allCached, networkBytes });
}

async function artifactReaderFromCache(manifest: Manifest, cache: ShardCache): Promise<Artifact> {
  const metas = await cache.metas(manifest.model, manifest.shards);
  return artifactReader(manifest, (s, o, n) => cache.read(metas[s], o, n));
}

/** A sink appending to the cache; a full disk keeps what was stored and reports the shared QuotaError. */
function cacheSink(cache: ShardCache, initial: ShardMeta, notDone: () => number, storage: StorageLike | null, onMeta: (m: ShardMeta) => void): ShardSink {
  let meta = initial;
  const set = (m: ShardMeta) => {
    meta = m;
    onMeta(m);
  };
  return {
    stored: () => storedBytes(meta),
    async append(bytes) {
      try {
        set(await cache.append(meta, bytes));
      } catch (e) {
        if (!isQuotaExceeded(e)) throw e;
        throw new QuotaError(notDone() - storedBytes(meta), await freeBytes(storage).catch(() => 0));
      }
    },
    async reset() {
      set(await cache.drop(meta));
    },
    readAll: () => cache.readAll(meta),
  };
}
