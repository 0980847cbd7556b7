import { quantizeQ4, quantizeQ8 } from '@g3n/kernels';
import { describe, expect, it } from 'vitest';
import { toF32, type Checkpoint } from '../src/checkpoint.ts';
import { convertCheckpoint, type ConvertOptions } from '../src/artifact/convert.ts';
import { columnBlocksToRowMajor } from '../src/artifact/encode.ts';
import { BadManifestError } from '../src/artifact/errors.ts';
import { parseManifest, prefixRanges, unitsOf, type Manifest } from '../src/artifact/manifest.ts';
import { planArtifact, storedDType } from '../src/artifact/plan.ts';
import { artifactReader, openArtifact, type Artifact } from '../src/artifact/reader.ts';
import { bytesEqual, f32Tensor, memoryFiles, memorySink, syntheticCheckpoint, tinyCheckpoint } from './artifact-util.ts';

const BASE = { modelId: 'tiny', revision: 'r1' };

async function convert(ckpt: Checkpoint, options: Partial<ConvertOptions> & Pick<ConvertOptions, 'quant'>) {
  const sink = memorySink();
  const manifest = await convertCheckpoint(ckpt, { ...BASE, ...options }, sink);
  const artifact = await openArtifact(memoryFiles(sink.files));
  return { manifest, artifact, files: sink.files };
}

