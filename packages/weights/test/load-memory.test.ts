/**
 * JS memory while weights load. A 96 MiB artifact in 24 shards of 4 MiB (random bytes, made by the
 * converter) is served over HTTP and loaded with the default chunk size: first into the IndexedDB cache
 * (fake-indexeddb) with every shard handed to a consumer that reads it and keeps nothing (as a GPU
 * upload does), then again from that cache. The engine's path is measured too: openModelDir over HTTP
 * (httpFileSource), reading every tensor of that artifact, and of a 96 MiB Hugging Face checkpoint of
 * 96 tensors in 8 safetensors files, one tensor at a time.
 *
 * Live memory is `process.memoryUsage().arrayBuffers` right after a full GC (array buffers swept on
 * the spot, not concurrently), sampled at every step that holds data (each fetched response, each store
 * read and write, each MiB of download progress, each shard or tensor handed on), less the baseline
 * before the load. The file server runs in a child process, so its buffers are not counted. fake-indexeddb
 * keeps what is stored in this process (a browser keeps it outside the page's heap): the bytes the store
 * holds, counted as they are written, are not part of what the loader holds.
 */
import 'fake-indexeddb/auto';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clearCache, idbStore, type KeyValueStore } from '../src/artifact/cache.ts';
import { convertCheckpoint } from '../src/artifact/convert.ts';
import { loadArtifact } from '../src/artifact/loader.ts';
import type { Manifest } from '../src/artifact/manifest.ts';
import { nodeArtifactSink } from '../src/artifact/node-sink.ts';
import { openModelDir, type ModelWeights } from '../src/artifact/reader.ts';
import { writeSafetensors, type TensorToWrite } from '../src/safetensors.ts';
import { httpFileSource } from '../src/sources.ts';
import { openCheckpoint } from '../src/checkpoint.ts';
import { memoryFiles } from './artifact-util.ts';

const MiB = 1 << 20;
const SHARD = 4 * MiB;
const SHARDS = 24;
/** The loader's default download chunk (fetch.ts), also the size of each stored cache record. */
const CHUNK = 4 * MiB;
const HF_TENSOR = MiB;
const HF_TENSORS = 96;
const HF_FILES = 8;
/** Sockets, streams and IndexedDB records in flight. */
const SLACK = MiB;
/**
 * The loader may hold one shard (being verified, then handed on) and one stored chunk being read into
 * it: 9 MiB here, a shard and a sixteenth with the default 64 MiB shards; under 3 shards in any case.
 */
const LOADER_BOUND = SHARD + CHUNK + SLACK;
/**
 * Reading one tensor over HTTP may hold the tensor, the response body it was copied from, and the
 * body's bytes as assembled by fetch, which are let go of at the next turn of the event loop.
 */
const readerBound = (tensorBytes: number) => 3 * tensorBytes + SLACK;

setFlagsFromString('--expose-gc');
setFlagsFromString('--no-concurrent-array-buffer-sweeping');
const gc = runInNewContext('gc') as () => void;

/** Live ArrayBuffer bytes and all external bytes (ArrayBuffers included) after a full GC. */
function liveBytes(): { arrayBuffers: number; external: number } {
  gc();
  const { arrayBuffers, external } = process.memoryUsage();
  return { arrayBuffers, external };
}

/** Peak live bytes over a baseline, less the bytes `excluded` says someone else holds. */
class MemoryProbe {
  /** Peak of ArrayBuffer bytes. */
  peak = 0;
  /** Peak of external bytes (ArrayBuffers and native memory reported to V8). */
  peakExternal = 0;
  samples = 0;
  private constructor(
    private readonly base: { arrayBuffers: number; external: number },
    private readonly excluded: () => number,
  ) {}

  /** A probe whose baseline is taken once memory has settled. */
  static async start(excluded: () => number = () => 0): Promise<MemoryProbe> {
    let last = Infinity;
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 10));
      const now = liveBytes().arrayBuffers;
      if (Math.abs(now - last) < 64 << 10) break;
      last = now;
    }
    const base = liveBytes();
    const ex = excluded();
    return new MemoryProbe({ arrayBuffers: base.arrayBuffers - ex, external: base.external - ex }, excluded);
  }

  sample(): void {
    const now = liveBytes();
    const ex = this.excluded();
    this.peak = Math.max(this.peak, now.arrayBuffers - ex - this.base.arrayBuffers);
    this.peakExternal = Math.max(this.peakExternal, now.external - ex - this.base.external);
    this.samples++;
  }
}

