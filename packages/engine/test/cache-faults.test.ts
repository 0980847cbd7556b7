/**
 * Faults of the IndexedDB weights cache under the engine (fake-indexeddb): the origin's quota runs out
 * halfway through the first download (the load still succeeds and the cache keeps only whole, correct
 * records); then records are deleted behind the cache's back (a chunk, a meta record). The next load
 * downloads exactly what is missing (the ranges never stored and the damaged ones, never read as holes),
 * answers the golden tokens, and leaves every range stored. (A load with nothing missing asks nothing
 * of the server: reload.test.ts.)
 */
import 'fake-indexeddb/auto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestNodeGpu } from '@g3n/gpu/node';
import { idbStore, ShardCache, storedBytes, type KeyValueStore, type ShardMeta } from '@g3n/weights';
import { startArtifactServer, type ArtifactServer } from '../../../e2e/server/artifact-server.ts';
import { InThreadEngine } from '../src/engine.ts';
import { modelFiles } from '../src/files.ts';
import type { LoadProgress } from '../src/types.ts';
import { golden, GPU_TEST_TIMEOUT, TINY_DIR, tokenizerJson } from './helpers.ts';

/** model.safetensors' header (8 + 25,976 bytes) and the weights a text load reads (reload.test.ts). */
const SAFETENSORS_READ = 8 + 25_976 + 3_026_128;
const greedy = (max_tokens: number) => ({ messages: [], prompt_token_ids: golden.prompt_ids, max_tokens, temperature: 0 });

/** The raw IndexedDB store, and the cache's view of it with a quota on stored bytes (QuotaExceededError past it). */
const raw = idbStore('g3n-cache-faults', 'shards');
const quota = { limit: Infinity, used: 0 };
const limited: KeyValueStore = {
  ...raw,
  async setMany(entries) {
    const bytes = entries.reduce((n, [, v]) => n + (v instanceof Uint8Array ? v.length : 0), 0);
    if (quota.used + bytes > quota.limit) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    await raw.setMany(entries);
    quota.used += bytes;
  },
};

const isMeta = (v: unknown): v is ShardMeta => typeof v === 'object' && v !== null && 'chunks' in v && 'complete' in v;

/** Every record of the store: metas whose chunks are all there with their recorded lengths, complete ones holding the file's bytes at their range, no chunk without its meta. */
async function expectConsistent(): Promise<{ metas: Array<[string, ShardMeta]>; completeBytes: number }> {
  const keys = await raw.keys();
  const values = await raw.getMany(keys);
  const byKey = new Map(keys.map((k, i) => [k, values[i]]));
  const metas = keys.flatMap((k, i) => (k.endsWith('/meta') && isMeta(values[i]) ? [[k, values[i] as ShardMeta] as [string, ShardMeta]] : []));
  let completeBytes = 0;
  for (const [key, m] of metas) {
    const prefix = key.slice(0, -'meta'.length);
    m.chunks.forEach((n, i) => expect((byKey.get(`${prefix}${i}`) as Uint8Array | undefined)?.length, `${key}: chunk ${i}`).toBe(n));
    if (!m.complete) continue;
    expect(storedBytes(m), key).toBe(m.bytes);
    const [, file, offset, length] = /^range:(.+):(\d+):(\d+)$/.exec(m.sha256)!;
    const want = readFileSync(join(TINY_DIR, decodeURIComponent(file))).subarray(Number(offset), Number(offset) + Number(length));
    const have = await new ShardCache(raw).readAll(m);
    expect(Buffer.from(have).equals(want), `${key}: stored bytes equal the file's`).toBe(true);
    completeBytes += m.bytes;
  }
  for (const k of keys) {
    const chunk = /^(.*\/)(\d+)$/.exec(k);
    if (!chunk) continue;
    const meta = byKey.get(`${chunk[1]}meta`);
    expect(isMeta(meta) && Number(chunk[2]) < meta.chunks.length, `${k} belongs to a meta record`).toBe(true);
  }
  return { metas, completeBytes };
}

let server: ArtifactServer;
let engine: InThreadEngine;
const notStored: number[] = [];

describe('weights cache faults through engine.load', { timeout: GPU_TEST_TIMEOUT }, () => {
  beforeAll(async () => {
    await raw.clear();
    server = await startArtifactServer({ '/tiny/': TINY_DIR });
    const cache = new ShardCache(limited);
    engine = new InThreadEngine({ requestGpu: () => requestNodeGpu(), files: (model, request) => modelFiles(model, request, { cache, onNotStored: (n) => notStored.push(n) }) });
  });
  afterAll(async () => {
    await engine?.unload();
    await server?.close();
  });

  const sentSafetensors = (since: number) => server.log.slice(since).filter((r) => r.method === 'GET' && /model\.safetensors$/.test(r.path)).reduce((a, r) => a + r.sent, 0);
  const load = async () => {
    const events: LoadProgress[] = [];
    const since = server.log.length;
    await engine.load({ model: `${server.url}/tiny/`, tokenizer: tokenizerJson, maxContext: 64, maxChunk: 64, onProgress: (p) => events.push(p) });
    return { events, sent: sentSafetensors(since) };
  };

  it('quota exceeded halfway, then records deleted behind the cache: the next load downloads exactly what is missing', async () => {
    quota.limit = SAFETENSORS_READ / 2;
    const first = await load();
    expect(first.sent).toBe(SAFETENSORS_READ);
    expect(notStored.length).toBeGreaterThan(0);
    const afterFirst = await expectConsistent();
    // About half is kept (whole ranges only, every record complete), the rest was reported as not stored.
    expect(afterFirst.completeBytes).toBeGreaterThan(SAFETENSORS_READ / 4);
    expect(afterFirst.completeBytes).toBeLessThanOrEqual(SAFETENSORS_READ / 2 + 3105);
    expect(afterFirst.metas.every(([, m]) => m.complete)).toBe(true);

    // Behind the cache's back: the first chunk of the largest stored range and the meta of the next one.
    const ranges = afterFirst.metas.filter(([, m]) => m.file === 'model.safetensors').sort((a, b) => b[1].bytes - a[1].bytes);
    const stored = ranges.reduce((a, [, m]) => a + m.bytes, 0);
    const [chunkOf, metaOf] = [ranges[0], ranges[1]];
    await raw.delMany([`${chunkOf[0].slice(0, -'meta'.length)}0`, metaOf[0]]);

    quota.limit = Infinity;
    const second = await load();
    expect((await engine.chat.completions.create(greedy(golden.generated_ids.length))).choices[0].token_ids).toEqual(golden.generated_ids);
    expect(second.sent).toBe(SAFETENSORS_READ - stored + chunkOf[1].bytes + metaOf[1].bytes);
    expect(second.events.filter((e) => e.phase === 'cache').length).toBeGreaterThan(0);
    const afterSecond = await expectConsistent();
    expect(afterSecond.metas.every(([, m]) => m.complete)).toBe(true);
    expect(afterSecond.metas.filter(([, m]) => m.file === 'model.safetensors').reduce((a, [, m]) => a + m.bytes, 0)).toBe(SAFETENSORS_READ);
  });
});
