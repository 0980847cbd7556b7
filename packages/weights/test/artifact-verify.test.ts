import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { idbStore, ShardCache } from '../src/artifact/cache.ts';
import { convertCheckpoint } from '../src/artifact/convert.ts';
import type { Manifest } from '../src/artifact/manifest.ts';
import { openArtifact } from '../src/artifact/reader.ts';
import { shardUnits } from '../src/artifact/verify.ts';
import { selectionBytes, wholeSelection } from '../src/artifact/ranges.ts';
import { cachedFileSource } from '../src/cached-files.ts';
import type { G3nError } from '@g3n/gpu/errors';
import { memoryFiles, memorySink, tinyCheckpoint } from './artifact-util.ts';

async function tinyArtifact(quant: 'q8' | 'q4' | 'bf16' = 'q8') {
  const sink = memorySink();
  const manifest = await convertCheckpoint(await tinyCheckpoint(), { quant, modelId: 'tiny', revision: 'r1', shardBytes: 256 << 10 }, sink);
  return { manifest, files: sink.files };
}

/** A copy of `files` with one byte of `file` flipped. */
function flipped(files: Map<string, Uint8Array>, file: string, at: number): Map<string, Uint8Array> {
  const out = new Map(files);
  const b = (files.get(file) as Uint8Array).slice();
  b[at] ^= 0x10;
  out.set(file, b);
  return out;
}

async function readAll(files: Map<string, Uint8Array>, manifest: Manifest): Promise<Map<string, Uint8Array>> {
  const art = await openArtifact(memoryFiles(files));
  const out = new Map<string, Uint8Array>();
  for (const t of manifest.tensors) out.set(t.name, (await art.readTensorData(t.name)).bytes);
  return out;
}

async function failure(p: Promise<unknown>): Promise<G3nError> {
  try {
    await p;
  } catch (e) {
    return e as G3nError;
  }
  throw new Error('expected a failure');
}