/** The test's static file server (e2e/server/artifact-server.ts) in a child process, so its buffers are not counted here. */
async function startServerProcess(routes: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const code = `const { startArtifactServer } = await import(process.env.G3N_SERVER_MODULE);
const s = await startArtifactServer(JSON.parse(process.env.G3N_ROUTES));
process.stdin.on('end', () => process.exit(0)).resume();
console.log(s.url);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: root,
    env: { ...process.env, G3N_SERVER_MODULE: pathToFileURL(join(root, 'e2e/server/artifact-server.ts')).href, G3N_ROUTES: JSON.stringify(routes) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = /^(http:\/\/\S+)\n/.exec(out);
      if (line) resolve(line[1]);
    });
    child.on('exit', (c) => reject(new Error(`the file server exited with code ${c}`)));
  });
  return { url, child };
}

/** The idb-keyval store on fake-indexeddb, counting the bytes it holds and sampling after every read and write. */
function probedStore(): KeyValueStore & { heldBytes: () => number; probe: MemoryProbe | null } {
  const inner = idbStore('g3n-weights-memory', 'shards');
  const held = new Map<string, number>();
  const store = {
    probe: null as MemoryProbe | null,
    heldBytes: () => [...held.values()].reduce((a, b) => a + b, 0),
    async getMany(keys: string[]) {
      const values = await inner.getMany(keys);
      store.probe?.sample();
      return values;
    },
    async setMany(entries: Array<[string, unknown]>) {
      await inner.setMany(entries);
      for (const [k, v] of entries) if (v instanceof Uint8Array) held.set(k, v.byteLength);
      store.probe?.sample();
    },
    async delMany(keys: string[]) {
      await inner.delMany(keys);
      for (const k of keys) held.delete(k);
    },
    keys: () => inner.keys(),
    async clear() {
      await inner.clear();
      held.clear();
    },
  };
  return store;
}

/** A consumer like the GPU upload: reads every byte of what it is given, keeps only a digest. */
function digestOf(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function randomTensors(count: number, shape: number[], name: (i: number) => string): TensorToWrite[] {
  const n = shape.reduce((a, b) => a * b, 4);
  return Array.from({ length: count }, (_, i) => ({ name: name(i), dtype: 'F32' as const, shape, data: new Uint8Array(randomBytes(n)) }));
}

let dir: string;
let server: { url: string; child: ChildProcess };
let manifest: Manifest;
const hfDigests = new Map<string, string>();
const store = probedStore();
const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

/** 24 tensors of 4 MiB into 24 shards of 4 MiB. */
async function writeArtifact(to: string): Promise<Manifest> {
  const tensors = randomTensors(SHARDS, [1024, 1024], (i) => `model.language_model.w${String(i).padStart(2, '0')}.weight`);
  const files = new Map([
    ['config.json', new TextEncoder().encode('{"model_type":"test"}')],
    ['model.safetensors', writeSafetensors(tensors)],
  ]);
  return convertCheckpoint(await openCheckpoint(memoryFiles(files)), { quant: 'f32', modelId: 'memory', revision: 'r1', shardBytes: SHARD }, nodeArtifactSink(to));
}

/** 96 tensors of 1 MiB in 8 safetensors files with their index, as Hugging Face publishes large models. */
function writeHfCheckpoint(to: string): void {
  mkdirSync(to);
  writeFileSync(join(to, 'config.json'), '{"model_type":"test"}');
  const perFile = HF_TENSORS / HF_FILES;
  const weightMap: Record<string, string> = {};
  for (let f = 0; f < HF_FILES; f++) {
    const file = `model-0000${f + 1}-of-0000${HF_FILES}.safetensors`;
    const tensors = randomTensors(perFile, [256, 1024], (i) => `model.language_model.t${String(f * perFile + i).padStart(3, '0')}.weight`);
    for (const t of tensors) {
      hfDigests.set(t.name, digestOf(t.data));
      weightMap[t.name] = file;
    }
    writeFileSync(join(to, file), writeSafetensors(tensors));
  }
  writeFileSync(join(to, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
}

/** Read every tensor once, handing each to the consumer; `probe` samples with each tensor in hand. */
async function readEach(weights: ModelWeights, names: Iterable<string>, probe: MemoryProbe): Promise<Map<string, string>> {
  const got = new Map<string, string>();
  for (const name of names) {
    const data = await weights.readTensorData(name);
    probe.sample();
    got.set(name, digestOf(data.bytes));
  }
  return got;
}

/**
 * The probe saw at least `unit` bytes (the shard or tensor in hand: the probe does measure), and at
 * most `bound` ArrayBuffer bytes; external memory (sockets' and streams' native buffers too) at most
 * two MiB more. Both models are 96 MiB.
 */
function expectHeld(probe: MemoryProbe, unit: number, bound: number, what: string): void {
  const text = `${what}: peak ${mib(probe.peak)} live, ${mib(probe.peakExternal)} external, bound ${mib(bound)} (unit ${mib(unit)}, model 96 MiB, Node ${process.version})`;
  console.info(`load-memory: ${text}`);
  expect(probe.peak, text).toBeGreaterThanOrEqual(unit);
  expect(probe.peak, text).toBeLessThanOrEqual(bound);
  expect(probe.peakExternal, text).toBeLessThanOrEqual(bound + 2 * SLACK);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'g3n-load-memory-'));
  manifest = await writeArtifact(join(dir, 'artifact'));
  writeHfCheckpoint(join(dir, 'hf'));
  server = await startServerProcess({ '/artifact/': join(dir, 'artifact'), '/hf/': join(dir, 'hf') });
  await clearCache(store);
});

afterAll(async () => {
  server?.child.stdin?.end();
  await store.clear();
  rmSync(dir, { recursive: true, force: true });
});

describe('JS memory while loading stays near one shard, not the model', () => {
  it('builds an artifact of 24 shards of 4 MiB (96 MiB) and a checkpoint of 96 tensors of 1 MiB', () => {
    expect(manifest.shards.map((s) => s.bytes)).toEqual(Array(SHARDS).fill(SHARD));
    expect(manifest.tensors.map((t) => t.parts.map((p) => p.shard))).toEqual(manifest.shards.map((_, i) => [i]));
    expect(hfDigests.size).toBe(HF_TENSORS);
    expect(LOADER_BOUND).toBeLessThan(3 * SHARD);
  });

  it('downloads into the IndexedDB cache holding one shard and one chunk', async () => {
    const probe = await MemoryProbe.start(store.heldBytes);
    store.probe = probe;
    const fetchProbed: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      probe.sample();
      return res;
    };
    const handed: string[] = [];
    let nextSample = 0;
    const art = await loadArtifact(`${server.url}/artifact/`, {
      cache: store,
      storage: null,
      fetch: fetchProbed,
      onProgress: (p) => {
        if (p.phase !== 'download' || p.loadedBytes >= nextSample) {
          nextSample = p.loadedBytes + MiB;
          probe.sample();
        }
      },
      onShard: (_s, _i, bytes) => {
        probe.sample();
        handed.push(digestOf(bytes));
      },
    });
    store.probe = null;
    expect(art.fromCache).toBe(false);
    expect(art.networkBytes).toBe(SHARDS * SHARD);
    expect(handed).toEqual(manifest.shards.map((s) => s.sha256));
    expect(store.heldBytes()).toBe(SHARDS * SHARD);
    expect(probe.samples).toBeGreaterThan(SHARDS * 8);
    expectHeld(probe, SHARD, LOADER_BOUND, 'download into the cache');
  });

  it('loads again from the IndexedDB cache holding one shard and one chunk', async () => {
    const probe = await MemoryProbe.start(store.heldBytes);
    store.probe = probe;
    const handed: string[] = [];
    const art = await loadArtifact(`${server.url}/artifact/`, {
      cache: store,
      storage: null,
      onProgress: () => probe.sample(),
      onShard: (_s, _i, bytes) => {
        probe.sample();
        handed.push(digestOf(bytes));
      },
    });
    store.probe = null;
    expect(art.fromCache).toBe(true);
    expect(art.networkBytes).toBe(0);
    expect(handed).toEqual(manifest.shards.map((s) => s.sha256));
    expect(probe.samples).toBeGreaterThan(SHARDS * 4);
    expectHeld(probe, SHARD, LOADER_BOUND, 'load from the cache');
  });

  it('reads the artifact over HTTP tensor by tensor (openModelDir) holding about one tensor', async () => {
    const probe = await MemoryProbe.start();
    const weights = await openModelDir(httpFileSource(`${server.url}/artifact/`, { onRead: () => probe.sample() }));
    expect(weights.format).toBe('g3n-artifact');
    const got = await readEach(weights, manifest.tensors.map((t) => t.name), probe);
    expect([...got.values()]).toEqual(manifest.shards.map((s) => s.sha256));
    expectHeld(probe, SHARD, readerBound(SHARD), 'artifact over HTTP, tensor by tensor');
  });

  it('reads a 96-tensor Hugging Face checkpoint over HTTP tensor by tensor holding about one tensor', async () => {
    const probe = await MemoryProbe.start();
    const weights = await openModelDir(httpFileSource(`${server.url}/hf/`, { onRead: () => probe.sample() }));
    expect(weights.format).toBe('safetensors');
    expect(await readEach(weights, hfDigests.keys(), probe)).toEqual(hfDigests);
    expectHeld(probe, HF_TENSOR, readerBound(HF_TENSOR), 'checkpoint over HTTP, tensor by tensor');
  });
});
