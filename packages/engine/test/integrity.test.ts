/**
 * The engine reads artifacts through their hashes: a shard with one flipped byte is refused with
 * INTEGRITY (downloaded twice, never cached), and after the file is repaired the same engine loads
 * it, a download the server damages once being fetched again; progress says the weights are verified.
 * A Load of another artifact whose shard is damaged leaves the model that was working in place: the
 * pieces are downloaded and checked before that model is released.
 */
import 'fake-indexeddb/auto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertCheckpoint, openCheckpoint, type Manifest } from '@g3n/weights';
import { nodeArtifactSink, nodeFileSource } from '@g3n/weights/node';
import { startArtifactServer, type ArtifactServer } from '../../../e2e/server/artifact-server.ts';
import type { InThreadEngine } from '../src/engine.ts';
import type { LoadProgress } from '../src/types.ts';
import { GPU_TEST_TIMEOUT, nodeEngine, TINY_DIR, tokenizerJson } from './helpers.ts';

let server: ArtifactServer;
let dir: string;
let dir4: string;
let manifest: Manifest;
let manifest4: Manifest;
let engine: InThreadEngine;

describe('artifact integrity through engine.load', { timeout: GPU_TEST_TIMEOUT }, () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'g3n-engine-integrity-'));
    manifest = await convertCheckpoint(await openCheckpoint(nodeFileSource(TINY_DIR)), { quant: 'q8', modelId: 'tiny', revision: 'q8', shardBytes: 1 << 20 }, nodeArtifactSink(dir));
    dir4 = mkdtempSync(join(tmpdir(), 'g3n-engine-integrity-q4-'));
    manifest4 = await convertCheckpoint(await openCheckpoint(nodeFileSource(TINY_DIR)), { quant: 'q4', modelId: 'tiny', revision: 'q4', shardBytes: 1 << 20 }, nodeArtifactSink(dir4));
    server = await startArtifactServer({ '/art/': dir, '/art4/': dir4 });
    engine = nodeEngine().engine;
  }, GPU_TEST_TIMEOUT);
  afterAll(async () => {
    await engine?.unload();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (dir4) rmSync(dir4, { recursive: true, force: true });
  });

  it('refuses a shard with a flipped byte (INTEGRITY naming the file), then loads once it is repaired', async () => {
    const last = manifest.shards.length - 1;
    const file = manifest.shards[last].file;
    const part = manifest.tensors.flatMap((t) => t.parts).find((p) => p.shard === last)!;
    const good = readFileSync(join(dir, file));
    const bad = Buffer.from(good);
    bad[part.offset + (part.length >> 1)] ^= 0x04;
    writeFileSync(join(dir, file), bad);
    const load = (events: LoadProgress[]) => engine.load({ model: `${server.url}/art/`, tokenizer: tokenizerJson, maxContext: 32, maxChunk: 8, onProgress: (p) => events.push(p) });

    const err = await load([]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'INTEGRITY', message: expect.stringContaining(file) });
    expect((err as Error).message).toMatch(/after 2 downloads/);
    const damaged = server.gets(new RegExp(`${file}$`)).filter((r) => r.start <= part.offset + (part.length >> 1) && r.start + r.sent > part.offset + (part.length >> 1));
    expect(damaged).toHaveLength(2);

    writeFileSync(join(dir, file), good);
    server.reset();
    server.faults.corrupt.set(file, 1);
    const events: LoadProgress[] = [];
    const info = await load(events);
    expect(info.numLayers).toBeGreaterThan(0);
    expect(info.configDefaults).toEqual([]);
    // The range refused before was not cached: fetched again, damaged once by the server, fetched once more.
    const again = server.gets(new RegExp(`${file}$`)).filter((r) => r.start <= part.offset && r.start + r.sent > part.offset);
    expect(again).toHaveLength(2);
    const weights = events.filter((e) => e.phase === 'download' || e.phase === 'cache' || e.phase === 'upload');
    expect(weights.length).toBeGreaterThan(0);
    expect(weights.every((e) => e.verified === true)).toBe(true);
    const r = await engine.chat.completions.create({ messages: [], prompt_token_ids: [2, 5, 7], max_tokens: 2, temperature: 0 });
    expect(r.choices[0].token_ids).toHaveLength(2);
  });

  it('a Load of an artifact with a damaged shard fails before the working model is released; it keeps answering, and the repaired artifact loads', async () => {
    const ask = async () => (await engine.chat.completions.create({ messages: [], prompt_token_ids: [2, 5, 7], max_tokens: 3, temperature: 0 })).choices[0].token_ids;
    const first = await engine.load({ model: `${server.url}/art/`, tokenizer: tokenizerJson, maxContext: 32, maxChunk: 8 });
    const before = await ask();
    expect(before).toHaveLength(3);

    // The q4 artifact's last shard, one byte flipped in the middle of a tensor the text load reads.
    const last = manifest4.shards.length - 1;
    const file = manifest4.shards[last].file;
    const part = manifest4.tensors.flatMap((t) => t.parts).find((p) => p.shard === last)!;
    const good = readFileSync(join(dir4, file));
    const bad = Buffer.from(good);
    bad[part.offset + (part.length >> 1)] ^= 0x04;
    writeFileSync(join(dir4, file), bad);
    const events: LoadProgress[] = [];
    const load4 = (onProgress?: (p: LoadProgress) => void) => engine.load({ model: `${server.url}/art4/`, tokenizer: tokenizerJson, maxContext: 32, maxChunk: 8, onProgress });

    const err = await load4((p) => events.push(p)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'INTEGRITY', message: expect.stringContaining(file) });
    expect((err as Error).message).toMatch(/after 2 downloads/);
    expect((await engine.capabilities()).model).toEqual(first);
    expect(await ask()).toEqual(before);
    // The damaged piece was downloaded (twice) before anything of the new model reached the GPU.
    expect(events.some((e) => e.phase === 'download')).toBe(true);
    expect(events.some((e) => e.phase === 'upload' || e.phase === 'compile')).toBe(false);

    writeFileSync(join(dir4, file), good);
    server.reset();
    const again: LoadProgress[] = [];
    const info = await load4((p) => again.push(p));
    expect(info.model).toBe(`${server.url}/art4/`);
    // The pieces were fetched ahead (what the failed Load had stored stays, the rest is downloaded once)
    // and the loader read them from the cache: no range of a shard is asked for twice.
    const shardFiles = new RegExp(`(${manifest4.shards.map((sh) => sh.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})$`);
    const shardGets = server.gets(shardFiles).map((r) => `${r.path} ${r.range}`);
    expect(shardGets.length).toBeGreaterThan(0);
    expect(new Set(shardGets).size).toBe(shardGets.length);
    const phases = again.map((e) => e.phase);
    const firstUpload = phases.indexOf('upload');
    expect(firstUpload).toBeGreaterThan(phases.lastIndexOf('download'));
    expect(firstUpload).toBeGreaterThan(phases.lastIndexOf('cache'));
    const uploads = again.filter((e) => e.phase === 'upload');
    expect(uploads[uploads.length - 1].loadedBytes).toBe(uploads[uploads.length - 1].totalBytes);
    expect(again.every((e) => e.verified === true || e.phase === 'config')).toBe(true);
    expect((await engine.capabilities()).model).toEqual(info);
    expect(await ask()).toHaveLength(3);
  });
});
