/**
 * The browser's shard cache: IndexedDB through idb-keyval, database `g3n-weights`, store `shards`.
 * A shard lives under `<model id>@<revision>/<sha256>`: a meta record and its bytes as numbered chunks,
 * appended as they arrive (chunk and meta in one transaction, so a cut download leaves a consistent
 * prefix to resume from). Keys carry the revision and the shard hash, so a new revision or re-converted
 * shard never reads stale bytes. `complete` is set only after the whole shard matched its sha256.
 *
 * A shard fetched by byte ranges (a MatFormer slice, RangeCache) lives under the same key as a range
 * meta `<key>/ranges` listing its stored entries [start, end), and one record per entry,
 * `<key>/@<offset>+<length>`, written together with the meta in one transaction. Entries hold only
 * verified pieces (or, for manifests without piece hashes, exactly the bytes that were asked for).
 */
import { clear, createStore, delMany, getMany, keys, setMany, type UseStore } from 'idb-keyval';
import { chunkWindow, upperBound, type ShardWindow } from './ranges.ts';

/** The few key-value operations the cache needs (idb-keyval on one store; tests may wrap or replace it). */
export interface KeyValueStore {
  getMany(keys: string[]): Promise<unknown[]>;
  setMany(entries: Array<[string, unknown]>): Promise<void>;
  delMany(keys: string[]): Promise<void>;
  keys(): Promise<string[]>;
  clear(): Promise<void>;
}

export const CACHE_DB = 'g3n-weights';
export const CACHE_STORE = 'shards';

/** idb-keyval on `g3n-weights` / `shards`, opened on first use. */
export function idbStore(db = CACHE_DB, store = CACHE_STORE): KeyValueStore {
  let use: UseStore | null = null;
  const s = (): UseStore => (use ??= createStore(db, store));
  return {
    getMany: (k) => getMany(k, s()),
    setMany: (e) => setMany(e, s()),
    delMany: (k) => delMany(k, s()),
    keys: async () => (await keys(s())).map(String),
    clear: () => clear(s()),
  };
}

let shared: KeyValueStore | null = null;

export function defaultStore(): KeyValueStore {
  return (shared ??= idbStore());
}

export interface ModelRef {
  id: string;
  revision: string;
}

export interface ShardMeta extends ModelRef {
  file: string;
  sha256: string;
  bytes: number;
  /** Byte length of each stored chunk, in order. */
  chunks: number[];
  complete: boolean;
  /** Whether the bytes passed a content check (sha256 of their pieces, JSON that parses) before they were stored. */
  verified?: boolean;
}

export interface CachedModel extends ModelRef {
  /** Bytes stored, complete shards and partial ones. */
  bytes: number;
  shards: number;
  completeShards: number;
}

function modelPrefix(m: ModelRef): string {
  return `${encodeURIComponent(m.id)}@${encodeURIComponent(m.revision)}/`;
}

export function shardKey(m: ModelRef, sha256: string): string {
  return `${modelPrefix(m)}${sha256}`;
}

const metaKey = (m: ShardMeta) => `${shardKey(m, m.sha256)}/meta`;
const chunkKey = (m: ShardMeta, i: number) => `${shardKey(m, m.sha256)}/${i}`;

export function storedBytes(m: ShardMeta): number {
  return m.chunks.reduce((a, b) => a + b, 0);
}

function isMeta(v: unknown): v is ShardMeta {
  const m = v as ShardMeta;
  return typeof v === 'object' && v !== null && typeof m.id === 'string' && typeof m.sha256 === 'string' && Array.isArray(m.chunks) && typeof m.complete === 'boolean';
}

export class ShardCache {
  constructor(readonly store: KeyValueStore = defaultStore()) {}

  /** The stored state of each shard (a fresh, empty record where nothing is stored). */
  async metas(model: ModelRef, shards: ReadonlyArray<{ file: string; bytes: number; sha256: string }>): Promise<ShardMeta[]> {
    const fresh = (s: { file: string; bytes: number; sha256: string }): ShardMeta => ({ id: model.id, revision: model.revision, file: s.file, sha256: s.sha256, bytes: s.bytes, chunks: [], complete: false });
    const found = await this.store.getMany(shards.map((s) => `${shardKey(model, s.sha256)}/meta`));
    return shards.map((s, i) => {
      const m = found[i];
      return isMeta(m) && m.bytes === s.bytes && storedBytes(m) <= s.bytes ? m : fresh(s);
    });
  }

