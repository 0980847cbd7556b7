/**
 * Counted at the server: before a Load lets the working model go, it fetches ahead exactly the pieces
 * of the artifact its text load reads. The load is stopped where the working model would be released
 * (no GPU work), and the shard bytes the server sent are matched against the manifest's tensor parts:
 * no byte of a vision tower tensor, none of the PLE table with `ple: 'host'`, none of the layers a
 * MatFormer slice skips; every byte of the text weights it reads.
 */
import 'fake-indexeddb/auto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSliceJson, type SliceConfig } from '@g3n/gemma3n';
import type { Gpu } from '@g3n/gpu';
import { cachedFileSource, convertCheckpoint, idbStore, openCheckpoint, ShardCache, type Manifest } from '@g3n/weights';
import { nodeArtifactSink, nodeFileSource } from '@g3n/weights/node';
import { startArtifactServer, type ArtifactServer } from '../../../e2e/server/artifact-server.ts';
import { loadModel } from '../src/load.ts';
import { LoadTracker } from '../src/progress.ts';
import type { LoadOptions, LoadProgress } from '../src/types.ts';
import { tokenizerJson } from './helpers.ts';
import type { ByteRange } from './served-bytes.ts';

const FIXTURES = join(import.meta.dirname, '../../../../shared/fixtures');
const TOWER_ONLY = ['model.vision_tower.', 'model.embed_vision.soft_embedding_norm.'];
const PLE_TABLE = 'model.language_model.embed_tokens_per_layer.weight';

let server: ArtifactServer;
const dirs: string[] = [];
const manifests = new Map<string, Manifest>();

/** The fixture converted to a q8 artifact in a fresh folder, its manifest kept under the route it is served at. */
async function convert(fixture: string, route: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'g3n-read-ahead-'));
  dirs.push(dir);
  manifests.set(route, await convertCheckpoint(await openCheckpoint(nodeFileSource(join(FIXTURES, fixture))), { quant: 'q8', modelId: fixture, revision: 'q8', shardBytes: 1 << 20 }, nodeArtifactSink(dir)));
  return dir;
}

/** Bytes of each tensor part (data and scales) as [shard file, start, end). */
function partRanges(manifest: Manifest, name: string): Array<[string, ...ByteRange]> {
  const t = manifest.tensors.find((x) => x.name === name);
  if (!t) throw new Error(`no tensor ${name}`);
  return t.parts.flatMap((p) => {
    const file = manifest.shards[p.shard].file;
    const out: Array<[string, ...ByteRange]> = [[file, p.offset, p.offset + p.length]];
    if (p.scalesOffset !== undefined && p.scalesLength) out.push([file, p.scalesOffset, p.scalesOffset + p.scalesLength]);
    return out;
  });
}

/** Bytes of `name` the server sent (summed over its parts' overlaps with the GETs of this run). */
function sentOf(route: string, name: string): { sent: number; bytes: number } {
  const manifest = manifests.get(route) as Manifest;
  let sent = 0;
  let bytes = 0;
  for (const [file, a, b] of partRanges(manifest, name)) {
    bytes += b - a;
    const covered: ByteRange[] = server
      .gets(new RegExp(`^${route}${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`))
      .map((r): ByteRange => [Math.max(a, r.start), Math.min(b, r.start + r.sent)])
      .filter(([x, y]) => y > x)
      .sort((x, y) => x[0] - y[0]);
    let end = a;
    for (const [x, y] of covered) {
      sent += Math.max(0, y - Math.max(x, end));
      end = Math.max(end, y);
    }
  }
  return { sent, bytes };
}

/** Load from `route` through a fresh weights cache until the working model would be released; the events. */
async function fetchAhead(route: string, options: Partial<LoadOptions>, cacheName: string): Promise<LoadProgress[]> {
  server.reset();
  const events: LoadProgress[] = [];
  const tracker = new LoadTracker((p) => events.push(p));
  const files = cachedFileSource(`${server.url}${route}`, { cache: new ShardCache(idbStore(cacheName, 'shards')), onRead: tracker.onRead });
  const stop = new Error('the working model would be released here');
  const err = await loadModel({} as Gpu, files, { model: `${server.url}${route}`, tokenizer: tokenizerJson, ...options }, tracker, undefined, () => {
    throw stop;
  }).catch((e: unknown) => e);
  expect(err).toBe(stop);
  return events;
}

describe('what a Load fetches ahead of letting the working model go', () => {
  beforeAll(async () => {
    server = await startArtifactServer({ '/vision/': await convert('gemma3n-tiny-vision-a', '/vision/'), '/matformer/': await convert('gemma3n-tiny-matformer', '/matformer/') });
  });
  afterAll(async () => {
    await server?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('the text weights, every byte, and no byte of a tower tensor; with ple: host not the PLE table', async () => {
    const manifest = manifests.get('/vision/') as Manifest;
    const towers = manifest.tensors.filter((t) => TOWER_ONLY.some((p) => t.name.startsWith(p))).map((t) => t.name);
    expect(towers.length).toBeGreaterThan(0);
    const text = ['model.language_model.embed_tokens.weight', PLE_TABLE, 'model.language_model.layers.0.mlp.down_proj.weight', 'model.language_model.norm.weight'];

    const events = await fetchAhead('/vision/', {}, 'g3n-read-ahead-all');
    for (const name of towers) expect([name, sentOf('/vision/', name).sent]).toEqual([name, 0]);
    for (const name of text) {
      const { sent, bytes } = sentOf('/vision/', name);
      expect([name, sent]).toEqual([name, bytes]);
    }
    // The download progress ran to its total, and nothing was uploaded yet.
    const downloads = events.filter((e) => e.phase === 'download');
    expect(downloads.length).toBeGreaterThan(0);
    expect(downloads[downloads.length - 1].loadedBytes).toBe(downloads[downloads.length - 1].totalBytes);
    expect(events.some((e) => e.phase === 'upload')).toBe(false);

    await fetchAhead('/vision/', { ple: 'host' }, 'g3n-read-ahead-host');
    expect(sentOf('/vision/', PLE_TABLE).sent).toBe(0);
    for (const name of towers) expect(sentOf('/vision/', name).sent).toBe(0);
    expect(sentOf('/vision/', text[0]).sent).toBe(sentOf('/vision/', text[0]).bytes);
  });

  it('a MatFormer slice: none of the layers it skips', async () => {
    const slice: SliceConfig = parseSliceJson(JSON.parse(readFileSync(join(FIXTURES, 'gemma3n-tiny-matformer/slices/e2b-like.json'), 'utf8')));
    await fetchAhead('/matformer/', { matformer: slice }, 'g3n-read-ahead-slice');
    const layer = (i: number) => (manifests.get('/matformer/') as Manifest).tensors.filter((t) => t.name.startsWith(`model.language_model.layers.${i}.`)).map((t) => t.name);
    for (const i of [5, 6, 7, 8, 9]) for (const name of layer(i)) expect([name, sentOf('/matformer/', name).sent]).toEqual([name, 0]);
    for (const name of layer(0)) expect(sentOf('/matformer/', name).sent).toBeGreaterThan(0);
  });
});
