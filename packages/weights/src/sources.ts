import { NetworkError } from './errors.ts';

/** Where a read's bytes came from: the IndexedDB cache, the network, a local file. */
export type ByteOrigin = 'cache' | 'network' | 'file';

/**
 * A check of bytes before anything uses or stores them (piece hashes, JSON that must parse): it
 * throws a typed error for bad bytes. `attempt` counts downloads of them (1, 2); 0 for a cache or a file.
 */
export type ReadCheck = (bytes: Uint8Array, from: { origin: ByteOrigin; attempt: number }) => Promise<void> | void;

/** Random access to the bytes of one file (a local file, an HTTP resource, a cached blob). */
export interface ByteSource {
  readonly name: string;
  size(): Promise<number>;
  /**
   * Exactly `length` bytes starting at `offset`, or a typed error. With `check`, the bytes returned
   * passed it: bytes from the network that fail are downloaded once more, a cached copy that fails is
   * dropped and downloaded again, a cache stores only bytes that passed; otherwise the check's error.
   */
  read(offset: number, length: number, check?: ReadCheck): Promise<Uint8Array>;
  /**
   * Only where the source keeps what it reads (the weights cache): make `length` bytes at `offset`
   * local without handing them over, so that a later `read` of the same range with the same check is
   * served from the cache. A stored copy that passed its check when it was stored stays as it is,
   * unread; anything else goes the way of `read` with `check` (downloaded, checked, stored) and is let
   * go. Resolves to whether the bytes were in the cache (false: they were downloaded).
   */
  keep?(offset: number, length: number, check: ReadCheck): Promise<boolean>;
}

/** Download with `get` until `check` passes, twice at most (the second failure's error propagates). */
export async function downloadChecked(get: () => Promise<Uint8Array>, check: ReadCheck): Promise<Uint8Array> {
  for (let attempt = 1; ; attempt++) {
    const bytes = await get();
    try {
      await check(bytes, { origin: 'network', attempt });
      return bytes;
    } catch (e) {
      if (attempt >= 2) throw e;
    }
  }
}

/** `source.read` with `check`, applied here too when the source does not take checks (a FileSource of the caller's own). */
export async function readChecked(source: ByteSource, offset: number, length: number, check: ReadCheck): Promise<Uint8Array> {
  let checked = false;
  const bytes = await source.read(offset, length, async (b, from) => {
    await check(b, from);
    checked = true;
  });
  if (!checked) await check(bytes, { origin: 'file', attempt: 0 });
  return bytes;
}

/** A directory of files, e.g. a checkpoint folder on disk or under a URL. */
export interface FileSource {
  readonly base: string;
  /** null when the file does not exist. */
  open(path: string): Promise<ByteSource | null>;
}

/**
 * Told after each read of a file: how many bytes, and whether they came from a cache in front of
 * the files (IndexedDB) rather than from the files' own place (the network, the disk).
 */
export type ReadListener = (bytes: number, fromCache: boolean) => void;

export interface HttpInit {
  headers?: Record<string, string>;
  fetch?: typeof fetch;
  /** After each read (never for the size probes); HTTP reads are never from a cache. */
  onRead?: ReadListener;
}

/**
 * Files under `baseUrl`, read with HTTP Range requests. `open` learns the size from a HEAD (or,
 * when HEAD gives no usable Content-Length, from the Content-Range of a `bytes=0-0` GET); reads ask
 * for `bytes=a-b`, check a 206 answer's length and slice a 200 (full body) answer, reading the
 * body only as far as needed.
 */
