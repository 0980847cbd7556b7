/**
 * An artifact read by byte ranges over HTTP: opening it fetches only the manifest. `prefetch`
 * makes some tensors' stored bytes local (a MatFormer slice: kept layers, FFN prefixes, the kept
 * layers' PLE columns) and every read goes the same way, shard by shard under the shard's Web Lock:
 * what IndexedDB holds (the whole shard, or ranges) -> the missing spans, widened to whole hashed
 * pieces -> at most `maxRequestsPerShard` merged Range requests, a few in flight -> every piece
 * checked against its sha256 (one fresh fetch, then IntegrityError) -> stored as ranges. A reload
 * fetches nothing; a bigger slice fetches only what the smaller one lacked. JS memory holds about one
 * shard's fetched bytes at a time (without a cache, everything fetched stays in memory instead).
 * Without piece hashes (a manifest of minor 0) exactly the selected bytes are fetched, unverified.
 */
import { CheckpointError } from '../errors.ts';
import { RangeCache, ShardCache, type KeyValueStore, type RangeMeta, type ShardMeta } from './cache.ts';
import { AbortedError, IntegrityError, QuotaError } from './errors.ts';
import { defaultLocks, withLock, type LockManagerLike } from './locks.ts';
import { artifactUrls, defaultStorage, fetchManifest, freeBytes, resolveStore, shardLockName, type ShardProgress, type StorageLike } from './loader.ts';
import type { Manifest, ManifestTensor } from './manifest.ts';
import { pieceName, pieceSize, pieceSpans, pieceStored, selectionPieces, shardPieces, verifyPiece, type PieceRef } from './pieces.ts';
import { fetchSpans, type Chunk } from './range-fetch.ts';
import {
  chunkWindow,
  mergeSpans,
  planRequests,
  rangeSpans,
  selectionRanges,
  spanBytes,
  subtractSpans,
  wholeSelection,
  type NamedSelection,
  type ShardWindow,
  type Span,
  type TensorSelection,
  type WindowSource,
} from './ranges.ts';
import { artifactReader, type Artifact } from './reader.ts';

export interface RangeLoadOptions {
  signal?: AbortSignal;
  /** IndexedDB cache: on by default where indexedDB exists; false keeps fetched ranges in memory only. */
  cache?: boolean | KeyValueStore;
  headers?: Record<string, string>;
  fetch?: typeof fetch;
  /** Defaults to navigator.storage; null skips the quota check. */
  storage?: StorageLike | null;
  locks?: LockManagerLike;
  /** Attempts in a row that may fail without delivering a byte (default 3). */
  retries?: number;
  /** Range requests in flight at once (default 6). */
  concurrency?: number;
  /** Most Range requests per shard and prefetch; beyond it the smallest gaps are fetched too (default 1024). */
  maxRequestsPerShard?: number;
  onProgress?: (p: ShardProgress) => void;
}

export interface PrefetchReport {
  /** Bytes the selections need, widened to whole pieces where the manifest hashes pieces. */
  neededBytes: number;
  /** Of those, bytes that were already stored. */
  cachedBytes: number;
  /** Body bytes received (including gap bytes of merged requests and a server's ignored Range). */
  networkBytes: number;
  requests: number;
  /** Pieces checked against their sha256. */
  verifiedPieces: number;
}

export interface RangeArtifact extends Artifact {
  /** Make the stored bytes of these selections local: cached, or fetched, verified and stored. */
  prefetch(selections: readonly NamedSelection[], options?: { onProgress?: (p: ShardProgress) => void; signal?: AbortSignal }): Promise<PrefetchReport>;
  /** Body bytes received and Range requests made since the artifact was opened. */
  readonly stats: { networkBytes: number; requests: number };
}

/** Stored bytes per shard: the whole shard (ShardCache), ranges (RangeCache), or memory without a cache. */
class ShardStore {
  private readonly whole: Array<ShardMeta | null>;
  private readonly ranges: Array<RangeMeta | null>;
  private readonly memory: Chunk[][];

  private constructor(
    private readonly manifest: Manifest,
    private readonly shardCache: ShardCache | null,
    private readonly rangeCache: RangeCache | null,
    whole: ShardMeta[] | null,
    ranges: RangeMeta[] | null,
  ) {
    this.whole = manifest.shards.map((_, i) => (whole?.[i].complete ? whole[i] : null));
    this.ranges = manifest.shards.map((_, i) => ranges?.[i] ?? null);
    this.memory = manifest.shards.map(() => []);
  }

