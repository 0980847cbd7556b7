/**
 * The engine's default files are the IndexedDB weights cache (here fake-indexeddb): a first load
 * downloads the weights, with byte progress; after a device loss, load() reads every byte from the
 * cache, with nothing asked of the server, and answers as before.
 */
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceLostError } from '@g3n/gpu';
import { listCachedModels } from '@g3n/weights';
import { startArtifactServer, type ArtifactServer } from '../../../e2e/server/artifact-server.ts';
import type { InThreadEngine } from '../src/engine.ts';
import type { LoadPhase, LoadProgress } from '../src/types.ts';
import { golden, GPU_TEST_TIMEOUT, nodeEngine, TINY_DIR, tokenizerJson } from './helpers.ts';

const P = golden.prompt_ids;
const G = golden.generated_ids;
const greedy = (max_tokens: number) => ({ messages: [], prompt_token_ids: P, max_tokens, temperature: 0 });

/** Stored bytes of what a text load of gemma3n-tiny-a reads: every tensor but the unused K/V of the 4 KV-sharing layers and the 2 soft_embedding_norms. */
const WEIGHT_BYTES = 3_026_128;
/** model.safetensors' 8-byte length and its 25,976-byte JSON header. */
const HEADER_BYTES = 8 + 25_976;

/** The phases in order, repeats of the same phase in a row folded into one. */
function folded(events: LoadProgress[]): LoadPhase[] {
  return events.map((e) => e.phase).filter((p, i, all) => p !== all[i - 1]);
}

/** config, tokenizer, then `source` and upload by turns (one tensor each), compile, ready. */
function expectSequence(events: LoadProgress[], source: 'download' | 'cache'): void {
  const phases = folded(events);
  expect(phases.slice(0, 2)).toEqual(['config', 'tokenizer']);
  expect(phases.slice(-2)).toEqual(['compile', 'ready']);
  const weights = phases.slice(2, -2);
  expect(weights.length % 2).toBe(0);
  expect(weights).toEqual(weights.map((_, i) => (i % 2 === 0 ? source : 'upload')));
  const obtained = events.filter((e) => e.phase === source);
  const uploaded = events.filter((e) => e.phase === 'upload');
  expect(obtained).toHaveLength(weights.length / 2);
  expect(uploaded).toHaveLength(obtained.length);
  for (const list of [obtained, uploaded]) {
    expect(list.every((e, i) => e.totalBytes === WEIGHT_BYTES && e.loaded === e.loadedBytes && (i === 0 || e.loadedBytes > list[i - 1].loadedBytes))).toBe(true);
    expect(list.at(-1)).toMatchObject({ loadedBytes: WEIGHT_BYTES, etaSeconds: 0 });
    expect(list.at(-1)!.bytesPerSecond).toBeGreaterThan(0);
    expect(list.slice(0, -1).every((e) => e.etaSeconds === null || e.etaSeconds > 0)).toBe(true);
  }
  expect(events.filter((e) => e.phase === 'compile').map((e) => [e.loaded, e.total])).toEqual([
    [0, 3],
    [1, 3],
    [2, 3],
    [3, 3],
  ]);
  expect(events.at(-1)).toMatchObject({ phase: 'ready', loadedBytes: WEIGHT_BYTES, totalBytes: WEIGHT_BYTES, fromCache: source === 'cache', etaSeconds: null });
}

let server: ArtifactServer;
let engine: InThreadEngine;
let devices: ReturnType<typeof nodeEngine>['devices'];

describe('load through the IndexedDB weights cache, device loss, reload from the cache', { timeout: GPU_TEST_TIMEOUT }, () => {
  beforeAll(async () => {
    server = await startArtifactServer({ '/tiny/': TINY_DIR });
    ({ engine, devices } = nodeEngine());
  });
  afterAll(async () => {
    await engine?.unload();
    await server?.close();
  });

  const load = (events: LoadProgress[]) =>
    engine.load({ model: `${server.url}/tiny/`, tokenizer: tokenizerJson, maxContext: 64, maxChunk: 16, onProgress: (p) => events.push(p) });

  it('a first load downloads the weights: download and upload bytes add up to the stored weights, then compile, ready', async () => {
    const events: LoadProgress[] = [];
    const info = await load(events);
    expect(info.matformer).toBeNull();
    expectSequence(events, 'download');
    expect(events.filter((e) => e.phase === 'download').every((e) => !e.fromCache)).toBe(true);
    const sent = (re: RegExp) => server.gets(re).reduce((a, r) => a + r.sent, 0);
    expect(sent(/model\.safetensors$/)).toBe(HEADER_BYTES + WEIGHT_BYTES);
    expect(sent(/config\.json$/)).toBe(3105);
    expect(await listCachedModels()).toEqual([expect.objectContaining({ id: `${server.url}/tiny/`, revision: 'files', bytes: HEADER_BYTES + WEIGHT_BYTES + 3105 })]);
    expect((await engine.chat.completions.create(greedy(G.length))).choices[0].token_ids).toEqual(G);
  });

  it('after the device is lost, requests fail with DEVICE_LOST; load() again reads only the cache (no request reaches the server) and gives the golden ids', async () => {
    devices[0].device.destroy();
    await devices[0].lost;
    const err = await engine.chat.completions.create(greedy(2)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceLostError);
    expect(err).toMatchObject({ name: 'DeviceLostError', code: 'DEVICE_LOST' });

    const requests = server.log.length;
    const events: LoadProgress[] = [];
    await load(events);
    expect(devices).toHaveLength(2);
    expect(server.log.length).toBe(requests);
    expect(events.some((e) => e.phase === 'download')).toBe(false);
    expectSequence(events, 'cache');
    expect(events.filter((e) => e.phase === 'cache').every((e) => e.fromCache)).toBe(true);
    expect((await engine.chat.completions.create(greedy(G.length))).choices[0].token_ids).toEqual(G);
  });

  it('cache: false reads from the network again', async () => {
    const before = server.gets(/model\.safetensors$/).length;
    const events: LoadProgress[] = [];
    await engine.load({ model: `${server.url}/tiny/`, tokenizer: tokenizerJson, maxContext: 64, maxChunk: 16, cache: false, onProgress: (p) => events.push(p) });
    expect(server.gets(/model\.safetensors$/).length).toBeGreaterThan(before);
    expect(events.some((e) => e.phase === 'cache')).toBe(false);
    expect(events.filter((e) => e.phase === 'download').at(-1)).toMatchObject({ loadedBytes: WEIGHT_BYTES, totalBytes: WEIGHT_BYTES });
  });
});
