import 'fake-indexeddb/auto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startArtifactServer, type ArtifactServer } from '../../../e2e/server/artifact-server.ts';
import { clearCache, defaultStore, deleteCachedModel, listCachedModels, type KeyValueStore } from '../src/artifact/cache.ts';
import { convertCheckpoint } from '../src/artifact/convert.ts';
import { loadArtifact, type ShardProgress } from '../src/artifact/loader.ts';
import type { Manifest } from '../src/artifact/manifest.ts';
import { nodeArtifactSink } from '../src/artifact/node-sink.ts';
import { openArtifact } from '../src/artifact/reader.ts';
import { nodeFileSource } from '../src/node-source.ts';
import { openCheckpoint } from '../src/checkpoint.ts';
import { httpFileSource } from '../src/sources.ts';
import { bytesEqual, memorySink, TINY, tinyCheckpoint } from './artifact-util.ts';

let dir: string;
let server: ArtifactServer;
const manifests: Record<string, Manifest> = {};
const url = (rev: string) => `${server.url}/${rev}/`;
const shardGets = () => server.gets(/shard-\d+\.bin$/);
const noQuota = { storage: null } as const;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'g3n-artifact-'));
  for (const [rev, quant] of [['r1', 'q4'], ['r2', 'q8']] as const) {
    manifests[rev] = await convertCheckpoint(await tinyCheckpoint(), { quant, modelId: 'tiny', revision: rev, shardBytes: 160 << 10 }, nodeArtifactSink(join(dir, rev)));
  }
  mkdirSync(join(dir, 'bad'));
  writeFileSync(join(dir, 'bad', 'manifest.json'), JSON.stringify({ format: 'g3n-artifact', version: 7 }));
  server = await startArtifactServer({ '/r1/': join(dir, 'r1'), '/r2/': join(dir, 'r2'), '/bad/': join(dir, 'bad'), '/hf/': TINY });
});

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  server.reset();
  await clearCache();
});

const shardFile = (rev: string, i: number) => readFileSync(join(dir, rev, manifests[rev].shards[i].file));

