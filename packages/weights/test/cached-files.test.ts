import { describe, expect, it } from 'vitest';
import { ShardCache, type KeyValueStore } from '../src/artifact/cache.ts';
import { cachedFileSource, FILES_REVISION } from '../src/cached-files.ts';
import { httpFileSource } from '../src/sources.ts';

/** An in-memory KeyValueStore (the cache's IndexedDB store in the browser). */
function memoryStore(): KeyValueStore & { map: Map<string, unknown> } {
  const map = new Map<string, unknown>();
  return {
    map,
    getMany: async (keys) => keys.map((k) => map.get(k)),
    setMany: async (entries) => void entries.forEach(([k, v]) => map.set(k, v)),
    delMany: async (keys) => void keys.forEach((k) => map.delete(k)),
    keys: async () => [...map.keys()],
    clear: async () => map.clear(),
  };
}

const BASE = 'https://models.example/tiny/';
const FILES: Record<string, Uint8Array<ArrayBuffer>> = {
  'config.json': new TextEncoder().encode('{"model_type":"gemma3n"}'),
  'model.safetensors': Uint8Array.from({ length: 1000 }, (_, i) => i % 251),
};

/** A server for FILES with HEAD and single byte ranges; `online` false makes every request fail. */
function server() {
  const log: string[] = [];
  const state = { online: true, headers: [] as Array<Record<string, string>> };
  const fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = String(input);
    const method = init?.method ?? 'GET';
    const headers = (init?.headers ?? {}) as Record<string, string>;
    state.headers.push(headers);
    log.push(`${method} ${url.slice(BASE.length)}${headers.Range ? ` ${headers.Range}` : ''}`);
    if (!state.online) throw new TypeError('Failed to fetch');
    const body = FILES[url.slice(BASE.length)];
    if (!body) return new Response(null, { status: 404 });
    if (method === 'HEAD') return new Response(null, { status: 200, headers: { 'Content-Length': String(body.length) } });
    const m = /^bytes=(\d+)-(\d+)$/.exec(headers.Range ?? '');
    if (!m) return new Response(body, { status: 200 });
    const [a, b] = [Number(m[1]), Number(m[2])];
    return new Response(body.slice(a, b + 1), { status: 206, headers: { 'Content-Range': `bytes ${a}-${b}/${body.length}` } });
  };
  return { fetch: fetch as typeof globalThis.fetch, log, state };
}

describe('cachedFileSource', () => {
  it('stores each range on first read, then serves a second load from the cache with the network off', async () => {
    const store = memoryStore();
    const cache = new ShardCache(store);
    const srv = server();
    const reads: Array<[number, boolean]> = [];
    const first = cachedFileSource(BASE, { cache, fetch: srv.fetch, onRead: (n, c) => reads.push([n, c]) });
    const model = await first.open('model.safetensors');
    expect(await model!.size()).toBe(1000);
    expect([...(await model!.read(10, 20))]).toEqual([...FILES['model.safetensors'].subarray(10, 30)]);
    expect(await first.open('tokenizer_config.json')).toBeNull();
    const config = await first.open('config.json');
    expect(new TextDecoder().decode(await config!.read(0, await config!.size()))).toBe('{"model_type":"gemma3n"}');
    expect(reads).toEqual([
      [20, false],
      [24, false],
    ]);

    srv.state.online = false;
    const before = srv.log.length;
    const again = cachedFileSource(BASE, { cache, fetch: srv.fetch, onRead: (n, c) => reads.push([n, c]) });
    const cachedModel = await again.open('model.safetensors');
    expect([...(await cachedModel!.read(10, 20))]).toEqual([...FILES['model.safetensors'].subarray(10, 30)]);
    expect(await again.open('tokenizer_config.json')).toBeNull();
    expect(srv.log.length).toBe(before);
    expect(reads.at(-1)).toEqual([20, true]);

    const listed = await cache.list();
    expect(listed).toEqual([{ id: BASE, revision: FILES_REVISION, bytes: 44, shards: 2, completeShards: 2 }]);
    await cache.deleteModel({ id: BASE, revision: FILES_REVISION });
    expect(store.map.size).toBe(0);
  });

  it('a range not read before goes to the network, and fails there while offline', async () => {
    const cache = new ShardCache(memoryStore());
    const srv = server();
    const src = cachedFileSource(BASE, { cache, fetch: srv.fetch });
    const model = await src.open('model.safetensors');
    await model!.read(0, 8);
    srv.state.online = false;
    await expect(model!.read(8, 8)).rejects.toMatchObject({ code: 'NETWORK' });
  });

  it('a read that cannot be stored still returns its bytes and is reported', async () => {
    const store = memoryStore();
    const full = { ...store, setMany: async () => Promise.reject(new DOMException('full', 'QuotaExceededError')) };
    const srv = server();
    const notStored: number[] = [];
    const src = cachedFileSource(BASE, { cache: new ShardCache(full), fetch: srv.fetch, onNotStored: (n) => notStored.push(n) });
    const model = await src.open('model.safetensors');
    expect([...(await model!.read(0, 4))]).toEqual([0, 1, 2, 3]);
    expect(notStored).toEqual([4]);
  });
});

describe('httpFileSource reads', () => {
  it('are reported with their size, as network reads; size probes are not', async () => {
    const srv = server();
    const reads: Array<[number, boolean]> = [];
    const src = httpFileSource(BASE, { fetch: srv.fetch, onRead: (n, c) => reads.push([n, c]) });
    const model = await src.open('model.safetensors');
    expect(reads).toEqual([]);
    expect([...(await model!.read(250, 3))]).toEqual([250, 0, 1]);
    expect(reads).toEqual([[3, false]]);
    expect(srv.log).toEqual(['HEAD model.safetensors', 'GET model.safetensors bytes=250-252']);
  });
});