function u8(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function quantize(dtype: 'Q8' | 'Q4', f: Float32Array, rows: number, cols: number) {
  return dtype === 'Q8' ? quantizeQ8(f, rows, cols) : quantizeQ4(f, rows, cols);
}

describe('converter on gemma3n-tiny-a', () => {
  it('bf16 is lossless: matrices byte-identical to the checkpoint, f32 tensors exactly its bf16 values', async () => {
    const ckpt = await tinyCheckpoint();
    const { artifact } = await convert(ckpt, { quant: 'bf16', shardBytes: 256 << 10 });
    expect(artifact.tensors.size).toBe(ckpt.tensors.size);
    let same = 0;
    for (const [name, entry] of ckpt.tensors) {
      const data = await artifact.readTensorData(name);
      expect(artifact.tensors.get(name)?.shape).toEqual(entry.shape);
      if (data.dtype === 'BF16') {
        expect(bytesEqual(data.bytes, await ckpt.read(name)), name).toBe(true);
        same++;
      } else {
        expect(data.dtype, name).toBe('F32');
        expect(Array.from(await artifact.readF32(name)), name).toEqual(Array.from(await ckpt.readF32(name)));
      }
    }
    expect(same).toBeGreaterThan(80);
    expect(artifact.tensors.get('model.language_model.layers.0.mlp.down_proj.weight')?.layout).toBe('column-blocks');
  });

  it('f32 of a bf16 checkpoint keeps every value exactly', async () => {
    const ckpt = await tinyCheckpoint();
    const { artifact } = await convert(ckpt, { quant: 'f32' });
    for (const name of ckpt.tensors.keys()) {
      expect(artifact.tensors.get(name)?.dtype).toBe('F32');
      expect(bytesEqual(await artifact.read(name), u8(await ckpt.readF32(name))), name).toBe(true);
    }
  });

  for (const quant of ['q8', 'q4'] as const) {
    it(`${quant}: data and scales equal the kernels' quantize${quant.toUpperCase()} of the f32 values`, async () => {
      const ckpt = await tinyCheckpoint();
      const { artifact } = await convert(ckpt, { quant, shardBytes: 64 << 10 });
      const dtype = quant === 'q8' ? 'Q8' : 'Q4';
      let quantized = 0;
      for (const [name, entry] of ckpt.tensors) {
        const data = await artifact.readTensorData(name);
        if (data.dtype !== dtype) continue;
        quantized++;
        const [rows, cols] = [entry.shape[0], entry.shape[1]];
        const want = quantize(dtype, await ckpt.readF32(name), rows, cols);
        expect(bytesEqual(data.bytes, u8(want.data)), `${name} data`).toBe(true);
        expect(bytesEqual(data.scales, u8(want.scales)), `${name} scales`).toBe(true);
      }
      expect(quantized).toBe(9 + 8 * 7);
      const roles = (n: string) => artifact.tensors.get(`model.language_model.${n}`)?.dtype;
      expect([roles('embed_tokens.weight'), roles('embed_tokens_per_layer.weight'), roles('layers.0.mlp.down_proj.weight')]).toEqual([dtype, dtype, dtype]);
      expect([roles('layers.0.input_layernorm.weight'), roles('layers.0.altup.modality_router.weight'), roles('layers.0.laurel.linear_right.weight')]).toEqual(['F32', 'F32', 'BF16']);
    });
  }

  it('is deterministic: two conversions give identical manifests and shards', async () => {
    const a = await convert(await tinyCheckpoint(), { quant: 'q4', shardBytes: 200 << 10 });
    const b = await convert(await tinyCheckpoint(), { quant: 'q4', shardBytes: 200 << 10 });
    expect([...a.files.keys()]).toEqual([...b.files.keys()]);
    for (const [file, bytes] of a.files) expect(bytesEqual(bytes, b.files.get(file) as Uint8Array), file).toBe(true);
    expect(new TextDecoder().decode(a.files.get('manifest.json'))).not.toMatch(/time|date/i);
  });

  it('groups each layer contiguously, in layer order, and starts a shard rather than straddle one', async () => {
    const { manifest } = await convert(await tinyCheckpoint(), { quant: 'q8', shardBytes: 256 << 10 });
    const layers = Object.keys(manifest.layout.layers).map(Number);
    expect(layers).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    let last = { shard: -1, end: 0 };
    for (const l of layers) {
      const ranges = manifest.layout.layers[l];
      expect(ranges, `layer ${l}`).toHaveLength(1);
      const [r] = ranges;
      expect(r.shard > last.shard || (r.shard === last.shard && r.start >= last.end)).toBe(true);
      last = r;
      for (const t of manifest.tensors.filter((x) => x.layer === l)) {
        for (const p of t.parts) {
          expect(p.shard).toBe(r.shard);
          expect(p.offset >= r.start && p.offset + p.length <= r.end).toBe(true);
        }
      }
    }
    for (const s of manifest.shards) expect(s.bytes).toBeLessThanOrEqual(256 << 10);
    expect(manifest.shards.length).toBeGreaterThan(4);
  });

  it('a FFN width prefix is one data range and one scale range per tensor, and decodes to the sliced quantization', async () => {
    const ckpt = await tinyCheckpoint();
    const { manifest, files } = await convert(ckpt, { quant: 'q4' });
    const read = (r: { shard: number; start: number; end: number }) => (files.get(manifest.shards[r.shard].file) as Uint8Array).slice(r.start, r.end);
    const w = 96;
    const D = 128;
    const gate = manifest.tensors.find((t) => t.name === 'model.language_model.layers.4.mlp.gate_proj.weight')!;
    const gr = prefixRanges(gate, w);
    expect(gr).toHaveLength(2);
    const gateWant = quantizeQ4((await ckpt.readF32(gate.name)).subarray(0, w * D), w, D);
    expect(bytesEqual(read(gr[0]), u8(gateWant.data))).toBe(true);
    expect(bytesEqual(read(gr[1]), u8(gateWant.scales).subarray(0, gr[1].end - gr[1].start))).toBe(true);

    const down = manifest.tensors.find((t) => t.name === 'model.language_model.layers.4.mlp.down_proj.weight')!;
    const I = down.shape[1];
    const dr = prefixRanges(down, w / 32);
    expect(dr).toHaveLength(2);
    const back = columnBlocksToRowMajor('Q4', D, w, read(dr[0]), read(dr[1]));
    const full = await ckpt.readF32(down.name);
    const sliced = new Float32Array(D * w);
    for (let d = 0; d < D; d++) sliced.set(full.subarray(d * I, d * I + w), d * w);
    const downWant = quantizeQ4(sliced, D, w);
    expect(bytesEqual(back.data, u8(downWant.data))).toBe(true);
    expect(bytesEqual(back.scales as Uint8Array, u8(downWant.scales))).toBe(true);
  });

  it('readRows returns a row block of a quantized table; readF32 dequantizes', async () => {
    const ckpt = await tinyCheckpoint();
    const { artifact } = await convert(ckpt, { quant: 'q8', shardBytes: 40 << 10 });
    const name = 'model.language_model.embed_tokens.weight';
    expect(artifact.tensors.get(name)!.parts.length).toBeGreaterThan(1);
    const f = await ckpt.readF32(name);
    const rows = await artifact.readRows(name, 301, 7);
    const want = quantizeQ8(f.subarray(301 * 128, 308 * 128), 7, 128);
    expect(rows.dtype).toBe('Q8');
    expect(bytesEqual(rows.bytes, u8(want.data))).toBe(true);
    const deq = await artifact.readF32(name);
    for (let i = 0; i < deq.length; i += 997) expect(Math.abs(deq[i] - f[i])).toBeLessThanOrEqual(Math.abs(f[i]) / 100 + 0.01);
  });
});

describe('tensors larger than a shard', () => {
  const cases = [
    { quant: 'q4', shape: [97, 96], shard: 2048 },
    { quant: 'q8', shape: [45, 96], shard: 2000 },
    { quant: 'bf16', shape: [77, 40], shard: 2048 },
    { quant: 'f16', shape: [64, 64], shard: 2048 },
  ] as const;
  for (const c of cases) {
    it(`${c.quant} [${c.shape.join(', ')}] in ${c.shard}-byte shards splits into row parts and reads back`, async () => {
      const t = f32Tensor('model.language_model.embed_tokens.weight', [...c.shape], 7);
      const down = f32Tensor('model.language_model.layers.0.mlp.down_proj.weight', [32, 64], 8);
      const ckpt = await syntheticCheckpoint([t, down]);
      const { manifest, artifact } = await convert(ckpt, { quant: c.quant, shardBytes: c.shard });
      const entry = artifact.tensors.get(t.name)!;
      expect(entry.parts.length).toBeGreaterThan(2);
      for (const s of manifest.shards) expect(s.bytes).toBeLessThanOrEqual(c.shard);
      for (const name of [t.name, down.name]) {
        const e = artifact.tensors.get(name)!;
        const got = await artifact.readTensorData(name);
        const f = await ckpt.readF32(name);
        if (got.dtype === 'Q8' || got.dtype === 'Q4') {
          const want = quantize(got.dtype, f, e.shape[0], e.shape[1]);
          expect(bytesEqual(got.bytes, u8(want.data)), name).toBe(true);
          expect(bytesEqual(got.scales, u8(want.scales)), name).toBe(true);
        } else {
          const vals = toF32(got.bytes, { name, dtype: got.dtype, file: '' });
          for (let i = 0; i < f.length; i++) expect(Math.abs(vals[i] - f[i])).toBeLessThanOrEqual(Math.abs(f[i]) * 2 ** -7);
        }
      }
    });
  }

  it('every non-final part of a quantized tensor holds an even number of groups', () => {
    const plan = planArtifact([{ name: 'model.language_model.embed_tokens.weight', dtype: 'F32', shape: [31, 96] }], { quant: 'q4' }, 1024);
    const [t] = plan.tensors;
    const { perUnit } = unitsOf(t.shape, t.layout);
    expect(t.parts.length).toBeGreaterThan(2);
    for (const p of t.parts.slice(0, -1)) expect(((p.count * perUnit) / 32) % 2).toBe(0);
  });
});

describe('storage policy', () => {
  it('maps roles to dtypes, with per-role overrides and float fallbacks', () => {
    const t = (name: string, shape: number[]) => ({ name, dtype: 'BF16' as const, shape });
    const p = { quant: 'q8' as const, roles: { ple: 'Q4' as const, norm: 'BF16' as const } };
    expect(storedDType(t('model.language_model.embed_tokens_per_layer.weight', [992, 128]), p)).toBe('Q4');
    expect(storedDType(t('model.language_model.embed_tokens.weight', [1024, 128]), p)).toBe('Q8');
    expect(storedDType(t('model.language_model.layers.0.input_layernorm.weight', [128]), p)).toBe('BF16');
    expect(storedDType(t('model.language_model.layers.0.altup.correct_output_scale', [128]), p)).toBe('F32');
    expect(storedDType(t('model.language_model.layers.0.laurel.linear_right.weight', [128, 8]), p)).toBe('BF16');
    expect(storedDType(t('model.vision_tower.timm_model.conv_stem.conv.weight', [64, 3, 3, 3]), p)).toBe('BF16');
    expect(storedDType(t('model.vision_tower.timm_model.conv_stem.conv.weight', [64, 3, 3, 3]), { quant: 'f16' })).toBe('F16');
    expect(storedDType({ name: 'x.weight', dtype: 'F64', shape: [40, 64] }, { quant: 'q4' })).toBe('Q4');
    expect(storedDType({ name: 'x.weight', dtype: 'F64', shape: [40, 63] }, { quant: 'q4' })).toBe('F32');
    expect(storedDType({ name: 'ids', dtype: 'I64', shape: [4] }, { quant: 'q4' })).toBe('I64');
  });
});

describe('parseManifest', () => {
  let good: Manifest;
  const fresh = async () => {
    if (!good) good = (await convert(await tinyCheckpoint(), { quant: 'q4', shardBytes: 256 << 10 })).manifest;
    return JSON.parse(JSON.stringify(good)) as Record<string, any>;
  };
  const cases: Array<[string, string, (m: Record<string, any>) => unknown]> = [
    ['not an object', '(root)', () => [1, 2]],
    ['another format', 'format', (m) => ({ ...m, format: 'gguf' })],
    ['a newer version', 'version', (m) => ({ ...m, version: 2 })],
    ['no model id', 'model', (m) => ({ ...m, model: { revision: 'x' } })],
    ['no config', 'config', (m) => ({ ...m, config: 'gemma' })],
    ['an unknown quant', 'quant', (m) => ({ ...m, quant: 'q3' })],
    ['a bad sha256', 'shards[1]', (m) => (m.shards[1].sha256 = 'abc', m)],
    ['a shard path that escapes', 'shards[0]', (m) => (m.shards[0].file = '../etc/passwd', m)],
    ['a wrong total', 'totalBytes', (m) => (m.totalBytes += 1, m)],
    ['a wrong part length', 'tensors[0] ("model.language_model.altup_projections.0.weight").parts[0].length', (m) => (m.tensors[0].parts[0].length += 4, m)],
    ['a part past its shard', 'tensors[3] ("model.language_model.altup_unembed_projections.0.weight").parts[0]', (m) => (m.tensors[3].parts[0].offset = m.shards[0].bytes, m)],
    ['overlapping tensors', 'tensors[1] ("model.language_model.altup_projections.1.weight").parts[0] data', (m) => (m.tensors[1].parts[0].offset = m.tensors[0].parts[0].offset, m)],
    ['a Q4 tensor without scales', 'tensors[0] ("model.language_model.altup_projections.0.weight").parts[0]', (m) => (delete m.tensors[0].parts[0].scalesOffset, m)],
    ['parts that miss rows', 'tensors[0] ("model.language_model.altup_projections.0.weight").parts[0].length', (m) => (m.tensors[0].parts[0].count -= 1, m)],
    ['a duplicate tensor', 'tensors', (m) => (m.tensors.push(m.tensors[0]), m)],
    ['an unknown dtype', 'tensors[0] ("model.language_model.altup_projections.0.weight").dtype', (m) => (m.tensors[0].dtype = 'Q2', m)],
    ['a layer range outside its shard', 'layout.layers.0[0]', (m) => (m.layout.layers['0'][0].end = 1e12, m)],
  ];
  for (const [what, field, mutate] of cases) {
    it(`rejects ${what} with BAD_MANIFEST at ${field}`, async () => {
      const m = mutate(await fresh());
      let err: unknown;
      try {
        parseManifest(m);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(BadManifestError);
      expect((err as BadManifestError).code).toBe('BAD_MANIFEST');
      expect((err as BadManifestError).field).toBe(field);
    });
  }

  it('accepts what the converter writes, unchanged', async () => {
    const m = await fresh();
    expect(parseManifest(m)).toEqual(m);
  });

  it('openArtifact checks shard sizes, and hashes with verify', async () => {
    const { files } = await convert(await tinyCheckpoint(), { quant: 'q8', shardBytes: 256 << 10 });
    await expect(openArtifact(memoryFiles(files), { verify: true })).resolves.toBeTruthy();
    const damaged = new Map(files);
    const shard = (damaged.get('shard-00001.bin') as Uint8Array).slice();
    shard[100] ^= 1;
    damaged.set('shard-00001.bin', shard);
    await expect(openArtifact(memoryFiles(damaged))).resolves.toBeTruthy();
    await expect(openArtifact(memoryFiles(damaged), { verify: true })).rejects.toMatchObject({ code: 'INTEGRITY' });
    damaged.set('shard-00001.bin', shard.subarray(1));
    await expect(openArtifact(memoryFiles(damaged))).rejects.toMatchObject({ code: 'BAD_CHECKPOINT', kind: 'size-mismatch' });
    damaged.set('manifest.json', new TextEncoder().encode('{"format": "g3n-artifact", '));
    await expect(openArtifact(memoryFiles(damaged))).rejects.toMatchObject({ code: 'BAD_MANIFEST' });
  });

  it('artifactReader reads through any shard reader', async () => {
    const { manifest, files } = await convert(await tinyCheckpoint(), { quant: 'bf16' });
    const reads: number[] = [];
    const art: Artifact = artifactReader(manifest, async (s, o, n) => {
      reads.push(s);
      return (files.get(manifest.shards[s].file) as Uint8Array).slice(o, o + n);
    });
    expect((await art.readTensorData('model.language_model.norm.weight')).dtype).toBe('F32');
    expect(reads.length).toBe(1);
  });
});
