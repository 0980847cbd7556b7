/**
 * The layer-major PLE table of the artifact (manifest minor 2) and reading tensors in blocks: blocks
 * put together equal the tensor (or selection) read whole, bit for bit, for every stored dtype and for
 * HF checkpoints, with block sizes that do not divide the rows; no read for a table holds more than
 * one hashed piece (an HF checkpoint's, more than the block bound); row-major tables of older
 * artifacts read as before.
 */
import { f32ToBf16Bits } from '@g3n/kernels';
import { describe, expect, it } from 'vitest';
import { checkpointWeights, openArtifact, type Artifact, type TensorData } from '../src/artifact/reader.ts';
import { convertCheckpoint } from '../src/artifact/convert.ts';
import { dataBytes, GROUP, parseManifest, scaleWordBytes, type Manifest, type QuantName } from '../src/artifact/manifest.ts';
import { planBlocks, subRuns, type TensorBlock } from '../src/artifact/blocks.ts';
import { shardUnits } from '../src/artifact/verify.ts';
import { selectionShape, wholeSelection, type TensorSelection } from '../src/artifact/ranges.ts';
import { openCheckpoint } from '../src/checkpoint.ts';
import { writeSafetensors } from '../src/safetensors.ts';
import type { FileSource } from '../src/sources.ts';
import { bytesEqual, f32Tensor, memoryFiles, memorySink } from './artifact-util.ts';

const LM = 'model.language_model.';
const PLE = `${LM}embed_tokens_per_layer.weight`;
const EMBED = `${LM}embed_tokens.weight`;
const V = 300;
const L = 4;
const P = 64;
const D = 96;
const SHARD = 16 << 10;

function files(p = P): Map<string, Uint8Array> {
  const tensors = [f32Tensor(PLE, [V, L * p], 1), f32Tensor(EMBED, [V, D], 2), f32Tensor(`${LM}layers.0.mlp.down_proj.weight`, [D, 64], 3), f32Tensor(`${LM}norm.weight`, [D], 4)];
  const config = { model_type: 'gemma3n', text_config: { hidden_size_per_layer_input: p, num_hidden_layers: L } };
  return new Map([
    ['config.json', new TextEncoder().encode(JSON.stringify(config))],
    ['model.safetensors', writeSafetensors(tensors)],
  ]);
}

/** A FileSource that records the length of every read. */
function counting(source: FileSource): { files: FileSource; reads: number[] } {
  const reads: number[] = [];
  return {
    reads,
    files: {
      base: source.base,
      async open(path) {
        const f = await source.open(path);
        return f && { name: f.name, size: () => f.size(), read: (o: number, n: number) => (reads.push(n), f.read(o, n)) };
      },
    },
  };
}

async function convert(quant: QuantName, options: { pleColumns?: null; p?: number } = {}): Promise<{ manifest: Manifest; files: Map<string, Uint8Array> }> {
  const sink = memorySink();
  const ckpt = await openCheckpoint(memoryFiles(files(options.p)));
  const manifest = await convertCheckpoint(ckpt, { quant, modelId: 'blocks', revision: quant, shardBytes: SHARD, pleColumns: options.pleColumns }, sink);
  return { manifest, files: sink.files };
}

/** Blocks put together into one [rows, cols] matrix (data bytes and scale halves). */
async function assemble(blocks: AsyncIterable<TensorBlock>, rows: number, cols: number): Promise<{ data: TensorData; count: number; shapes: TensorBlock[] }> {
  let out: { dtype: TensorData['dtype']; bytes: Uint8Array; scales: Uint8Array | null } | null = null;
  const shapes: TensorBlock[] = [];
  for await (const b of blocks) {
    shapes.push(b);
    const dtype = b.data.dtype;
    const quant = dtype === 'Q8' || dtype === 'Q4';
    out ??= { dtype, bytes: new Uint8Array(dataBytes(dtype, rows * cols)), scales: quant ? new Uint8Array(scaleWordBytes(rows * cols)) : null };
    for (let r = 0; r < b.rows; r++) {
      const from = r * b.cols;
      const to = (b.row0 + r) * cols + b.col0;
      out.bytes.set(b.data.bytes.subarray(dataBytes(dtype, from), dataBytes(dtype, from + b.cols)), dataBytes(dtype, to));
      if (out.scales && 'scales' in b.data) out.scales.set(b.data.scales.subarray((from / GROUP) * 2, ((from + b.cols) / GROUP) * 2), (to / GROUP) * 2);
    }
  }
  if (!out) throw new Error('no blocks');
  const data = out.scales ? { dtype: out.dtype as 'Q8' | 'Q4', bytes: out.bytes, scales: out.scales } : { dtype: out.dtype as 'F32', bytes: out.bytes };
  return { data, count: shapes.length, shapes };
}

