import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError, INDEX_FILE, openCheckpoint, writeSafetensors, type Checkpoint, type CheckpointErrorKind, type TensorToWrite } from '../src/index.ts';
import { nodeFileSource } from '../src/node.ts';
import { nodeFileSource as nodeEntry } from '@g3n/weights/node';

const FIXTURES = join(import.meta.dirname, '../../../../shared/fixtures');
const TINY_A = join(FIXTURES, 'gemma3n-tiny-a');

async function expectKind(p: Promise<unknown>, kind: CheckpointErrorKind, ...mentions: string[]): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, `expected a CheckpointError '${kind}'`).toBeInstanceOf(CheckpointError);
  const ce = err as CheckpointError;
  expect(ce.code).toBe('BAD_CHECKPOINT');
  expect(ce.kind, ce.message).toBe(kind);
  for (const m of mentions) expect(ce.message).toContain(m);
}

let single: Checkpoint;
let tmp: string;
const tensorsOf = async (ck: Checkpoint): Promise<TensorToWrite[]> =>
  Promise.all([...ck.tensors.values()].map(async (e) => ({ name: e.name, dtype: e.dtype, shape: e.shape, data: await ck.read(e.name) })));

/** A checkpoint folder in tmp: config.json + the given files (name -> bytes or JSON). */
async function folder(name: string, files: Record<string, Uint8Array | object>): Promise<string> {
  const dir = join(tmp, name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir);
  await copyFile(join(TINY_A, 'config.json'), join(dir, 'config.json'));
  for (const [f, v] of Object.entries(files)) await writeFile(join(dir, f), v instanceof Uint8Array ? v : JSON.stringify(v));
  return dir;
}

