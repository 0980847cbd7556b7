/**
 * A static file server for weight-loading tests (Node tests and Playwright): serves directories under
 * URL prefixes with single byte ranges, logs every request (path, Range, status, body bytes sent), and
 * injects faults on demand: cut a response after N body bytes, corrupt a response's bytes, ignore Range
 * (answer 200 with the whole file), or send slowly in small chunks.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, statSync } from 'node:fs';
import { join, normalize, sep } from 'node:path';

export interface RequestLog {
  path: string;
  method: string;
  range: string | null;
  status: number;
  /** Body bytes written before the response ended or was cut. */
  sent: number;
  /** First byte of the body within the file. */
  start: number;
}

export interface Faults {
  /** The next GETs of a file (by name) send these many body bytes each, then drop the connection. */
  cut: Map<string, number[]>;
  /** Remaining GETs of a path whose body gets one byte flipped. */
  corrupt: Map<string, number>;
  /** Ignore Range headers: always 200 with the whole file. */
  noRange: boolean;
  /** Send bodies in chunks of this many bytes with `delayMs` between them (0: all at once). */
  chunkBytes: number;
  delayMs: number;
}

export interface ArtifactServer {
  url: string;
  log: RequestLog[];
  faults: Faults;
  /** GET requests for files whose name matches `re`. */
  gets(re: RegExp): RequestLog[];
  reset(): void;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = { html: 'text/html', js: 'text/javascript', json: 'application/json', bin: 'application/octet-stream', css: 'text/css' };

function freshFaults(): Faults {
  return { cut: new Map(), corrupt: new Map(), noRange: false, chunkBytes: 0, delayMs: 0 };
}

/** Serve `routes` (URL prefix -> directory) on localhost; port 0 picks a free one. */
export async function startArtifactServer(routes: Record<string, string>, port = 0): Promise<ArtifactServer> {
  const log: RequestLog[] = [];
  const state = { faults: freshFaults() };
  const server = createServer((req, res) => {
    handle(req, res, routes, state.faults, log).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(port, 'localhost', resolve));
  const { port: actual } = server.address() as AddressInfo;
  return {
    url: `http://localhost:${actual}`,
    log,
    get faults() {
      return state.faults;
    },
    gets: (re) => log.filter((r) => r.method === 'GET' && re.test(r.path)),
    reset() {
      log.length = 0;
      state.faults = freshFaults();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function resolveFile(url: string, routes: Record<string, string>): string | null {
  const path = decodeURIComponent(url.split('?')[0]);
  const prefix = Object.keys(routes)
    .filter((p) => path.startsWith(p))
    .sort((a, b) => b.length - a.length)[0];
  if (prefix === undefined) return null;
  const root = normalize(routes[prefix]);
  const rel = path.slice(prefix.length) || 'index.html';
  const file = normalize(join(root, rel));
  if (!file.startsWith(root.endsWith(sep) ? root : root + sep)) return null;
  try {
    return statSync(file).isFile() ? file : null;
  } catch {
    return null;
  }
}

async function handle(req: IncomingMessage, res: ServerResponse, routes: Record<string, string>, faults: Faults, log: RequestLog[]): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  const name = path.split('/').pop() ?? '';
  const entry: RequestLog = { path, method: req.method ?? 'GET', range: req.headers.range ?? null, status: 0, sent: 0, start: 0 };
  log.push(entry);
  const file = resolveFile(req.url ?? '/', routes);
  if (!file) {
    entry.status = 404;
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
    return;
  }
  const size = statSync(file).size;
  let start = 0;
  let end = size - 1;
  const range = faults.noRange ? null : /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
  const headers: Record<string, string> = { 'Content-Type': TYPES[name.split('.').pop() ?? ''] ?? 'application/octet-stream', 'Cache-Control': 'no-store' };
  if (!faults.noRange) headers['Accept-Ranges'] = 'bytes';
  let status = 200;
  if (range && (range[1] || range[2])) {
    start = range[1] ? Number(range[1]) : Math.max(0, size - Number(range[2]));
    end = range[1] && range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
    if (start > end) {
      entry.status = 416;
      res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
      return;
    }
    status = 206;
    headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
  }
  headers['Content-Length'] = String(end - start + 1);
  entry.status = status;
  entry.start = start;
  res.writeHead(status, headers);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const body = readFileSync(file).subarray(start, end + 1);
  const corrupt = faults.corrupt.get(name) ?? 0;
  if (corrupt > 0 && body.length > 0) {
    faults.corrupt.set(name, corrupt - 1);
    const copy = Buffer.from(body);
    copy[copy.length >> 1] ^= 0xff;
    return send(res, copy, faults, entry, takeCut(faults, name));
  }
  return send(res, body, faults, entry, takeCut(faults, name));
}

function takeCut(faults: Faults, name: string): number | null {
  const queue = faults.cut.get(name);
  const n = queue?.shift();
  if (queue && queue.length === 0) faults.cut.delete(name);
  return n ?? null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function write(res: ServerResponse, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => res.write(bytes, (e) => (e ? reject(e) : resolve())));
}

async function send(res: ServerResponse, body: Uint8Array, faults: Faults, entry: RequestLog, cutAfter: number | null): Promise<void> {
  const limit = cutAfter === null ? body.length : Math.min(cutAfter, body.length);
  const step = faults.chunkBytes > 0 ? faults.chunkBytes : limit || 1;
  for (let at = 0; at < limit; at += step) {
    const piece = body.subarray(at, Math.min(at + step, limit));
    await write(res, piece);
    entry.sent += piece.length;
    if (faults.delayMs > 0 && at + step < limit) await sleep(faults.delayMs);
    if (res.destroyed) return;
  }
  if (cutAfter !== null && limit < body.length) {
    await sleep(50);
    res.socket?.destroy();
    return;
  }
  res.end();
}
