/**
 * The browser's shard cache: IndexedDB through idb-keyval, database `g3n-weights`, store `shards`.
 * A shard lives under `<model id>@<revision>/<sha256>`: a meta record and its bytes as numbered chunks,
 * appended as they arrive (chunk and meta in one transaction, so a cut download leaves a consistent
 * prefix to resume from). Keys carry the revision and the shard hash, so a new revision or re-converted
 * shard never reads stale bytes. `complete` is set only after the whole shard matched its sha256.
 */
import { clear, createStore, delMany, getMany, keys, setMany, type UseStore } from 'idb-keyval';

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

  async markComplete(meta: ShardMeta): Promise<ShardMeta> {
    const done = { ...meta, complete: true };
    await this.store.setMany([[metaKey(done), done]]);
    return done;
  }

  /** Forget a shard's stored bytes (after a failed hash, or a server that ignored Range). */
  async drop(meta: ShardMeta): Promise<ShardMeta> {
    await this.store.delMany([metaKey(meta), ...meta.chunks.map((_, i) => chunkKey(meta, i))]);
    return { ...meta, chunks: [], complete: false };
  }

  /** `length` stored bytes from `offset`, read from the chunks that hold them. */
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
    const chunks = await this.store.getMany(want.map((i) => chunkKey(meta, i)));
    chunks.forEach((c, j) => {
      if (!(c instanceof Uint8Array) || c.length !== meta.chunks[want[j]]) throw new RangeError(`${meta.file}: stored chunk ${want[j]} is missing or damaged`);
      const from = Math.max(offset - starts[j], 0);
      const to = Math.min(offset + length - starts[j], c.length);
      out.set(c.subarray(from, to), starts[j] + from - offset);
    });
    return out;
  }

  readAll(meta: ShardMeta): Promise<Uint8Array> {
    return this.read(meta, 0, storedBytes(meta));
  }

  async list(): Promise<CachedModel[]> {
    const metaKeys = (await this.store.keys()).filter((k) => k.endsWith('/meta'));
    const metas = (await this.store.getMany(metaKeys)).filter(isMeta);
    const byModel = new Map<string, CachedModel>();
    for (const m of metas) {
      const key = modelPrefix(m);
      const entry = byModel.get(key) ?? { id: m.id, revision: m.revision, bytes: 0, shards: 0, completeShards: 0 };
      entry.bytes += storedBytes(m);
      entry.shards++;
      if (m.complete) entry.completeShards++;
      byModel.set(key, entry);
    }
    return [...byModel.values()].sort((a, b) => (a.id + a.revision < b.id + b.revision ? -1 : 1));
  }

  async deleteModel(model: ModelRef): Promise<void> {
    const prefix = modelPrefix(model);
    await this.store.delMany((await this.store.keys()).filter((k) => k.startsWith(prefix)));
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