/** Split the fixture's tensors round-robin into `n` shards, with the matching index. */
async function shards(n: number): Promise<{ files: Record<string, Uint8Array | object>; map: Record<string, string>; parts: TensorToWrite[][] }> {
  const all = (await tensorsOf(single)).sort((a, b) => (a.name < b.name ? -1 : 1));
  const parts: TensorToWrite[][] = Array.from({ length: n }, () => []);
  all.forEach((t, i) => parts[i % n].push(t));
  const name = (i: number) => `model-0000${i + 1}-of-0000${n}.safetensors`;
  const files: Record<string, Uint8Array | object> = {};
  const map: Record<string, string> = {};
  parts.forEach((p, i) => {
    files[name(i)] = writeSafetensors(p, { format: 'pt' });
    for (const t of p) map[t.name] = name(i);
  });
  files[INDEX_FILE] = { metadata: { total_size: all.reduce((s, t) => s + t.data.length, 0) }, weight_map: map };
  return { files, map, parts };
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'g3n-ckpt-'));
  single = await openCheckpoint(nodeFileSource(TINY_A));
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('openCheckpoint', () => {
  it('reads the tiny-a fixture: config, 211 tensors, absolute offsets', async () => {
    expect((single.config as { model_type: string }).model_type).toBe('gemma3n');
    expect(single.tensors.size).toBe(211);
    const norm = single.tensors.get('model.language_model.norm.weight')!;
    expect(norm).toMatchObject({ dtype: 'BF16', shape: [128], file: 'model.safetensors', start: 8 + 25976 + 3124576, end: 8 + 25976 + 3124832 });
    const file = await readFile(join(TINY_A, 'model.safetensors'));
    expect(await single.read(norm.name)).toEqual(new Uint8Array(file.subarray(norm.start, norm.end)));
    expect(await single.readRange(norm.name, 10, 6)).toEqual(new Uint8Array(file.subarray(norm.start + 10, norm.start + 16)));
    await expectKind(single.readRange(norm.name, 250, 8), 'out-of-range', norm.name);
    await expectKind(single.read('lm_head.weight'), 'missing-tensor', 'lm_head.weight');
    expect(nodeEntry).toBe(nodeFileSource);
  });

  it('readF32 of a BF16 tensor is bits << 16', async () => {
    const name = 'model.language_model.layers.3.mlp.down_proj.weight';
    const raw = await single.read(name);
    const f = await single.readF32(name);
    expect(f.length).toBe(128 * 192);
    const bits = new Uint32Array(f.buffer, f.byteOffset, f.length);
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < f.length; i++) if (bits[i] !== (dv.getUint16(2 * i, true) << 16) >>> 0) throw new Error(`element ${i}`);
    expect(f.some((x) => x !== 0)).toBe(true);
  });

  it('a sharded copy (3 shards + index) reads identically', async () => {
    const { files, parts } = await shards(3);
    const sharded = await openCheckpoint(nodeFileSource(await folder('sharded', files)));
    expect(sharded.config).toEqual(single.config);
    expect([...sharded.tensors.keys()].sort()).toEqual([...single.tensors.keys()].sort());
    for (const [name, e] of single.tensors) {
      const s = sharded.tensors.get(name)!;
      expect([s.dtype, s.shape]).toEqual([e.dtype, e.shape]);
      expect(Buffer.compare(await sharded.read(name), await single.read(name)), name).toBe(0);
    }
    expect(sharded.tensors.get(parts[1][0].name)!.file).toBe('model-00002-of-00003.safetensors');
    const name = 'model.embed_audio.embedding_projection.weight';
    expect(await sharded.readF32(name)).toEqual(await single.readF32(name));
  });

  it('missing files', async () => {
    await expectKind(openCheckpoint(nodeFileSource(join(tmp, 'nowhere'))), 'missing-file', 'config.json');
    await expectKind(openCheckpoint(nodeFileSource(await folder('no-weights', {}))), 'missing-file', 'model.safetensors');
    const { files } = await shards(2);
    delete files['model-00002-of-00002.safetensors'];
    await expectKind(openCheckpoint(nodeFileSource(await folder('missing-shard', files))), 'missing-file', 'model-00002-of-00002.safetensors');
  });

  it('index mismatches', async () => {
    const { files, map } = await shards(2);
    const victim = Object.keys(map)[0];
    const listsAbsent = { weight_map: { ...map, 'model.extra.weight': 'model-00001-of-00002.safetensors' } };
    await expectKind(openCheckpoint(nodeFileSource(await folder('idx-absent', { ...files, [INDEX_FILE]: listsAbsent }))), 'index-mismatch', 'model.extra.weight');
    const unlisted = { ...map };
    delete unlisted[victim];
    await expectKind(openCheckpoint(nodeFileSource(await folder('idx-unlisted', { ...files, [INDEX_FILE]: { weight_map: unlisted } }))), 'index-mismatch', victim);
    const moved = { ...map, [victim]: map[victim] === 'model-00001-of-00002.safetensors' ? 'model-00002-of-00002.safetensors' : 'model-00001-of-00002.safetensors' };
    await expectKind(openCheckpoint(nodeFileSource(await folder('idx-moved', { ...files, [INDEX_FILE]: { weight_map: moved } }))), 'index-mismatch', victim);
  });

  it('malformed index and config files', async () => {
    const { files, map } = await shards(2);
    await expectKind(openCheckpoint(nodeFileSource(await folder('idx-json', { ...files, [INDEX_FILE]: new TextEncoder().encode('{"weight_map": ') }))), 'bad-json', INDEX_FILE);
    await expectKind(openCheckpoint(nodeFileSource(await folder('idx-nomap', { ...files, [INDEX_FILE]: { metadata: {} } }))), 'bad-index', 'weight_map');
    const escape = { ...map, [Object.keys(map)[0]]: '../model.safetensors' };
    await expectKind(openCheckpoint(nodeFileSource(await folder('idx-escape', { ...files, [INDEX_FILE]: { weight_map: escape } }))), 'bad-index', '../model.safetensors');
    const dir = await folder('config-json', { 'model.safetensors': await readFile(join(TINY_A, 'model.safetensors')) });
    await writeFile(join(dir, 'config.json'), '{"text_config": {');
    await expectKind(openCheckpoint(nodeFileSource(dir)), 'bad-json', 'config.json');
  });

  it('a truncated or corrupted model.safetensors gives its typed error', async () => {
    const file = new Uint8Array(await readFile(join(TINY_A, 'model.safetensors')));
    await expectKind(openCheckpoint(nodeFileSource(await folder('cut', { 'model.safetensors': file.slice(0, file.length - 1000) }))), 'truncated', 'model.safetensors');
    await expectKind(openCheckpoint(nodeFileSource(await folder('cut-header', { 'model.safetensors': file.slice(0, 4000) }))), 'header-length', 'model.safetensors');
    await expectKind(openCheckpoint(nodeFileSource(await folder('tiny', { 'model.safetensors': file.slice(0, 7) }))), 'truncated');
  });
});

describe('nodeFileSource', () => {
  it('null for missing files, directories and paths outside the folder; typed error past EOF', async () => {
    const src = nodeFileSource(TINY_A);
    expect(await src.open('nope.json')).toBeNull();
    expect(await src.open('../gemma3n-tiny-vision-a/config.json')).toBeNull();
    expect(await src.open('/etc/passwd')).toBeNull();
    expect(await nodeFileSource(FIXTURES).open('gemma3n-tiny-a')).toBeNull();
    const cfg = (await src.open('config.json'))!;
    const size = await cfg.size();
    expect(size).toBe((await readFile(join(TINY_A, 'config.json'))).length);
    expect((await cfg.read(size - 2, 2)).length).toBe(2);
    expect((await cfg.read(0, 0)).length).toBe(0);
    await expectKind(cfg.read(size - 2, 10), 'truncated', 'config.json');
  });
});