  static async open(manifest: Manifest, store: KeyValueStore | null): Promise<ShardStore> {
    if (!store) return new ShardStore(manifest, null, null, null, null);
    const shardCache = new ShardCache(store);
    const rangeCache = new RangeCache(store);
    return new ShardStore(manifest, shardCache, rangeCache, await shardCache.metas(manifest.model, manifest.shards), await rangeCache.metas(manifest.model, manifest.shards));
  }

  /** Re-read what another tab may have stored (under the shard's lock). */
  async refresh(shard: number): Promise<void> {
    if (!this.shardCache || !this.rangeCache) return;
    const s = this.manifest.shards[shard];
    const w = await this.shardCache.meta(this.manifest.model, s);
    this.whole[shard] = w.complete ? w : null;
    this.ranges[shard] = (await this.rangeCache.metas(this.manifest.model, [s]))[0];
  }

  have(shard: number): Span[] {
    if (this.whole[shard]) return [[0, this.manifest.shards[shard].bytes]];
    const r = this.ranges[shard];
    return mergeSpans(r ? r.entries : this.memory[shard].map((c): Span => [c.start, c.start + c.bytes.length]));
  }

  async put(shard: number, runs: Chunk[]): Promise<void> {
    const r = this.ranges[shard];
    if (this.rangeCache && r) this.ranges[shard] = await this.rangeCache.put(r, runs);
    else this.memory[shard] = [...this.memory[shard], ...runs].sort((a, b) => a.start - b.start);
  }

  readonly windows: WindowSource = {
    window: async (shard: number, start: number, end: number): Promise<ShardWindow> => {
      const w = this.whole[shard];
      if (w && this.shardCache) {
        const bytes = await this.shardCache.read(w, start, end - start);
        return chunkWindow([{ start, bytes }], w.file);
      }
      const r = this.ranges[shard];
      if (r && this.rangeCache) return this.rangeCache.window(r, start, end);
      return chunkWindow(this.memory[shard], this.manifest.shards[shard].file);
    },
  };
}

/** Per shard: exact spans (parts without piece hashes) and the hashed pieces a read needs. */
interface Need {
  exact: Span[];
  pieces: Map<string, PieceRef>;
}

function needsOf(manifest: Manifest, tensors: Map<string, ManifestTensor>, selections: readonly NamedSelection[]): Map<number, Need> {
  const needs = new Map<number, Need>();
  const need = (shard: number): Need => {
    let n = needs.get(shard);
    if (!n) needs.set(shard, (n = { exact: [], pieces: new Map() }));
    return n;
  };
  for (const { name, selection } of selections) {
    const t = tensors.get(name);
    if (!t) throw new CheckpointError('missing-tensor', `The artifact ${manifest.model.id}@${manifest.model.revision} has no tensor "${name}".`, { tensor: name });
    for (const r of selectionRanges(t, selection)) if (!t.parts[r.part].pieces) need(r.shard).exact.push(...rangeSpans(r));
    for (const p of selectionPieces(t, selection)) need(p.part.shard).pieces.set(`${p.part.offset}:${p.index}`, p);
  }
  for (const n of needs.values()) n.exact = mergeSpans(n.exact);
  return needs;
}

/** What of `need` is not stored: pieces, exact spans, and the byte counts. */
function missingOf(need: Need, have: Span[]): { pieces: PieceRef[]; exact: Span[]; spans: Span[]; neededBytes: number; cachedBytes: number } {
  const all = [...need.pieces.values()];
  const pieces = all.filter((p) => !pieceStored(p, have));
  const exact = subtractSpans(need.exact, have);
  const neededBytes = spanBytes(need.exact) + all.reduce((a, p) => a + pieceSize(p), 0);
  const missingBytes = spanBytes(exact) + pieces.reduce((a, p) => a + pieceSize(p), 0);
  return { pieces, exact, spans: mergeSpans([...exact, ...pieces.flatMap(pieceSpans)]), neededBytes, cachedBytes: neededBytes - missingBytes };
}

/** Cut `base` around `top`'s spans and add `top` (a re-fetch replaces what it covers). */
function overlay(base: Chunk[], top: Chunk[]): Chunk[] {
  const topSpans = mergeSpans(top.map((c): Span => [c.start, c.start + c.bytes.length]));
  const kept = base.flatMap((c) => subtractSpans([[c.start, c.start + c.bytes.length]], topSpans).map(([s, e]) => ({ start: s, bytes: c.bytes.subarray(s - c.start, e - c.start) })));
  return [...kept, ...top].sort((a, b) => a.start - b.start);
}