  async meta(model: ModelRef, shard: { file: string; bytes: number; sha256: string }): Promise<ShardMeta> {
    return (await this.metas(model, [shard]))[0];
  }

  /** Store the next chunk; returns the updated meta. */
  async append(meta: ShardMeta, bytes: Uint8Array): Promise<ShardMeta> {
    const next = { ...meta, chunks: [...meta.chunks, bytes.length] };
    await this.store.setMany([
      [chunkKey(meta, meta.chunks.length), bytes.slice()],
      [metaKey(next), next],
    ]);
    return next;
  }

  async markComplete(meta: ShardMeta, verified?: boolean): Promise<ShardMeta> {
    const done = verified === undefined ? { ...meta, complete: true } : { ...meta, complete: true, verified };
    await this.store.setMany([[metaKey(done), done]]);
    return done;
  }

  /** Forget a shard's stored bytes (after a failed hash, or a server that ignored Range). */
  async drop(meta: ShardMeta): Promise<ShardMeta> {
    await this.store.delMany([metaKey(meta), ...meta.chunks.map((_, i) => chunkKey(meta, i))]);
    return { ...meta, chunks: [], complete: false };
  }

  /**
   * `length` stored bytes from `offset`, read from the chunks that hold them one chunk at a time, so a
   * whole-shard read holds the shard and one chunk, not the shard twice.
   */
  async read(meta: ShardMeta, offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    const want: number[] = [];
    const starts: number[] = [];
    let pos = 0;
    meta.chunks.forEach((n, i) => {
      if (pos < offset + length && pos + n > offset) {
        want.push(i);
        starts.push(pos);
      }
      pos += n;
    });
    if (offset + length > pos) throw new RangeError(`${meta.file}: bytes [${offset}, ${offset + length}) are not stored (${pos} are)`);
    for (let j = 0; j < want.length; j++) {
      const [c] = await this.store.getMany([chunkKey(meta, want[j])]);
      if (!(c instanceof Uint8Array) || c.length !== meta.chunks[want[j]]) throw new RangeError(`${meta.file}: stored chunk ${want[j]} is missing or damaged`);
      const from = Math.max(offset - starts[j], 0);
      const to = Math.min(offset + length - starts[j], c.length);
      out.set(c.subarray(from, to), starts[j] + from - offset);
    }
    return out;
  }

  readAll(meta: ShardMeta): Promise<Uint8Array> {
    return this.read(meta, 0, storedBytes(meta));
  }

  /** Cached models, counting whole-shard downloads and byte ranges (a shard with both counts once). */
  async list(): Promise<CachedModel[]> {
    const metaKeys = (await this.store.keys()).filter((k) => k.endsWith('/meta') || k.endsWith('/ranges'));
    const values = await this.store.getMany(metaKeys);
    const byModel = new Map<string, CachedModel & { seen: Set<string> }>();
    for (const m of values) {
      if (!isMeta(m) && !isRangeMeta(m)) continue;
      const key = modelPrefix(m);
      const entry = byModel.get(key) ?? { id: m.id, revision: m.revision, bytes: 0, shards: 0, completeShards: 0, seen: new Set<string>() };
      entry.bytes += isMeta(m) ? storedBytes(m) : rangeBytes(m);
      if (!entry.seen.has(m.sha256)) entry.shards++;
      entry.seen.add(m.sha256);
      if (isMeta(m) && m.complete) entry.completeShards++;
      byModel.set(key, entry);
    }
    return [...byModel.values()].map(({ seen: _, ...m }) => m).sort((a, b) => (a.id + a.revision < b.id + b.revision ? -1 : 1));
  }

  async deleteModel(model: ModelRef): Promise<void> {
    const prefix = modelPrefix(model);
    await this.store.delMany((await this.store.keys()).filter((k) => k.startsWith(prefix)));
  }
}

/** The stored byte ranges of one shard of one model revision. */
export interface RangeMeta extends ModelRef {
  file: string;
  sha256: string;
  bytes: number;
  /** Stored entries [start, end), sorted, not overlapping. */
  entries: Array<[number, number]>;
}

