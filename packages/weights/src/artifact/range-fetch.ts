/**
 * Byte spans of one file over HTTP Range requests, a few in flight: each span is asked for as
 * `Range: bytes=a-b`; a cut body keeps what arrived and the rest is asked for again (up to `retries`
 * attempts in a row without a byte); a 200 answer from a server without Range support is read from
 * the start and skipped up to the span. Hashing and storing are the caller's (range-loader.ts).
 */
import { NetworkError } from '../errors.ts';
import { AbortedError } from './errors.ts';
import type { Span } from './ranges.ts';

export interface Chunk {
  start: number;
  bytes: Uint8Array;
}

export interface SpanFetch {
  url: string;
  spans: readonly Span[];
  fetch: typeof fetch;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Attempts in a row that may fail without delivering a byte. */
  retries: number;
  /** Requests in flight at once. */
  concurrency: number;
  /** Counters to add to: body bytes received and requests made. */
  stats: { networkBytes: number; requests: number };
  /** Every body chunk's size as it arrives. */
  onBytes?: (n: number) => void;
}

/** The bytes of every span, in order. */
export async function fetchSpans(d: SpanFetch): Promise<Chunk[]> {
  const out: Chunk[] = new Array(d.spans.length);
  let next = 0;
  const worker = async () => {
    while (next < d.spans.length) {
      const i = next++;
      out[i] = await fetchSpan(d, d.spans[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, d.concurrency), d.spans.length) }, worker));
  return out;
}

async function fetchSpan(d: SpanFetch, [start, end]: Span): Promise<Chunk> {
  const out = new Uint8Array(end - start);
  const what = `Downloading ${d.url}`;
  let got = 0;
  let failures = 0;
  let lastError = 'the response ended early';
  while (got < out.length) {
    if (d.signal?.aborted) throw new AbortedError(what);
    const before = got;
    d.stats.requests++;
    try {
      got = await fetchInto(d, start + got, end, out, got);
    } catch (e) {
      if (d.signal?.aborted) throw new AbortedError(what);
      if (!(e instanceof Retryable)) throw e;
      lastError = e.message;
    }
    failures = got > before ? 0 : failures + 1;
    if (failures > d.retries) throw new NetworkError(d.url, 0, `bytes ${start + got}-${end - 1} failed ${failures} times in a row (${lastError})`);
  }
  return { start, bytes: out };
}

class Retryable extends Error {}

/**
 * One Range request for bytes [from, end) of `url` into `out` at `at`; returns the new fill level,
 * short of `out.length` when the body ended or broke early (the caller asks again from there).
 * A 200 answer (a server without Range support) is read from its start and skipped up to `from`.
 */
async function fetchInto(d: SpanFetch, from: number, end: number, out: Uint8Array, at: number): Promise<number> {
  const url = d.url;
  let res: Response;
  try {
    res = await d.fetch(url, { headers: { ...d.headers, Range: `bytes=${from}-${end - 1}` }, signal: d.signal, cache: 'no-store' });
  } catch (e) {
    throw new Retryable(`request failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  let skip = 0;
  if (res.status === 206) {
    const m = /^bytes\s+(\d+)-(\d+)\//.exec(res.headers.get('content-range') ?? '');
    if (!m || Number(m[1]) !== from) {
      await res.body?.cancel().catch(() => undefined);
      throw new NetworkError(url, 206, `asked for bytes ${from}-${end - 1}, the server sent ${res.headers.get('content-range') ?? 'no Content-Range'}`);
    }
  } else if (res.status === 200) {
    skip = from;
  } else {
    await res.body?.cancel().catch(() => undefined);
    if (res.status >= 500 || res.status === 408 || res.status === 429) throw new Retryable(`HTTP ${res.status}`);
    throw new NetworkError(url, res.status, `could not fetch bytes ${from}-${end - 1}`);
  }
  if (!res.body) throw new Retryable('the response has no body');
  const reader = res.body.getReader();
  let pos = at;
  try {
    while (pos < out.length) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (e) {
        if (d.signal?.aborted) throw e;
        break;
      }
      if (next.done) break;
      d.stats.networkBytes += next.value.length;
      d.onBytes?.(next.value.length);
      let chunk = next.value;
      if (skip > 0) {
        const drop = Math.min(skip, chunk.length);
        skip -= drop;
        chunk = chunk.subarray(drop);
      }
      const take = Math.min(chunk.length, out.length - pos);
      out.set(chunk.subarray(0, take), pos);
      pos += take;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return pos;
}