describe('artifact reads are checked against the manifest', () => {
  it('cuts every shard into units that cover each piece whole', async () => {
    const { manifest } = await tinyArtifact('q4');
    for (let s = 0; s < manifest.shards.length; s++) {
      const units = shardUnits(manifest, s);
      for (let i = 1; i < units.length; i++) expect(units[i].start).toBeGreaterThanOrEqual(units[i - 1].end);
      for (const u of units) expect(u.pieces?.length).toBeGreaterThan(0);
    }
  });

  it('a flipped byte in any tensor of any shard is an INTEGRITY error naming the file and piece; the repaired file reads', async () => {
    const { manifest, files } = await tinyArtifact();
    // One tensor per shard, flipped in the middle of its first part's data.
    const shards = new Set<number>();
    for (const t of manifest.tensors) {
      const part = t.parts[0];
      if (shards.has(part.shard) || part.length < 2) continue;
      shards.add(part.shard);
      const file = manifest.shards[part.shard].file;
      const damaged = flipped(files, file, part.offset + (part.length >> 1));
      const art = await openArtifact(memoryFiles(damaged));
      const err = await failure(art.readTensorData(t.name));
      expect(err.code).toBe('INTEGRITY');
      expect(err.message).toContain(file);
      expect(err.message).toContain(t.name);
      expect(err.message).toMatch(/bytes \d+\.\.\d+/);
    }
    expect(shards.size).toBe(manifest.shards.length);
    const all = await readAll(files, manifest);
    expect(all.size).toBe(manifest.tensors.length);
  });

  it('a shard without piece hashes (as in manifest minor 0) is checked whole against its sha256', async () => {
    const { manifest, files } = await tinyArtifact('bf16');
    const bare = JSON.parse(new TextDecoder().decode(files.get('manifest.json')));
    for (const t of bare.tensors) for (const p of t.parts) delete p.pieces;
    const plain = new Map(files);
    plain.set('manifest.json', new TextEncoder().encode(JSON.stringify(bare)));
    const t = manifest.tensors.find((x) => x.layout !== 'layer-major' && x.layout !== 'column-blocks') as Manifest['tensors'][number];
    const file = manifest.shards[t.parts[0].shard].file;
    await expect((await openArtifact(memoryFiles(plain))).readTensorData(t.name)).resolves.toBeTruthy();
    const err = await failure((await openArtifact(memoryFiles(flipped(plain, file, t.parts[0].offset)))).readTensorData(t.name));
    expect(err.code).toBe('INTEGRITY');
    expect(err.message).toContain(file);
  });

  it('through the IndexedDB cache: a bad download is fetched once more and never stored; a stored copy that no longer matches is dropped', async () => {
    const { manifest, files } = await tinyArtifact();
    let served = flipped(files, manifest.shards[0].file, manifest.tensors.find((t) => t.parts[0].shard === 0)!.parts[0].offset + 1);
    const log: string[] = [];
    const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const path = String(input).slice('https://m.example/a/'.length);
      const body = served.get(path);
      const range = (init?.headers as Record<string, string> | undefined)?.Range;
      if (init?.method !== 'HEAD') log.push(`${path} ${range ?? ''}`);
      if (!body) return new Response(null, { status: 404 });
      if (init?.method === 'HEAD') return new Response(null, { headers: { 'Content-Length': String(body.length) } });
      const [a, b] = (/bytes=(\d+)-(\d+)/.exec(range ?? '') ?? []).slice(1).map(Number);
      return new Response(body.slice(a, b + 1), { status: 206, headers: { 'Content-Range': `bytes ${a}-${b}/${body.length}` } });
    }) as typeof globalThis.fetch;
    const kv = idbStore('g3n-verify-test', 'shards');
    const cache = new ShardCache(kv);
    const open = () => openArtifact(cachedFileSource('https://m.example/a/', { cache, fetch }));
    const t = manifest.tensors.find((x) => x.parts[0].shard === 0)!;

    const err = await failure((await open()).readTensorData(t.name));
    expect(err.code).toBe('INTEGRITY');
    expect(err.message).toMatch(/after 2 downloads/);
    expect(err.message).toContain('read from the network');
    const shardGets = log.filter((l) => l.startsWith(manifest.shards[0].file));
    expect(shardGets.length).toBe(2);
    expect(shardGets[0]).toBe(shardGets[1]);
    const stored = (await kv.keys()).filter((k) => k.includes('range:') && k.includes(encodeURIComponent(manifest.shards[0].file)));
    expect(stored).toEqual([]);

    // The server is repaired: the piece loads, is stored as verified, and the next load reads it from the cache.
    served = files;
    const good = (await (await open()).readTensorData(t.name)).bytes;
    const metas = (await kv.getMany((await kv.keys()).filter((k) => k.endsWith('/meta')))) as Array<{ file: string; verified?: boolean }>;
    expect(metas.filter((m) => m.file === manifest.shards[0].file).every((m) => m.verified === true)).toBe(true);
    log.length = 0;
    expect((await (await open()).readTensorData(t.name)).bytes).toEqual(good);
    expect(log.filter((l) => l.startsWith('shard'))).toEqual([]);

    // A stored chunk changes behind the cache's back: dropped, fetched again, never used.
    const chunkKeys = (await kv.keys()).filter((k) => k.includes(encodeURIComponent(manifest.shards[0].file)) && /\/0$/.test(k));
    for (const k of chunkKeys) {
      const [v] = (await kv.getMany([k])) as Uint8Array[];
      const bad = v.slice();
      bad[bad.length >> 1] ^= 1;
      await kv.setMany([[k, bad]]);
    }
    log.length = 0;
    expect((await (await open()).readTensorData(t.name)).bytes).toEqual(good);
    expect(log.filter((l) => l.startsWith(manifest.shards[0].file)).length).toBe(1);
  });

  it('readAhead through the cache: the selections\' units are downloaded, checked and stored, then read without a request; a damaged piece fails the fetch', async () => {
    const { manifest, files } = await tinyArtifact('bf16');
    let served = files;
    const log: Array<{ path: string; bytes: number }> = [];
    const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const path = String(input).slice('https://m.example/b/'.length);
      const body = served.get(path);
      if (!body) return new Response(null, { status: 404 });
      if (init?.method === 'HEAD') return new Response(null, { headers: { 'Content-Length': String(body.length) } });
      const [a, b] = (/bytes=(\d+)-(\d+)/.exec((init?.headers as Record<string, string>).Range) ?? []).slice(1).map(Number);
      log.push({ path, bytes: b + 1 - a });
      return new Response(body.slice(a, b + 1), { status: 206, headers: { 'Content-Range': `bytes ${a}-${b}/${body.length}` } });
    }) as typeof globalThis.fetch;
    const cache = new ShardCache(idbStore('g3n-verify-ahead-test', 'shards'));
    const open = () => openArtifact(cachedFileSource('https://m.example/b/', { cache, fetch }));
    const shardFiles = new Set(manifest.shards.map((s) => s.file));
    const shardBytes = () => log.filter((l) => shardFiles.has(l.path)).reduce((a, l) => a + l.bytes, 0);
    // An FFN matrix (hashed in several pieces, read whole as one tensor) and one more tensor.
    const ffn = manifest.tensors.find((t) => t.name.endsWith('mlp.gate_proj.weight') && t.parts[0].pieces && t.parts[0].pieces.sha256.length > 1)!;
    const other = manifest.tensors.find((t) => t.name.endsWith('input_layernorm.weight'))!;
    const selections = [ffn, other].map((t) => ({ name: t.name, selection: wholeSelection(t) }));
    expect(await openArtifact(memoryFiles(files)).then((a) => a.readAhead)).toBeUndefined();

    const damaged = ffn.parts[0];
    served = flipped(files, manifest.shards[damaged.shard].file, damaged.offset + 3);
    const err = await failure((await open()).readAhead!(selections).fetch());
    expect(err.code).toBe('INTEGRITY');
    expect(err.message).toContain(manifest.shards[damaged.shard].file);
    expect(err.message).toContain(ffn.name);

    served = files;
    log.length = 0;
    const art = await open();
    const ahead = art.readAhead!(selections);
    expect(ahead.bytes).toBeGreaterThanOrEqual(selectionBytes(ffn, selections[0].selection) + selectionBytes(other, selections[1].selection));
    expect(ahead.bytes).toBeLessThan(manifest.shards.reduce((a, s) => a + s.bytes, 0));
    const units: Array<[number, boolean]> = [];
    await ahead.fetch((bytes, fromCache) => units.push([bytes, fromCache]));
    expect(units.reduce((a, [n]) => a + n, 0)).toBe(ahead.bytes);
    // Only what the failed fetch could not store is downloaded now.
    expect(shardBytes()).toBe(units.filter(([, c]) => !c).reduce((a, [n]) => a + n, 0));
    expect(units.some(([, c]) => c)).toBe(true);
    expect(units.some(([, c]) => !c)).toBe(true);
    log.length = 0;
    const whole = await art.readTensorData(ffn.name);
    expect((await art.readTensorData(other.name)).bytes.length).toBeGreaterThan(0);
    expect(shardBytes()).toBe(0);
    // Another session: the stored, verified units are neither downloaded nor read again to fetch them ahead.
    const next = await open();
    const again: boolean[] = [];
    await next.readAhead!(selections).fetch((_, fromCache) => again.push(fromCache));
    expect(again.length).toBe(units.length);
    expect(again.every((c) => c)).toBe(true);
    expect(shardBytes()).toBe(0);
    expect((await next.readTensorData(ffn.name)).bytes).toEqual(whole.bytes);
    expect(shardBytes()).toBe(0);
  });
});