describe('loadArtifact over HTTP with an IndexedDB cache', () => {
  it('downloads every shard once with progress, hands each on in order, then reloads with no shard request', async () => {
    const m = manifests.r1;
    expect(m.shards.length).toBeGreaterThan(4);
    const events: ShardProgress[] = [];
    const handed: number[] = [];
    const art = await loadArtifact(url('r1'), {
      ...noQuota,
      chunkBytes: 32 << 10,
      onProgress: (p) => events.push(p),
      onShard: (s, i, bytes) => {
        expect(bytesEqual(bytes, shardFile('r1', i))).toBe(true);
        handed.push(i);
      },
    });
    expect(handed).toEqual(m.shards.map((_, i) => i));
    expect(shardGets().map((r) => r.path)).toEqual(m.shards.map((s) => `/r1/${s.file}`));
    expect(shardGets().every((r) => r.range === null)).toBe(true);
    expect(art.fromCache).toBe(false);
    expect(art.networkBytes).toBe(m.totalBytes);
    const downloads = events.filter((e) => e.phase === 'download');
    expect(downloads.length).toBeGreaterThan(m.shards.length);
    for (let i = 1; i < downloads.length; i++) expect(downloads[i].loadedBytes).toBeGreaterThanOrEqual(downloads[i - 1].loadedBytes);
    expect(downloads[downloads.length - 1]).toMatchObject({ loadedBytes: m.totalBytes, totalBytes: m.totalBytes, fromCache: false, etaSeconds: 0 });
    expect(downloads.at(-1)!.bytesPerSecond).toBeGreaterThan(0);
    expect(events.filter((e) => e.phase === 'upload')).toHaveLength(m.shards.length);

    const disk = await openArtifact(nodeFileSource(join(dir, 'r1')));
    for (const name of ['model.language_model.embed_tokens.weight', 'model.language_model.layers.3.mlp.down_proj.weight', 'model.language_model.norm.weight']) {
      const [a, b] = [await art.readTensorData(name), await disk.readTensorData(name)];
      expect(bytesEqual(a.bytes, b.bytes), name).toBe(true);
    }
    expect(await listCachedModels()).toEqual([{ id: 'tiny', revision: 'r1', bytes: m.totalBytes, shards: m.shards.length, completeShards: m.shards.length }]);

    server.reset();
    const cached: ShardProgress[] = [];
    const again = await loadArtifact(url('r1'), { ...noQuota, onProgress: (p) => cached.push(p) });
    expect(shardGets()).toHaveLength(0);
    expect(server.gets(/manifest\.json$/)).toHaveLength(1);
    expect(again.fromCache).toBe(true);
    expect(cached.every((e) => e.phase === 'cache' && e.fromCache)).toBe(true);
    expect(cached.at(-1)!.loadedBytes).toBe(m.totalBytes);
    expect(bytesEqual((await again.readTensorData('model.language_model.embed_tokens.weight')).bytes, (await disk.readTensorData('model.language_model.embed_tokens.weight')).bytes)).toBe(true);
  });

  it('resumes a cut shard with a Range request for exactly the missing bytes', async () => {
    server.faults.cut.set('shard-00001.bin', [50_000]);
    await loadArtifact(url('r1'), { ...noQuota, chunkBytes: 16 << 10 });
    const gets = shardGets().filter((r) => r.path.endsWith('shard-00001.bin'));
    expect(gets).toHaveLength(2);
    expect(gets[0]).toMatchObject({ range: null, sent: 50_000 });
    expect(gets[1]).toMatchObject({ range: 'bytes=50000-', status: 206, start: 50_000 });
    expect(gets[0].sent + gets[1].sent).toBe(manifests.r1.shards[1].bytes);
  });

  it('keeps a cut download across loads and resumes it from the last stored byte', async () => {
    server.faults.cut.set('shard-00002.bin', [70_000, 0]);
    await expect(loadArtifact(url('r1'), { ...noQuota, retries: 0, chunkBytes: 8 << 10 })).rejects.toMatchObject({ code: 'NETWORK' });
    const [partial] = await listCachedModels();
    expect(partial.completeShards).toBe(2);
    expect(partial.bytes).toBe(manifests.r1.shards[0].bytes + manifests.r1.shards[1].bytes + 70_000);
    server.reset();
    const art = await loadArtifact(url('r1'), noQuota);
    const gets = shardGets();
    expect(gets[0]).toMatchObject({ path: '/r1/shard-00002.bin', range: 'bytes=70000-', status: 206 });
    expect(gets.map((r) => r.path)).not.toContain('/r1/shard-00000.bin');
    expect(art.networkBytes).toBe(manifests.r1.totalBytes - manifests.r1.shards[0].bytes - manifests.r1.shards[1].bytes - 70_000);
  });

  it('restarts a shard when the server ignores Range (200 instead of 206)', async () => {
    server.faults.cut.set('shard-00001.bin', [30_000]);
    server.faults.noRange = true;
    const art = await loadArtifact(url('r1'), noQuota);
    const gets = shardGets().filter((r) => r.path.endsWith('shard-00001.bin'));
    expect(gets.map((r) => [r.range, r.status])).toEqual([
      [null, 200],
      ['bytes=30000-', 200],
    ]);
    expect(gets[1].sent).toBe(manifests.r1.shards[1].bytes);
    expect((await art.readF32('model.language_model.norm.weight')).length).toBe(128);
  });

  it('detects a corrupted shard, fetches it again once, then fails with INTEGRITY', async () => {
    server.faults.corrupt.set('shard-00003.bin', 1);
    await loadArtifact(url('r1'), noQuota);
    expect(shardGets().filter((r) => r.path.endsWith('shard-00003.bin')).map((r) => r.range)).toEqual([null, null]);

    await clearCache();
    server.reset();
    server.faults.corrupt.set('shard-00003.bin', 2);
    await expect(loadArtifact(url('r1'), noQuota)).rejects.toMatchObject({ code: 'INTEGRITY', name: 'IntegrityError' });
    const [cached] = await listCachedModels();
    expect(cached.completeShards).toBe(3);
    expect(cached.bytes).toBe(manifests.r1.shards.slice(0, 3).reduce((a, s) => a + s.bytes, 0));
  });

  it('checks storage before downloading and asks for persistence', async () => {
    let persisted = false;
    const storage = (quota: number) => ({
      estimate: async () => ({ usage: 100, quota }),
      persisted: async () => persisted,
      persist: async () => (persisted = true),
    });
    const err = await loadArtifact(url('r1'), { storage: storage(100 + 1000) }).catch((e) => e);
    expect(err).toMatchObject({ code: 'QUOTA_EXCEEDED', neededBytes: manifests.r1.totalBytes, freeBytes: 1000 });
    expect(shardGets()).toHaveLength(0);
    expect(persisted).toBe(false);
    await loadArtifact(url('r1'), { storage: storage(100 + manifests.r1.totalBytes) });
    expect(persisted).toBe(true);
  });

  it('a quota error while storing keeps what was stored and reports QUOTA_EXCEEDED; a later load resumes', async () => {
    const real = defaultStore();
    let budget = 250_000;
    const tight: KeyValueStore = {
      ...real,
      async setMany(entries) {
        const bytes = entries.reduce((a, [, v]) => a + (v instanceof Uint8Array ? v.length : 0), 0);
        if (bytes > budget) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
        budget -= bytes;
        return real.setMany(entries);
      },
    };
    const err = await loadArtifact(url('r1'), { cache: tight, storage: null, chunkBytes: 16 << 10 }).catch((e) => e);
    expect(err).toMatchObject({ code: 'QUOTA_EXCEEDED' });
    const [kept] = await listCachedModels();
    expect(kept.bytes).toBeGreaterThan(200_000);
    server.reset();
    await loadArtifact(url('r1'), noQuota);
    const sent = shardGets().reduce((a, r) => a + r.sent, 0);
    expect(sent).toBe(manifests.r1.totalBytes - kept.bytes);
  });

  it('keys the cache by model revision and shard hash; lists, deletes and clears', async () => {
    await loadArtifact(url('r1'), noQuota);
    server.reset();
    await loadArtifact(url('r2'), noQuota);
    expect(shardGets()).toHaveLength(manifests.r2.shards.length);
    expect((await listCachedModels()).map((c) => [c.revision, c.bytes])).toEqual([
      ['r1', manifests.r1.totalBytes],
      ['r2', manifests.r2.totalBytes],
    ]);
    await deleteCachedModel('tiny', 'r1');
    expect((await listCachedModels()).map((c) => c.revision)).toEqual(['r2']);
    server.reset();
    await loadArtifact(url('r1'), noQuota);
    expect(shardGets()).toHaveLength(manifests.r1.shards.length);
    await clearCache();
    expect(await listCachedModels()).toEqual([]);
  });

  it('two concurrent loads download each shard once', async () => {
    server.faults.chunkBytes = 16 << 10;
    server.faults.delayMs = 5;
    const [a, b] = await Promise.all([loadArtifact(url('r1'), noQuota), loadArtifact(url('r1'), noQuota)]);
    expect(shardGets().map((r) => r.path)).toEqual(manifests.r1.shards.map((s) => `/r1/${s.file}`));
    expect(a.networkBytes + b.networkBytes).toBe(manifests.r1.totalBytes);
  });

  it('stops on abort with ABORTED and resumes later', async () => {
    server.faults.chunkBytes = 8 << 10;
    server.faults.delayMs = 2;
    const ac = new AbortController();
    const err = await loadArtifact(url('r1'), {
      ...noQuota,
      chunkBytes: 8 << 10,
      signal: ac.signal,
      onProgress: (p) => p.loadedBytes > 200_000 && ac.abort(),
    }).catch((e) => e);
    expect(err).toMatchObject({ code: 'ABORTED' });
    const [kept] = await listCachedModels();
    server.reset();
    await loadArtifact(url('r1'), noQuota);
    expect(shardGets().reduce((a, r) => a + r.sent, 0)).toBe(manifests.r1.totalBytes - kept.bytes);
  });

  it('works without a cache, and reports a missing or malformed manifest', async () => {
    const art = await loadArtifact(`${url('r2')}manifest.json`, { cache: false });
    expect(art.tensors.get('model.language_model.embed_tokens.weight')?.dtype).toBe('Q8');
    expect((await art.readTensorData('model.language_model.embed_tokens.weight')).dtype).toBe('Q8');
    expect(await listCachedModels()).toEqual([]);
    await expect(loadArtifact(`${server.url}/nothing/`, noQuota)).rejects.toMatchObject({ code: 'NETWORK', status: 404 });
    await expect(loadArtifact(`${server.url}/bad`, noQuota)).rejects.toMatchObject({ code: 'BAD_MANIFEST', field: 'version' });
  });

  it('converts straight from a Hugging Face base URL (Range reads), to the same bytes as from the directory', async () => {
    const sink = memorySink();
    await convertCheckpoint(await openCheckpoint(httpFileSource(`${server.url}/hf/`)), { quant: 'q4', modelId: 'tiny', revision: 'r1', shardBytes: 160 << 10 }, sink);
    expect(server.gets(/model\.safetensors$/).every((r) => r.range !== null)).toBe(true);
    expect(new TextDecoder().decode(sink.files.get('manifest.json'))).toBe(readFileSync(join(dir, 'r1', 'manifest.json'), 'utf8'));
    for (const s of manifests.r1.shards) expect(bytesEqual(sink.files.get(s.file) as Uint8Array, readFileSync(join(dir, 'r1', s.file))), s.file).toBe(true);
  });
});