const rangeMetaKey = (m: ModelRef & { sha256: string }) => `${shardKey(m, m.sha256)}/ranges`;
const rangeKey = (m: RangeMeta, start: number, end: number) => `${shardKey(m, m.sha256)}/@${start}+${end - start}`;

export function rangeBytes(m: RangeMeta): number {
  return m.entries.reduce((a, [s, e]) => a + e - s, 0);
}

function isRangeMeta(v: unknown): v is RangeMeta {
  const m = v as RangeMeta;
  return typeof v === 'object' && v !== null && typeof m.id === 'string' && typeof m.sha256 === 'string' && Array.isArray(m.entries);
}

/** Byte ranges of shards in IndexedDB, next to the whole shards of ShardCache (same store and keys). */
export class RangeCache {
  constructor(readonly store: KeyValueStore = defaultStore()) {}

  async metas(model: ModelRef, shards: ReadonlyArray<{ file: string; bytes: number; sha256: string }>): Promise<RangeMeta[]> {
    const found = await this.store.getMany(shards.map((s) => rangeMetaKey({ ...model, sha256: s.sha256 })));
    return shards.map((s, i) => {
      const m = found[i];
      const fresh: RangeMeta = { id: model.id, revision: model.revision, file: s.file, sha256: s.sha256, bytes: s.bytes, entries: [] };
      return isRangeMeta(m) && m.bytes === s.bytes && m.entries.every(([a, b]) => a < b && b <= s.bytes) ? m : fresh;
    });
  }

  /** Store runs of bytes not stored yet, in entries of at most `chunkBytes`, with the meta in one transaction. */
  async put(meta: RangeMeta, runs: ReadonlyArray<{ start: number; bytes: Uint8Array }>, chunkBytes = 4 << 20): Promise<RangeMeta> {
    const records: Array<[string, unknown]> = [];
    const added: Array<[number, number]> = [];
    for (const r of runs) {
      for (let at = 0; at < r.bytes.length; at += chunkBytes) {
        const piece = r.bytes.slice(at, Math.min(at + chunkBytes, r.bytes.length));
        const span: [number, number] = [r.start + at, r.start + at + piece.length];
        records.push([rangeKey(meta, span[0], span[1]), piece]);
        added.push(span);
      }
    }
    if (records.length === 0) return meta;
    const next: RangeMeta = { ...meta, entries: [...meta.entries, ...added].sort((a, b) => a[0] - b[0]) };
    await this.store.setMany([...records, [rangeMetaKey(next), next]]);
    return next;
  }

  /** The stored bytes of [start, end) as a window (runs it does not hold throw when copied). */
  async window(meta: RangeMeta, start: number, end: number): Promise<ShardWindow> {
    const starts = meta.entries.map((e) => e[0]);
    const wanted: Array<[number, number]> = [];
    for (let i = Math.max(0, upperBound(starts, start) - 1); i < meta.entries.length && meta.entries[i][0] < end; i++) {
      if (meta.entries[i][1] > start) wanted.push(meta.entries[i]);
    }
    const values = await this.store.getMany(wanted.map(([a, b]) => rangeKey(meta, a, b)));
    const chunks = wanted.map(([a, b], i) => {
      const v = values[i];
      if (!(v instanceof Uint8Array) || v.length !== b - a) throw new RangeError(`${meta.file}: stored range [${a}, ${b}) is missing or damaged`);
      return { start: a, bytes: v };
    });
    return chunkWindow(chunks, meta.file);
  }

  /** Forget a shard's stored ranges. */
  async drop(meta: RangeMeta): Promise<RangeMeta> {
    await this.store.delMany([rangeMetaKey(meta), ...meta.entries.map(([a, b]) => rangeKey(meta, a, b))]);
    return { ...meta, entries: [] };
  }
}

/** Every cached model: id, revision, stored bytes, shard counts. */
export function listCachedModels(store?: KeyValueStore): Promise<CachedModel[]> {
  return new ShardCache(store).list();
}

/** Delete one model revision's shards (complete and partial). */
export function deleteCachedModel(id: string, revision: string, store?: KeyValueStore): Promise<void> {
  return new ShardCache(store).deleteModel({ id, revision });
}

/** Delete every cached shard. */
export function clearCache(store: KeyValueStore = defaultStore()): Promise<void> {
  return store.clear();
}
