/**
 * One shard over HTTP into a sink, resumable: ask `Range: bytes=<stored>-`, append the body to the sink
 * in chunks of at most `chunkBytes` as it arrives, and after a cut connection store what came and ask
 * again from there. A 200 answer to a Range request (a server without Range support) restarts the shard
 * from byte 0. Hash checking is the caller's (the whole shard is needed for it).
 */
import { NetworkError } from '../errors.ts';
import { AbortedError } from './errors.ts';
import type { ManifestShard } from './manifest.ts';

/** Where downloaded bytes go: the IndexedDB cache, or memory when there is none. */
export interface ShardSink {
  stored(): number;
  append(bytes: Uint8Array): Promise<void>;
  /** Forget everything stored (restart the shard). */
  reset(): Promise<void>;
  readAll(): Promise<Uint8Array>;
}

export interface ShardDownload {
  url: string;
  shard: ManifestShard;
  sink: ShardSink;
  fetch: typeof fetch;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Bytes kept in memory before they are appended to the sink (default 4 MiB). */
  chunkBytes?: number;
  /** Attempts in a row that may fail without delivering a byte (default 3). */
  retries?: number;
  /** Called with every body chunk's size as it arrives, and the shard bytes received so far (stored or about to be). */
  onBytes?: (n: number, position: number) => void;
}

/** An in-memory sink (no cache): the shard is assembled in one buffer. */
export function memoryShardSink(size: number): ShardSink {
  let buf = new Uint8Array(size);
  let n = 0;
  return {
    stored: () => n,
    async append(bytes) {
      buf.set(bytes, n);
      n += bytes.length;
    },
    async reset() {
      buf = new Uint8Array(size);
      n = 0;
    },
    async readAll() {
      return n === size ? buf : buf.slice(0, n);
    },
  };
}

function isAbort(e: unknown, signal?: AbortSignal): boolean {
  return (e instanceof Error || e instanceof DOMException) && (e.name === 'AbortError' || e.name === 'TimeoutError') && !!signal?.aborted;
}

class Retryable extends Error {}

/** Fill `d.sink` with all of the shard's bytes (unverified). */
export async function downloadShard(d: ShardDownload): Promise<void> {
  const retries = d.retries ?? 3;
  let failures = 0;
  let lastError: unknown = null;
  while (d.sink.stored() < d.shard.bytes) {
    if (d.signal?.aborted) throw new AbortedError(`Downloading ${d.shard.file}`);
    const before = d.sink.stored();
    try {
      await fetchFrom(d, before);
      if (d.sink.stored() < d.shard.bytes) throw new Retryable(`the response ended after ${d.sink.stored()} of ${d.shard.bytes} bytes`);
    } catch (e) {
      if (isAbort(e, d.signal)) throw new AbortedError(`Downloading ${d.shard.file}`);
      if (!(e instanceof Retryable)) throw e;
      lastError = e;
      failures = d.sink.stored() > before ? 0 : failures + 1;
      if (failures > retries) throw new NetworkError(d.url, 0, `download failed ${failures} times in a row (${(lastError as Error).message})`);
    }
  }
}

async function fetchFrom(d: ShardDownload, from: number): Promise<void> {
  const headers: Record<string, string> = { ...d.headers };
  if (from > 0) headers.Range = `bytes=${from}-`;
  let res: Response;
  try {
    res = await d.fetch(d.url, { headers, signal: d.signal, cache: 'no-store' });
  } catch (e) {
    if (isAbort(e, d.signal)) throw e;
    throw new Retryable(`request failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (res.status === 206) {
    const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)/.exec(res.headers.get('content-range') ?? '');
    if (!m || Number(m[1]) !== from) {
      await res.body?.cancel();
      throw new NetworkError(d.url, 206, `asked for bytes from ${from}, the server sent ${res.headers.get('content-range') ?? 'no Content-Range'}`);
    }
  } else if (res.status === 200) {
    if (from > 0) await d.sink.reset();
  } else {
    await res.body?.cancel().catch(() => undefined);
    const transient = res.status >= 500 || res.status === 408 || res.status === 429;
    if (transient) throw new Retryable(`HTTP ${res.status}`);
    throw new NetworkError(d.url, res.status, `could not download ${d.shard.file}`);
  }
  if (!res.body) throw new Retryable('the response has no body');
  await pump(d, res.body.getReader());
}

/** Move the body into the sink chunk by chunk; on a broken body, store what came, then report it retryable. */
async function pump(d: ShardDownload, reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
  const limit = d.chunkBytes ?? 4 << 20;
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  const flush = async () => {
    if (pendingBytes === 0) return;
    const chunk = new Uint8Array(pendingBytes);
    let at = 0;
    for (const p of pending) {
      chunk.set(p, at);
      at += p.length;
    }
    pending = [];
    pendingBytes = 0;
    await d.sink.append(chunk);
  };
  let broken: unknown = null;
  try {
    for (;;) {
      const room = d.shard.bytes - d.sink.stored() - pendingBytes;
      if (room <= 0) break;
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (e) {
        broken = e;
        break;
      }
      if (next.done) break;
      const part = next.value.length > room ? next.value.subarray(0, room) : next.value;
      pending.push(part);
      pendingBytes += part.length;
      d.onBytes?.(part.length, d.sink.stored() + pendingBytes);
      if (pendingBytes >= limit) await flush();
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  await flush();
  if (broken !== null) {
    if (isAbort(broken, d.signal)) throw broken;
    throw new Retryable(`the connection broke: ${broken instanceof Error ? broken.message : String(broken)}`);
  }
}
