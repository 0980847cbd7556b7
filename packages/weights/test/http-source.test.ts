import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpFileSource, NetworkError, openCheckpoint } from '../src/index.ts';
import { nodeFileSource } from '../src/node.ts';

const TINY_A = join(import.meta.dirname, '../../../../shared/fixtures/gemma3n-tiny-a');

/**
 * Serves the tiny-a folder under /<mode>/<file>. Modes: `range` (HEAD + Range, like a CDN),
 * `norange` (ignores Range: 200 with the whole body), `nohead` (405 on HEAD), `nolength` (HEAD
 * without Content-Length, chunked bodies), `auth` (range, but 401 without the bearer token),
 * `short` (206 with one byte too few), `broken` (500 on everything).
 */
function handler(log: string[]) {
  return async (req: IncomingMessage, res: ServerResponse) => {
    const [, mode, ...rest] = (req.url ?? '/').split('/');
    const file = rest.join('/');
    log.push(`${req.method} ${mode} ${req.headers.range ?? '-'}`);
    if (mode === 'broken') return void res.writeHead(500).end();
    if (mode === 'auth' && req.headers.authorization !== 'Bearer t0ken') return void res.writeHead(401).end();
    let body: Buffer;
    try {
      body = await readFile(join(TINY_A, file));
    } catch {
      return void res.writeHead(404).end();
    }
    const chunked = mode === 'nolength';
    if (req.method === 'HEAD') {
      if (mode === 'nohead') return void res.writeHead(405).end();
      return void res.writeHead(200, chunked ? {} : { 'Content-Length': body.length }).end();
    }
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (!m || mode === 'norange') {
      res.writeHead(200, chunked ? {} : { 'Content-Length': body.length });
      for (let i = 0; i < body.length; i += 65536) res.write(body.subarray(i, i + 65536));
      return void res.end();
    }
    const a = Number(m[1]);
    const b = Math.min(Number(m[2]), body.length - 1);
    if (a >= body.length) return void res.writeHead(416, { 'Content-Range': `bytes */${body.length}` }).end();
    const part = body.subarray(a, mode === 'short' ? b : b + 1);
    res.writeHead(206, { 'Content-Range': `bytes ${a}-${b}/${body.length}`, ...(chunked ? {} : { 'Content-Length': part.length }) });
    res.end(part);
  };
}

let server: Server;
let base: string;
const log: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => void handler(log)(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('httpFileSource', () => {
  const local = nodeFileSource(TINY_A);
  for (const mode of ['range', 'norange', 'nohead', 'nolength']) {
    it(`reads the same bytes as the local file (${mode})`, async () => {
      const src = (await httpFileSource(`${base}/${mode}`).open('model.safetensors'))!;
      const ref = (await local.open('model.safetensors'))!;
      expect(src.name).toBe(`${base}/${mode}/model.safetensors`);
      expect(await src.size()).toBe(await ref.size());
      for (const [offset, length] of [[0, 8], [8, 100], [3_000_000, 183_616], [3_183_615, 1], [70_000, 0]]) {
        const got = await src.read(offset, length);
        expect(Buffer.compare(got, await ref.read(offset, length)), `${offset}+${length}`).toBe(0);
      }
    });
  }

  it('probes the size with a one-byte Range GET when HEAD fails or has no length', async () => {
    log.length = 0;
    await httpFileSource(`${base}/nohead/`).open('config.json');
    await httpFileSource(`${base}/nolength`).open('config.json');
    expect(log).toEqual(['HEAD nohead -', 'GET nohead bytes=0-0', 'HEAD nolength -', 'GET nolength bytes=0-0']);
  });

  it('openCheckpoint over HTTP equals the local checkpoint', async () => {
    const [remote, disk] = await Promise.all([openCheckpoint(httpFileSource(`${base}/range`)), openCheckpoint(local)]);
    expect(remote.config).toEqual(disk.config);
    expect([...remote.tensors.values()]).toEqual([...disk.tensors.values()]);
    for (const name of ['model.language_model.norm.weight', 'model.language_model.embed_tokens.weight', 'model.embed_vision.embedding.weight']) {
      expect(Buffer.compare(await remote.read(name), await disk.read(name)), name).toBe(0);
    }
  });

  it('missing files are null; errors are typed with their status', async () => {
    expect(await httpFileSource(`${base}/range`).open('model.safetensors.index.json')).toBeNull();
    expect(await httpFileSource(`${base}/nohead`).open('nope.json')).toBeNull();
    const err = await httpFileSource(`${base}/broken`).open('config.json').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect(err).toMatchObject({ code: 'NETWORK', status: 500 });
    await expect(httpFileSource(`${base}/auth`).open('config.json')).rejects.toMatchObject({ code: 'NETWORK', status: 401 });
    const short = (await httpFileSource(`${base}/short`).open('config.json'))!;
    await expect(short.read(10, 20)).rejects.toMatchObject({ code: 'NETWORK', status: 206 });
    const ok = (await httpFileSource(`${base}/range`).open('config.json'))!;
    await expect(ok.read(3000, 1000)).rejects.toMatchObject({ code: 'NETWORK' });
    const down = await httpFileSource('http://127.0.0.1:9/x').open('config.json').catch((e: unknown) => e);
    expect(down).toMatchObject({ code: 'NETWORK', status: 0 });
  });

  it('sends the given headers and uses the given fetch', async () => {
    const seen: string[] = [];
    const counting: typeof fetch = (input, init) => {
      seen.push(`${init?.method} ${String(input)}`);
      return fetch(input, init);
    };
    const src = (await httpFileSource(`${base}/auth`, { headers: { Authorization: 'Bearer t0ken' }, fetch: counting }).open('config.json'))!;
    const text = new TextDecoder().decode(await src.read(0, await src.size()));
    expect(JSON.parse(text).model_type).toBe('gemma3n');
    expect(seen).toEqual([`HEAD ${base}/auth/config.json`, `GET ${base}/auth/config.json`]);
  });
});
