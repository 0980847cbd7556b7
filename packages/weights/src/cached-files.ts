/**
 * A read-through IndexedDB cache in front of a model folder served over HTTP (a Hugging Face
 * checkpoint: config.json, tokenizer.json, *.safetensors; or a g3n artifact: manifest.json and its
 * shards). A model is read as byte ranges (headers, then one range per tensor, the same ranges on
 * every load), so each range read is kept as one record of the weights cache (ShardCache, database
 * `g3n-weights`): the next load of the same folder reads everything from IndexedDB and works
 * offline, listCachedModels() counts the bytes under the folder's URL, and
 * deleteCachedModel(url, FILES_REVISION) removes them. Only the ranges actually read are fetched
 * and stored (a text-only load skips the vision and audio towers). Each file's size, or its
 * absence, is remembered too, so an offline load asks nothing of the network.
 *
 * A cache record is a ShardMeta whose `sha256` field holds the range's id (`range:<file>:<offset>:
 * <length>`) instead of a content hash: the key stays unique per (folder, file, range), and a
 * folder re-published under the same URL is picked up after deleting its cache entry.
 *
 * A read with a check (an artifact piece's sha256, JSON that must parse) stores only bytes that
 * passed it, and records so (`verified`); a stored copy that no longer passes, or whose records
 * are incomplete, is dropped and downloaded again, never used. `keep` makes a range local the same
 * way without handing its bytes over (an engine load fetches the new model's pieces before it lets
 * the working model go); a range stored verified is left as it is, unread.
 */
import { ShardCache, shardKey, type ModelRef, type ShardMeta } from './artifact/cache.ts';
import { NetworkError } from './errors.ts';
import { downloadChecked, httpFileSource, type ByteSource, type FileSource, type HttpInit, type ReadCheck } from './sources.ts';

/** The revision under which folders cached by range are listed (artifacts list their own revision). */
export const FILES_REVISION = 'files';

/** Bytes per stored chunk: a large tensor is stored as several IndexedDB values. */
const PIECE = 32 << 20;

/** The id a range's record is stored under (in place of a content hash). */
const rangeId = (path: string, offset: number, length: number) => `range:${encodeURIComponent(path)}:${offset}:${length}`;

export interface CachedFilesOptions extends HttpInit {
  /** The cache to read and fill (default: the shared `g3n-weights` IndexedDB store). */
  cache?: ShardCache;
  /** A read that could not be stored (the disk is full): it still loads, from the network next time too. */
  onNotStored?: (bytes: number, error: unknown) => void;
}

interface FileRecord {
  /** null: the file does not exist in the folder. */
  size: number | null;
}

function isFileRecord(v: unknown): v is FileRecord {
  return typeof v === 'object' && v !== null && 'size' in v && ((v as FileRecord).size === null || typeof (v as FileRecord).size === 'number');
}

/**
 * Files under `base`, served from the weights cache when present and stored there on first read.
 * `onRead` tells each read's size and whether it came from the cache or the network.
 */
export function cachedFileSource(base: string, options: CachedFilesOptions = {}): FileSource {
  const cache = options.cache ?? new ShardCache();
  const model: ModelRef = { id: base, revision: FILES_REVISION };
  const http = httpFileSource(base, { headers: options.headers, fetch: options.fetch });
  // Not ending in /meta, so the cache's listing ignores it; under the model's prefix, so deleting the model removes it.
  const fileKey = (path: string) => shardKey(model, `file:${encodeURIComponent(path)}`);

  function source(path: string, size: number, net: ByteSource | null): ByteSource {
    const url = new URL(path, base.endsWith('/') ? base : `${base}/`).href;
    let remote = net;
    /** The bytes, and whether they came from the cache. */
    const get = async (offset: number, length: number, check: ReadCheck | undefined, known?: ShardMeta): Promise<{ bytes: Uint8Array; fromCache: boolean }> => {
      const meta = known ?? (await cache.meta(model, { file: path, bytes: length, sha256: rangeId(path, offset, length) }));
      if (meta.complete) {
        const bytes = await cachedCopy(meta, check);
        if (bytes) {
          options.onRead?.(length, true);
          return { bytes, fromCache: true };
        }
      }
      remote ??= await http.open(path);
      if (!remote) throw new NetworkError(url, 404, 'the file is no longer there');
      const net = remote;
      let bytes: Uint8Array;
      try {
        bytes = check ? await downloadChecked(() => net.read(offset, length), check) : await net.read(offset, length);
      } catch (e) {
        // Forget the file's remembered size too: a file replaced on the server is measured again on the next open.
        await cache.store.delMany([fileKey(path)]).catch(() => undefined);
        throw e;
      }
      await store(meta, bytes, check !== undefined);
      options.onRead?.(length, false);
      return { bytes, fromCache: false };
    };
    return {
      name: url,
      size: async () => size,
      read: async (offset, length, check) => (await get(offset, length, check)).bytes,
      async keep(offset, length, check) {
        const meta = await cache.meta(model, { file: path, bytes: length, sha256: rangeId(path, offset, length) });
        if (meta.complete && meta.verified === true && meta.chunks.reduce((a, b) => a + b, 0) === length) return true;
        return (await get(offset, length, check, meta)).fromCache;
      },
    };
  }

  /** The stored bytes, or null (and nothing stored any more) when they are incomplete or fail `check`. */
  async function cachedCopy(meta: ShardMeta, check: ReadCheck | undefined): Promise<Uint8Array | null> {
    try {
      const bytes = await cache.readAll(meta);
      await check?.(bytes, { origin: 'cache', attempt: 0 });
      return bytes;
    } catch {
      await cache.drop(meta).catch(() => undefined);
      await cache.store.delMany([fileKey(meta.file)]).catch(() => undefined);
      return null;
    }
  }

  async function store(fresh: ShardMeta, bytes: Uint8Array, verified: boolean): Promise<void> {
    let meta = fresh.chunks.length ? await cache.drop(fresh) : fresh;
    try {
      for (let p = 0; p < bytes.length || p === 0; p += PIECE) meta = await cache.append(meta, bytes.subarray(p, p + PIECE));
      await cache.markComplete(meta, verified);
    } catch (e) {
      await cache.drop(meta).catch(() => undefined);
      options.onNotStored?.(bytes.length, e);
    }
  }

  return {
    base,
    async open(path) {
      const [known] = await cache.store.getMany([fileKey(path)]);
      if (isFileRecord(known)) return known.size === null ? null : source(path, known.size, null);
      const net = await http.open(path);
      const size = net ? await net.size() : null;
      await cache.store.setMany([[fileKey(path), { size } satisfies FileRecord]]).catch(() => undefined);
      return size === null ? null : source(path, size, net);
    },
  };
}
