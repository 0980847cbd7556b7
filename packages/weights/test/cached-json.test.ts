import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { idbStore, ShardCache } from '../src/artifact/cache.ts';
import { cachedFileSource } from '../src/cached-files.ts';
import { readJsonFile } from '../src/checkpoint.ts';

const BASE = 'https://models.example/json/';

/** A server of one changing config.json; counts GETs. */
function server(body: { text: string }) {
  const gets: string[] = [];
  const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const bytes = new TextEncoder().encode(body.text);
    if (String(input) !== `${BASE}config.json`) return new Response(null, { status: 404 });
    if (init?.method === 'HEAD') return new Response(null, { headers: { 'Content-Length': String(bytes.length) } });
    gets.push((init?.headers as Record<string, string>).Range ?? '');
    const [a, b] = (/bytes=(\d+)-(\d+)/.exec((init?.headers as Record<string, string>).Range ?? '') ?? []).slice(1).map(Number);
    return new Response(bytes.slice(a, b + 1), { status: 206, headers: { 'Content-Range': `bytes ${a}-${b}/${bytes.length}` } });
  }) as typeof globalThis.fetch;
  return { fetch, gets };
}

async function readConfig(cache: ShardCache, fetch: typeof globalThis.fetch): Promise<unknown> {
  const src = await cachedFileSource(BASE, { cache, fetch }).open('config.json');
  return readJsonFile(src!, 'config.json');
}

describe('a JSON file that does not parse is never kept in the cache', () => {
  it('corrupt on the server: two downloads, an error that says so, nothing stored; fixed: read and cached', async () => {
    const kv = idbStore('g3n-json-test-1', 'shards');
    const cache = new ShardCache(kv);
    const body = { text: '{"hidden_size": 64,' };
    const srv = server(body);
    const err = await readConfig(cache, srv.fetch).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'BAD_CHECKPOINT', kind: 'bad-json', message: expect.stringMatching(/config\.json is not valid JSON .*downloaded 2 times, not cached/) });
    expect(srv.gets).toHaveLength(2);
    expect((await kv.keys()).filter((k) => k.includes('range:'))).toEqual([]);

    // The fixed file is one byte longer: its size is measured again, not taken from the failed visit.
    body.text = '{"hidden_size": 640}';
    expect(await readConfig(cache, srv.fetch)).toEqual({ hidden_size: 640 });
    expect(srv.gets).toHaveLength(3);
    expect(await readConfig(cache, srv.fetch)).toEqual({ hidden_size: 640 });
    expect(srv.gets).toHaveLength(3);
  });

  it('a bad copy already in the cache (stored before this check) is dropped and fetched again, never used', async () => {
    const kv = idbStore('g3n-json-test-2', 'shards');
    const cache = new ShardCache(kv);
    const broken = '{"hidden_size": 64, "x":1,';
    const body = { text: broken };
    const srv = server(body);
    // A read without a check stores whatever arrives, as the cache did before.
    const src = await cachedFileSource(BASE, { cache, fetch: srv.fetch }).open('config.json');
    await src!.read(0, await src!.size());
    expect(srv.gets).toHaveLength(1);

    // The server's file is fixed (same size, so the remembered size still holds).
    body.text = '{"hidden_size": 64, "x":1}'.padEnd(broken.length, ' ');
    expect(body.text.length).toBe(broken.length);
    expect(await readConfig(cache, srv.fetch)).toEqual({ hidden_size: 64, x: 1 });
    expect(srv.gets).toHaveLength(2);
    expect(await readConfig(cache, srv.fetch)).toEqual({ hidden_size: 64, x: 1 });
    expect(srv.gets).toHaveLength(2);
  });
});