export function httpFileSource(baseUrl: string, init: HttpInit = {}): FileSource {
  const doFetch = init.fetch ?? ((input: RequestInfo | URL, req?: RequestInit) => fetch(input, req));
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  const request = async (url: string, method: string, extra: Record<string, string> = {}): Promise<Response> => {
    try {
      return await doFetch(url, { method, headers: { ...init.headers, ...extra } });
    } catch (e) {
      throw new NetworkError(url, 0, `${method} failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  return {
    base: baseUrl,
    async open(path: string): Promise<ByteSource | null> {
      const url = new URL(path, base).href;
      const size = await probeSize(url, request);
      if (size === null) return null;
      return {
        name: url,
        size: async () => size,
        async read(offset, length, check) {
          const get = () => rangeRead(url, size, offset, length, request);
          const bytes = check ? await downloadChecked(get, check) : await get();
          init.onRead?.(length, false);
          return bytes;
        },
      };
    },
  };
}

type Request = (url: string, method: string, extra?: Record<string, string>) => Promise<Response>;

function usableLength(res: Response): number | null {
  const encoding = res.headers.get('content-encoding');
  if (encoding && encoding !== 'identity') return null;
  const len = res.headers.get('content-length');
  return len !== null && /^\d+$/.test(len.trim()) ? Number(len) : null;
}

function isMissing(status: number): boolean {
  return status === 404 || status === 410;
}

async function probeSize(url: string, request: Request): Promise<number | null> {
  const head = await request(url, 'HEAD');
  if (isMissing(head.status)) return null;
  if (head.ok) {
    const len = usableLength(head);
    if (len !== null) return len;
  }
  const res = await request(url, 'GET', { Range: 'bytes=0-0' });
  if (isMissing(res.status)) {
    await res.body?.cancel();
    return null;
  }
  if (res.status === 206 || res.status === 416) {
    const total = /\/(\d+)\s*$/.exec(res.headers.get('content-range') ?? '');
    await res.body?.cancel();
    if (total) return Number(total[1]);
    throw new NetworkError(url, res.status, 'the server did not report the file size (no Content-Range total)');
  }
  if (res.status === 200) {
    const len = usableLength(res);
    await res.body?.cancel();
    if (len !== null) return len;
    throw new NetworkError(url, res.status, 'the server reports neither Content-Length nor Content-Range');
  }
  await res.body?.cancel();
  throw new NetworkError(url, res.status, 'could not determine the file size');
}

async function rangeRead(url: string, size: number, offset: number, length: number, request: Request): Promise<Uint8Array> {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new NetworkError(url, 0, `read of ${length} bytes at ${offset} is outside the file (${size} bytes)`);
  }
  if (length === 0) return new Uint8Array(0);
  const res = await request(url, 'GET', { Range: `bytes=${offset}-${offset + length - 1}` });
  if (res.status === 206) {
    const range = /^bytes\s+(\d+)-(\d+)\//.exec(res.headers.get('content-range') ?? '');
    if (range && (Number(range[1]) !== offset || Number(range[2]) !== offset + length - 1)) {
      await res.body?.cancel();
      throw new NetworkError(url, 206, `asked for bytes ${offset}-${offset + length - 1}, got ${range[1]}-${range[2]}`);
    }
    const bytes = new Uint8Array(await bodyBytes(url, res));
    if (bytes.length !== length) throw new NetworkError(url, 206, `expected ${length} bytes, received ${bytes.length}`);
    return bytes;
  }
  if (res.status === 200) return sliceBody(url, res, offset, length);
  await res.body?.cancel();
  throw new NetworkError(url, res.status, `range request for ${length} bytes at ${offset} failed`);
}

async function bodyBytes(url: string, res: Response): Promise<ArrayBuffer> {
  try {
    return await res.arrayBuffer();
  } catch (e) {
    throw new NetworkError(url, res.status, `the response body broke off: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** The server ignored Range and sends the whole file: keep [offset, offset+length) and stop there. */
async function sliceBody(url: string, res: Response, offset: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  if (!res.body) throw new NetworkError(url, 200, 'empty response body');
  const reader = res.body.getReader();
  let pos = 0;
  let filled = 0;
  try {
    while (filled < length) {
      const { done, value } = await reader.read();
      if (done) break;
      const from = Math.max(offset - pos, 0);
      const to = Math.min(offset + length - pos, value.length);
      if (to > from) {
        out.set(value.subarray(from, to), pos + from - offset);
        filled += to - from;
      }
      pos += value.length;
    }
  } catch (e) {
    throw new NetworkError(url, 200, `the response body broke off: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  if (filled !== length) throw new NetworkError(url, 200, `expected ${length} bytes at ${offset}, the body ended after ${pos} bytes`);
  return out;
}