function expectSame(got: TensorData, want: TensorData, what: string): void {
  expect(got.dtype, what).toBe(want.dtype);
  expect(bytesEqual(got.bytes, want.bytes), `${what}: data`).toBe(true);
  if (want.dtype === 'Q8' || want.dtype === 'Q4') expect(bytesEqual((got as { scales: Uint8Array }).scales, want.scales), `${what}: scales`).toBe(true);
}

const KEPT: TensorSelection = { units: [[5, 200], [250, 50]], elements: [[0, 2 * P], [3 * P, P]] };

describe('the layer-major PLE table', () => {
  it('is stored [L][V][P] in a minor-2 manifest, each layer block listed with its layer; the bytes are the layer columns', async () => {
    const { manifest, files: out } = await convert('bf16');
    expect(manifest.minor).toBe(2);
    const t = manifest.tensors.find((x) => x.name === PLE)!;
    expect(t).toMatchObject({ layout: 'layer-major', layerColumns: P, dtype: 'BF16', shape: [V, L * P] });
    expect(t.parts.length).toBeGreaterThan(2);
    expect(parseManifest(JSON.parse(new TextDecoder().decode(out.get('manifest.json'))))).toEqual(manifest);
    const whole = await (await openCheckpoint(memoryFiles(files()))).read(PLE);
    const f32 = new Float32Array(whole.slice().buffer);
    const inTable = (r: { shard: number; start: number; end: number }) => t.parts.some((p) => p.shard === r.shard && r.start >= p.offset && r.end <= p.offset + p.length);
    expect(manifest.layout.layers[0].some((r) => !inTable(r))).toBe(true);
    for (let l = 0; l < L; l++) {
      const ranges = manifest.layout.layers[l].filter(inTable);
      const bytes = ranges.map((r) => out.get(manifest.shards[r.shard].file)!.subarray(r.start, r.end));
      const joined = new Uint8Array(bytes.reduce((a, b) => a + b.length, 0));
      bytes.reduce((at, b) => (joined.set(b, at), at + b.length), 0);
      expect(joined.length, `layer ${l}`).toBe(V * P * 2);
      const halves = new Uint16Array(joined.buffer);
      for (const v of [0, 1, 151, V - 1]) for (const j of [0, 17, P - 1]) expect(halves[v * P + j], `layer ${l} row ${v} col ${j}`).toBe(f32ToBf16Bits(f32.subarray(v * L * P + l * P + j, v * L * P + l * P + j + 1))[0]);
    }
  });

  it('stays row-major where Q8/Q4 groups would straddle two layers (P = 16), layer-major in bf16', async () => {
    expect((await convert('q8', { p: 16 })).manifest.tensors.find((x) => x.name === PLE)!.layout).toBe('row-major');
    expect((await convert('bf16', { p: 16 })).manifest.tensors.find((x) => x.name === PLE)!.layout).toBe('layer-major');
  });

  for (const quant of ['f32', 'bf16', 'q8', 'q4'] as const) {
    it(`${quant}: reads the same as the row-major table of a minor-1 artifact, whole, by rows and by selection`, async () => {
      const layered = await openArtifact(memoryFiles((await convert(quant)).files));
      const old = (await convert(quant, { pleColumns: null })).files;
      const json = JSON.parse(new TextDecoder().decode(old.get('manifest.json')));
      json.minor = 1;
      old.set('manifest.json', new TextEncoder().encode(JSON.stringify(json)));
      const rows = await openArtifact(memoryFiles(old));
      expect(rows.tensors.get(PLE)!.layout).toBe('row-major');
      expect(rows.manifest.minor).toBe(1);
      expectSame(await layered.readTensorData(PLE), await rows.readTensorData(PLE), 'whole');
      expectSame(await layered.readRows(PLE, 101, 33), await rows.readRows(PLE, 101, 33), 'rows');
      expectSame(await layered.readSelection(PLE, KEPT), await rows.readSelection(PLE, KEPT), 'selection');
    });
  }
});

