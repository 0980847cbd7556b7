/**
 * The towers go through the IndexedDB weights cache like the text weights (here fake-indexeddb): the
 * first clip of a session downloads the audio tower's tensors (and the load the preprocessor config)
 * and stores them; the next load of the model (as after a reload with the network off) reads the
 * model and then the tower from the cache alone, with `cache` progress events for the tower, and
 * answers the same.
 */
import 'fake-indexeddb/auto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listCachedModels } from '@g3n/weights';
import { startArtifactServer, type ArtifactServer } from '../../../e2e/server/artifact-server.ts';
import { FIXTURES, ids, loadGolden, tensor, type GoldenTensor } from '../../gemma3n/test/golden.ts';
import type { InThreadEngine } from '../src/engine.ts';
import type { LoadProgress } from '../src/types.ts';
import { GPU_TEST_TIMEOUT, nodeEngine, tokenizerJson } from './helpers.ts';

const AUDIO_DIR = join(FIXTURES, 'gemma3n-tiny-audio-a');

let server: ArtifactServer;
let golden: Map<string, GoldenTensor>;
let engine: InThreadEngine | undefined;

function request() {
  const want = ids(golden, 'e2e.generated_ids');
  return {
    want,
    body: {
      messages: [{ role: 'user' as const, content: [{ type: 'audio' as const, audio: tensor(golden, 'wave'), sampleRate: 16000 }] }],
      prompt_token_ids: ids(golden, 'e2e.prompt_ids'),
      max_tokens: want.length,
      temperature: 0,
    },
  };
}

/** Load the model (again, on the same device: its pipelines stay compiled), the towers not yet read. */
async function open(events: LoadProgress[]): Promise<InThreadEngine> {
  engine ??= nodeEngine().engine;
  await engine.load({ model: `${server.url}/audio/`, tokenizer: tokenizerJson, maxContext: 64, onProgress: (p) => events.push(p) });
  return engine;
}

const towerEvents = (events: LoadProgress[]) => events.filter((e) => e.tower === 'audio');
const cachedBytes = async () => (await listCachedModels()).find((m) => m.id === `${server.url}/audio/`)?.bytes ?? 0;

describe('the audio tower through the weights cache: online once, then offline', { timeout: GPU_TEST_TIMEOUT }, () => {
  let towerTotal = 0;

  beforeAll(async () => {
    golden = await loadGolden(join(AUDIO_DIR, 'golden.safetensors'));
    server = await startArtifactServer({ '/audio/': AUDIO_DIR });
  });
  afterAll(async () => {
    await engine?.unload();
    await server?.close();
  });

  it('the first clip downloads the tower with progress and stores its bytes in the cache', async () => {
    const events: LoadProgress[] = [];
    const engine = await open(events);
    expect(server.log.some((r) => r.path.endsWith('/preprocessor_config.json'))).toBe(true);
    const textOnly = await cachedBytes();
    const sentBefore = server.gets(/model\.safetensors$/).reduce((a, r) => a + r.sent, 0);
    expect(towerEvents(events)).toEqual([]);

    const { want, body } = request();
    const r = await engine.chat.completions.create(body);
    expect(r.choices[0].token_ids).toEqual(want);
    const tower = towerEvents(events);
    const downloads = tower.filter((e) => e.phase === 'download');
    expect(downloads.length).toBeGreaterThan(0);
    expect(tower.some((e) => e.phase === 'upload')).toBe(true);
    // Every byte of the tower's table is read once: the final event has read totalBytes.
    towerTotal = downloads.at(-1)!.totalBytes;
    expect(tower.at(-1)).toMatchObject({ phase: 'ready', loadedBytes: towerTotal, totalBytes: towerTotal, fromCache: false });
    // What came over the network for the tower (all of it but the embedder tensors the text load
    // had read already) is now in the cache, byte for byte.
    const sentTower = server.gets(/model\.safetensors$/).reduce((a, r) => a + r.sent, 0) - sentBefore;
    expect(sentTower).toBeGreaterThan(0);
    expect(sentTower).toBeLessThanOrEqual(towerTotal);
    expect((await cachedBytes()) - textOnly).toBe(sentTower);
  });

  it('the next load reads the model and the tower from the cache alone (no request reaches the server) and answers the same', async () => {
    expect(towerTotal).toBeGreaterThan(0);
    const requests = server.log.length;
    const events: LoadProgress[] = [];
    const engine = await open(events);
    expect(events.some((e) => e.phase === 'download')).toBe(false);
    expect(events.filter((e) => e.phase === 'cache').length).toBeGreaterThan(0);

    const { want, body } = request();
    const r = await engine.chat.completions.create(body);
    expect(r.choices[0].token_ids).toEqual(want);
    expect(r.usage.prompt_tokens_details).toMatchObject({ audio_tokens: 16 });
    const tower = towerEvents(events);
    expect(tower.some((e) => e.phase === 'download')).toBe(false);
    const cached = tower.filter((e) => e.phase === 'cache');
    expect(cached.length).toBeGreaterThan(0);
    expect(cached.every((e) => e.fromCache && e.totalBytes === towerTotal)).toBe(true);
    expect(tower.at(-1)).toMatchObject({ phase: 'ready', loadedBytes: towerTotal, totalBytes: towerTotal, fromCache: true });
    expect(server.log.length).toBe(requests);
  });
});