/** Open the artifact at `url` (its directory or manifest.json) for reading by ranges. */
export async function openArtifactRanges(url: string, options: RangeLoadOptions = {}): Promise<RangeArtifact> {
  const f = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  const { base, manifest: manifestUrl } = artifactUrls(url);
  const manifest = await fetchManifest(manifestUrl, f, options.headers, options.signal);
  const tensors = new Map(manifest.tensors.map((t) => [t.name, t]));
  const kv = resolveStore(options.cache);
  const store = await ShardStore.open(manifest, kv);
  const storage = options.storage === undefined ? defaultStorage() : options.storage;
  const locks = options.locks ?? defaultLocks();
  const stats = { networkBytes: 0, requests: 0 };
  const maxRequests = options.maxRequestsPerShard ?? 1024;
  const concurrency = Math.max(1, options.concurrency ?? 6);
  const retries = options.retries ?? 3;

  const fetchAll = (shard: number, spans: Span[], signal: AbortSignal | undefined, onBytes: (n: number) => void): Promise<Chunk[]> =>
    fetchSpans({ url: new URL(manifest.shards[shard].file, base).href, spans, fetch: f, headers: options.headers, signal, retries, concurrency, stats, onBytes });

  /** Verify `pieces` in `chunks`; re-fetch the bad ones once. Returns the chunks to read from. */
  const verified = async (shard: number, pieces: PieceRef[], chunks: Chunk[], signal: AbortSignal | undefined, onBytes: (n: number) => void): Promise<Chunk[]> => {
    const file = manifest.shards[shard].file;
    const check = async (list: PieceRef[], from: Chunk[]) => {
      const w = chunkWindow(from, file);
      const source: WindowSource = { window: async () => w };
      const bad: Array<{ p: PieceRef; actual: string }> = [];
      for (const p of list) {
        const r = await verifyPiece(p, source);
        if (!r.ok) bad.push({ p, actual: r.actual });
      }
      return bad;
    };
    const bad = await check(pieces, chunks);
    if (bad.length === 0) return chunks;
    const again = await fetchAll(shard, planRequests(mergeSpans(bad.flatMap((b) => pieceSpans(b.p))), maxRequests), signal, onBytes);
    const merged = overlay(chunks, again);
    const still = await check(bad.map((b) => b.p), merged);
    if (still.length > 0) {
      const [{ p, actual }] = still;
      throw new IntegrityError(`${file} (${pieceName(p)})`, p.part.pieces?.sha256[p.index] ?? '', actual, 2);
    }
    return merged;
  };

  const ensure = async (selections: readonly NamedSelection[], signal: AbortSignal | undefined, onProgress: ((p: ShardProgress) => void) | undefined): Promise<PrefetchReport> => {
    const needs = needsOf(manifest, tensors, selections);
    const shards = [...needs.keys()].sort((a, b) => a - b);
    const report: PrefetchReport = { neededBytes: 0, cachedBytes: 0, networkBytes: 0, requests: 0, verifiedPieces: 0 };
    let missingTotal = 0;
    for (const s of shards) {
      const m = missingOf(needs.get(s) as Need, store.have(s));
      report.neededBytes += m.neededBytes;
      missingTotal += m.neededBytes - m.cachedBytes;
    }
    if (kv && storage && missingTotal > 0) {
      const free = await freeBytes(storage);
      if (missingTotal > free) throw new QuotaError(missingTotal, free);
      if (storage.persist && !(await storage.persisted?.())) await storage.persist().catch(() => false);
    }
    const [net0, req0] = [stats.networkBytes, stats.requests];
    const started = performance.now();
    let loaded = 0;
    const emit = (phase: ShardProgress['phase'], shard: number, fromCache: boolean) => {
      if (!onProgress) return;
      const seconds = (performance.now() - started) / 1000;
      const rate = seconds > 0 ? (stats.networkBytes - net0) / seconds : 0;
      const left = report.neededBytes - loaded;
      const etaSeconds = left <= 0 ? 0 : rate > 0 ? left / rate : null;
      onProgress({ phase, loadedBytes: Math.min(loaded, report.neededBytes), totalBytes: report.neededBytes, bytesPerSecond: rate, etaSeconds, fromCache, shard, file: manifest.shards[shard].file });
    };
    for (const s of shards) {
      if (signal?.aborted) throw new AbortedError('Loading the model');
      const need = needs.get(s) as Need;
      const quick = missingOf(need, store.have(s));
      if (quick.spans.length === 0) {
        report.cachedBytes += quick.cachedBytes;
        loaded += quick.cachedBytes;
        emit('cache', s, true);
        continue;
      }
      await withLock(locks, shardLockName(manifest, manifest.shards[s]), signal, async () => {
        await store.refresh(s);
        const have = store.have(s);
        const m = missingOf(need, have);
        report.cachedBytes += m.cachedBytes;
        loaded += m.cachedBytes;
        if (m.spans.length === 0) return;
        const requests = planRequests(m.spans, maxRequests);
        const onBytes = (n: number) => {
          loaded += n;
          emit('download', s, false);
        };
        let chunks = await fetchAll(s, requests, signal, onBytes);
        chunks = await verified(s, m.pieces, chunks, signal, onBytes);
        const bonus = spanBytes(requests) > spanBytes(m.spans) ? await bonusPieces(s, have, m.pieces, chunks) : [];
        report.verifiedPieces += m.pieces.length + bonus.length;
        const keep = [...m.exact, ...m.pieces.flatMap(pieceSpans), ...bonus.flatMap(pieceSpans)];
        const w = chunkWindow(chunks, manifest.shards[s].file);
        const runs = subtractSpans(mergeSpans(keep), have).map(([a, b]): Chunk => {
          const bytes = new Uint8Array(b - a);
          w.copy(a, b - a, bytes, 0);
          return { start: a, bytes };
        });
        await store.put(s, runs);
      });
    }
    report.networkBytes = stats.networkBytes - net0;
    report.requests = stats.requests - req0;
    return report;
  };

  /** Other pieces of the shard that merged requests happened to fetch whole: verified, they are kept too. */
  const bonusPieces = async (shard: number, have: Span[], already: PieceRef[], chunks: Chunk[]): Promise<PieceRef[]> => {
    const fetched = mergeSpans(chunks.map((c): Span => [c.start, c.start + c.bytes.length]));
    const skip = new Set(already.map((p) => `${p.part.offset}:${p.index}`));
    const w = chunkWindow(chunks, manifest.shards[shard].file);
    const out: PieceRef[] = [];
    for (const p of shardPieces(manifest.tensors, shard)) {
      if (skip.has(`${p.part.offset}:${p.index}`)) continue;
      if (pieceStored(p, have) || !pieceStored(p, fetched)) continue;
      if ((await verifyPiece(p, { window: async () => w })).ok) out.push(p);
    }
    return out;
  };

  const readShard = async (shard: number, offset: number, length: number): Promise<Uint8Array> => {
    const w = await store.windows.window(shard, offset, offset + length);
    const out = new Uint8Array(length);
    w.copy(offset, length, out, 0);
    return out;
  };
  const reader = artifactReader(manifest, readShard, store.windows);
  const entry = (name: string) => tensors.get(name);
  const select = async (name: string, selection: TensorSelection) => {
    await ensure([{ name, selection }], options.signal, undefined);
    return reader.readSelection(name, selection);
  };
  const whole = async (name: string) => {
    const t = entry(name);
    if (t) await ensure([{ name, selection: wholeSelection(t) }], options.signal, undefined);
  };
  return {
    ...reader,
    stats,
    prefetch: (selections, opts = {}) => ensure(selections, opts.signal ?? options.signal, opts.onProgress ?? options.onProgress),
    readSelection: select,
    async readTensorData(name) {
      await whole(name);
      return reader.readTensorData(name);
    },
    async read(name) {
      await whole(name);
      return reader.read(name);
    },
    async readF32(name) {
      await whole(name);
      return reader.readF32(name);
    },
    async readRows(name, row0, rows) {
      const t = entry(name);
      if (t && t.layout !== 'column-blocks') await ensure([{ name, selection: { units: [[row0, rows]] } }], options.signal, undefined);
      return reader.readRows(name, row0, rows);
    },
    async *readBlocks(name, opts = {}) {
      const t = entry(name);
      if (t) await ensure([{ name, selection: opts.selection ?? wholeSelection(t) }], options.signal, undefined);
      yield* reader.readBlocks(name, opts);
    },
  };
}