describe('reading in blocks', () => {
  const bound = 5000;

  for (const quant of ['f32', 'bf16', 'q8', 'q4'] as const) {
    it(`${quant}: blocks of the tables, whole and selected, equal one whole read; layer-major blocks are one layer's columns`, async () => {
      const art: Artifact = await openArtifact(memoryFiles((await convert(quant)).files));
      for (const [name, sel] of [[PLE, undefined], [PLE, KEPT], [EMBED, undefined], [EMBED, { units: [[7, 250]], elements: [[32, 64]] }]] as const) {
        const t = art.tensors.get(name)!;
        const selection = sel ?? wholeSelection(t);
        const [rows, cols] = selectionShape(t, selection);
        const want = await art.readSelection(name, selection);
        const got = await assemble(art.readBlocks(name, { selection, maxBytes: bound }), rows, cols);
        expectSame(got.data, want, `${name} ${JSON.stringify(sel)}`);
        expect(got.count).toBeGreaterThan(2);
        expect(rows % got.shapes[0].rows, 'block rows divide the rows').not.toBe(0);
        if (name === PLE) expect(got.shapes.every((b) => b.cols === P && b.col0 % P === 0)).toBe(true);
        else expect(got.shapes.every((b) => b.col0 === 0 && b.cols === cols)).toBe(true);
        const whole = await assemble(art.readBlocks(name, { selection, maxBytes: bound, wholeRows: true }), rows, cols);
        expectSame(whole.data, want, `${name} whole rows`);
        expect(whole.shapes.every((b) => b.col0 === 0 && b.cols === cols)).toBe(true);
      }
    });
  }

  it('no read of a table holds more than one hashed piece (reading it whole reads it all)', async () => {
    for (const quant of ['bf16', 'q4'] as const) {
      const { manifest, files: out } = await convert(quant, { p: P });
      for (const name of [PLE, EMBED]) {
        const src = counting(memoryFiles(out));
        const art = await openArtifact(src.files);
        src.reads.length = 0;
        for await (const b of art.readBlocks(name, { maxBytes: 2000 })) expect(b.rows).toBeGreaterThan(0);
        // Every byte is checked against its piece's sha256, so a read is one whole piece (of one part, in one shard).
        const t = manifest.tensors.find((x) => x.name === name)!;
        const pieces = t.parts.flatMap((p) => shardUnits(manifest, p.shard).filter((u) => u.pieces?.some((q) => q.tensor.name === name)));
        expect(Math.max(...src.reads), `${quant} ${name} in blocks`).toBeLessThanOrEqual(Math.max(...pieces.map((u) => u.end - u.start)));
        expect(src.reads.length, `${quant} ${name}: each piece read once`).toBeLessThanOrEqual(pieces.length);
        const fresh = counting(memoryFiles(out));
        await (await openArtifact(fresh.files)).readTensorData(name);
        expect(Math.max(...fresh.reads), `${quant} ${name} whole`).toBeGreaterThan(2000);
      }
    }
    const src = counting(memoryFiles(files()));
    const ckpt = checkpointWeights(await openCheckpoint(src.files));
    src.reads.length = 0;
    for await (const b of ckpt.readBlocks(PLE, { maxBytes: 10_000, selection: KEPT })) expect(b.rows).toBeGreaterThan(0);
    expect(Math.max(...src.reads)).toBeLessThanOrEqual(10_000);
    expect(Math.min(...src.reads)).toBeGreaterThan(1000);
  });

  it('an HF checkpoint in row blocks (selection gathered on the CPU) equals the whole tensor gathered', async () => {
    const ckpt = checkpointWeights(await openCheckpoint(memoryFiles(files())));
    const whole = await ckpt.read(PLE);
    const cols = 3 * P;
    const want = new Uint8Array(250 * cols * 4);
    let at = 0;
    for (const [f, c] of KEPT.units) {
      for (let r = f; r < f + c; r++) {
        for (const [e0, ec] of KEPT.elements!) {
          want.set(whole.subarray((r * L * P + e0) * 4, (r * L * P + e0 + ec) * 4), at);
          at += ec * 4;
        }
      }
    }
    const got = await assemble(ckpt.readBlocks(PLE, { selection: KEPT, maxBytes: 7 * L * P * 4 }), 250, cols);
    expectSame(got.data, { dtype: 'F32', bytes: want }, 'selection');
    expect(got.shapes.map((b) => b.rows)).toEqual([...Array<number>(35).fill(7), 5]);
    expectSame((await assemble(ckpt.readBlocks(EMBED, { maxBytes: 100 * D * 4 }), V, D)).data, { dtype: 'F32', bytes: await ckpt.read(EMBED) }, 'embed');
    await expect(async () => {
      for await (const b of ckpt.readBlocks(PLE, { selection: { units: [[0, V + 1]] } })) expect(b).toBeDefined();
    }).rejects.toMatchObject({ code: 'BAD_CHECKPOINT', kind: 'out-of-range' });
  });

  it('plans a column-blocks tensor as one block, and whole rows where layer columns are not whole words', async () => {
    const art = await openArtifact(memoryFiles((await convert('bf16', { p: 16 })).files));
    const down = art.tensors.get(`${LM}layers.0.mlp.down_proj.weight`)!;
    expect(planBlocks(down, wholeSelection(down), 100)).toEqual([{ selection: wholeSelection(down), row0: 0, rows: D, col0: 0, cols: 64 }]);
    const ple = art.tensors.get(PLE)!;
    expect(planBlocks(ple, { units: [[0, V]], elements: [[0, 16]] }, 2000).every((b) => b.cols === 16)).toBe(true);
    expect(planBlocks(ple, { units: [[0, V]], elements: [[8, 16]] }, 2000).every((b) => b.cols === 8)).toBe(true);
    expect(planBlocks(ple, { units: [[0, V]], elements: [[1, 16]] }, 2000).every((b) => b.col0 === 0 && b.cols === 16)).toBe(true);
    expect(subRuns([[10, 5], [100, 10]], 3, 6)).toEqual([[13, 2], [100, 4]]);
  });
});
