/**
 * Reading parts of stored tensors (selections) and fetching them by HTTP ranges into the IndexedDB
 * range cache, on a small synthetic checkpoint with Gemma 3n names (FFN, PLE table and projection),
 * stored as bf16, q8 and q4 in shards small enough to split tensors into several parts.
 */
import 'fake-indexeddb/auto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startArtifactServer, type ArtifactServer } from '../../../e2e/server/artifact-server.ts';
import { clearCache, defaultStore, listCachedModels } from '../src/artifact/cache.ts';
import { convertCheckpoint } from '../src/artifact/convert.ts';
import { loadArtifact } from '../src/artifact/loader.ts';
import { dataBytes, GROUP, parseManifest, scaleWordBytes, unitsOf, type Manifest, type ManifestTensor, type QuantName } from '../src/artifact/manifest.ts';
import { nodeArtifactSink } from '../src/artifact/node-sink.ts';
import { openArtifactRanges } from '../src/artifact/range-loader.ts';
import { pieceSpans, selectionPieces, verifyPiece } from '../src/artifact/pieces.ts';
import {
  mergeSpans,
  planRequests,
  rangeSpans,
  selectionBytes,
  selectionRanges,
  selectionShape,
  shardReaderWindows,
  subtractSpans,
  wholeSelection,
  type NamedSelection,
  type Span,
  type TensorSelection,
} from '../src/artifact/ranges.ts';
import { openArtifact, type Artifact, type TensorData } from '../src/artifact/reader.ts';
import { nodeFileSource } from '../src/node-source.ts';
import { bytesEqual, f32Tensor, memoryFiles, memorySink, syntheticCheckpoint } from './artifact-util.ts';

const LM = 'model.language_model.';
const P = 32;
const L = 3;
const D = 64;
const I = 128;
const ROWS = 200;
const SHARD = 4 << 10;
const NAMES = {
  ple: `${LM}embed_tokens_per_layer.weight`,
  proj: `${LM}per_layer_model_projection.weight`,
  gate: `${LM}layers.1.mlp.gate_proj.weight`,
  down: `${LM}layers.1.mlp.down_proj.weight`,
  norm: `${LM}layers.1.input_layernorm.weight`,
  embed: `${LM}embed_tokens.weight`,
};

function checkpoint() {
  const tensors = [f32Tensor(NAMES.ple, [ROWS, L * P], 1), f32Tensor(NAMES.proj, [L * P, D], 2), f32Tensor(NAMES.embed, [100, D], 3)];
  for (let l = 0; l < L; l++) {
    tensors.push(f32Tensor(`${LM}layers.${l}.mlp.gate_proj.weight`, [I, D], 10 + l), f32Tensor(`${LM}layers.${l}.mlp.up_proj.weight`, [I, D], 20 + l));
    tensors.push(f32Tensor(`${LM}layers.${l}.mlp.down_proj.weight`, [D, I], 30 + l), f32Tensor(`${LM}layers.${l}.input_layernorm.weight`, [D], 40 + l));
  }
  return syntheticCheckpoint(tensors, { model_type: 'gemma3n', text_config: { hidden_size_per_layer_input: P, num_hidden_layers: L } });
}

/** Converted in memory; `pleColumns: null` stores the PLE table row-major, as artifacts before minor 2 do. */
async function convert(quant: QuantName, shardBytes = SHARD, pleColumns?: null): Promise<{ manifest: Manifest; files: Map<string, Uint8Array>; artifact: Artifact }> {
  const sink = memorySink();
  const manifest = await convertCheckpoint(await checkpoint(), { quant, modelId: 'ranges', revision: quant, shardBytes, pleColumns }, sink);
  return { manifest, files: sink.files, artifact: await openArtifact(memoryFiles(sink.files)) };
}

/** The CPU reference: gather a selection out of the whole tensor's row-major data, group by group. */
function gatherReference(t: ManifestTensor, whole: TensorData, sel: TensorSelection): TensorData {
  const [rows, cols] = t.layout === 'row-major' ? [unitsOf(t.shape, t.layout).units, unitsOf(t.shape, t.layout).perUnit] : [t.shape[0], t.shape[1]];
  const colRuns: ReadonlyArray<readonly [number, number]> = t.layout === 'column-blocks' ? sel.units.map(([f, c]) => [f * GROUP, c * GROUP] as const) : (sel.elements ?? [[0, cols]]);
  const rowRuns: ReadonlyArray<readonly [number, number]> = t.layout === 'column-blocks' ? [[0, rows]] : [...sel.units];
  const C = colRuns.reduce((a, r) => a + r[1], 0);
  const R = rowRuns.reduce((a, r) => a + r[1], 0);
  const data = new Uint8Array(dataBytes(t.dtype, R * C));
  const quant = whole.dtype === 'Q8' || whole.dtype === 'Q4';
  const scales = new Uint8Array(quant ? scaleWordBytes(R * C) : 0);
  let out = 0;
  for (const [r0, rn] of rowRuns) {
    for (let r = r0; r < r0 + rn; r++) {
      for (const [c0, cn] of colRuns) {
        const from = r * cols + c0;
        data.set(whole.bytes.subarray(dataBytes(t.dtype, from), dataBytes(t.dtype, from + cn)), dataBytes(t.dtype, out));
        if (quant) scales.set(whole.scales.subarray((from / GROUP) * 2, ((from + cn) / GROUP) * 2), (out / GROUP) * 2);
        out += cn;
      }
    }
  }
  return quant ? { dtype: whole.dtype as 'Q8' | 'Q4', bytes: data, scales } : { dtype: whole.dtype as 'F32', bytes: data };
}

function expectSame(got: TensorData, want: TensorData, what: string): void {
  expect(got.dtype, what).toBe(want.dtype);
  expect(bytesEqual(got.bytes, want.bytes), `${what}: data`).toBe(true);
  if (want.dtype === 'Q8' || want.dtype === 'Q4') expect(bytesEqual((got as { scales: Uint8Array }).scales, want.scales), `${what}: scales`).toBe(true);
}

const SELECTIONS: Array<[keyof typeof NAMES, TensorSelection]> = [
  ['ple', { units: [[0, ROWS]], elements: [[0, 32], [64, 32]] }],
  ['ple', { units: [[3, 7], [130, 59]], elements: [[32, 64]] }],
  ['proj', { units: [[0, 32], [64, 32]] }],
  ['gate', { units: [[0, 96]] }],
  ['gate', { units: [[32, 64], [0, 32]] }],
  ['down', { units: [[0, 2]] }],
  ['down', { units: [[1, 3]] }],
  ['embed', { units: [[17, 50]] }],
  ['norm', { units: [[0, 1]] }],
];

describe('selections of stored tensors', () => {
  for (const [quant, layout] of [['bf16', 'layer-major'], ['q8', 'layer-major'], ['q4', 'layer-major'], ['q4', 'row-major']] as const) {
    it(`${quant}, PLE ${layout}: every selection reads exactly the gathered bytes (Q8/Q4 data and scales group by group)`, async () => {
      const { artifact } = await convert(quant, SHARD, layout === 'row-major' ? null : undefined);
      expect(artifact.tensors.get(NAMES.ple)!.layout).toBe(layout);
      expect(artifact.tensors.get(NAMES.ple)!.parts.length).toBeGreaterThan(1);
      expect(artifact.tensors.get(NAMES.gate)!.parts.length).toBeGreaterThan(1);
      for (const [key, sel] of SELECTIONS) {
        const t = artifact.tensors.get(NAMES[key])!;
        const got = await artifact.readSelection(t.name, sel);
        const want = gatherReference(t, await artifact.readTensorData(t.name), sel);
        expectSame(got, want, `${quant} ${key} ${JSON.stringify(sel)}`);
        expect(got.bytes.length).toBe(dataBytes(t.dtype, selectionShape(t, sel).reduce((a, b) => a * b, 1)));
      }
      for (const t of artifact.tensors.values()) expectSame(await artifact.readSelection(t.name, wholeSelection(t)), await artifact.readTensorData(t.name), `${t.name} whole`);
    });
  }

  it('describes a per-row gather compactly: row-major, one strided range per part and element run; layer-major, one contiguous range per layer and part', async () => {
    const sel: TensorSelection = { units: [[0, ROWS]], elements: [[0, 32], [64, 32]] };
    const rowMajor = (await convert('q4', SHARD, null)).artifact.tensors.get(NAMES.ple)!;
    const ranges = selectionRanges(rowMajor, sel);
    expect(ranges).toHaveLength(rowMajor.parts.length * 2 * 2);
    expect(ranges.reduce((a, r) => a + r.count, 0)).toBe(ROWS * 2 * 2);
    expect(selectionBytes(rowMajor, sel)).toBe(ROWS * 64 * 0.5 + ((ROWS * 64) / GROUP) * 2);
    const { artifact } = await convert('q4');
    const t = artifact.tensors.get(NAMES.ple)!;
    const touched = (l: number) => t.parts.filter((p) => p.first < (l + 1) * ROWS && p.first + p.count > l * ROWS).length;
    const blocks = selectionRanges(t, sel);
    expect(blocks).toHaveLength(2 * (touched(0) + touched(2)));
    expect(blocks.every((r) => r.stride === r.length && rangeSpans(r).length === 1)).toBe(true);
    expect(selectionBytes(t, sel)).toBe(ROWS * 64 * 0.5 + ((ROWS * 64) / GROUP) * 2);
    const gate = artifact.tensors.get(NAMES.gate)!;
    expect(selectionRanges(gate, { units: [[0, 64]] }).every((r) => r.count === 1)).toBe(true);
  });

  it('rejects selections outside the tensor or splitting a quantization group, with a typed error', async () => {
    const { artifact } = await convert('q8');
    await expect(artifact.readSelection(NAMES.gate, { units: [[100, 40]] })).rejects.toMatchObject({ code: 'BAD_CHECKPOINT', kind: 'out-of-range' });
    await expect(artifact.readSelection(NAMES.ple, { units: [[0, 1]], elements: [[0, 16]] })).rejects.toMatchObject({ kind: 'out-of-range' });
    await expect(artifact.readSelection(NAMES.down, { units: [[0, 1]], elements: [[0, 32]] })).rejects.toMatchObject({ kind: 'out-of-range' });
  });

  it('merges, subtracts and plans spans: adjacent ones merge, beyond the limit the smallest gaps are filled', () => {
    expect(mergeSpans([[10, 20], [0, 5], [5, 8], [19, 25]])).toEqual([[0, 8], [10, 25]]);
    expect(subtractSpans([[0, 100]], [[10, 20], [30, 40], [90, 120]])).toEqual([[0, 10], [20, 30], [40, 90]]);
    expect(subtractSpans([[0, 10], [20, 30]], [[0, 30]])).toEqual([]);
    const spans: Span[] = [[0, 10], [12, 20], [30, 40], [41, 50], [100, 110]];
    expect(planRequests(spans, 10)).toEqual(spans);
    expect(planRequests(spans, 3)).toEqual([[0, 20], [30, 50], [100, 110]]);
    expect(planRequests(spans, 1)).toEqual([[0, 110]]);
  });
});

describe('piece hashes (manifest minor 1)', () => {
  it('the converter hashes pieces where a MatFormer slice cuts; each verifies, a flipped byte does not', async () => {
    const { manifest, files, artifact } = await convert('q4');
    expect(manifest.minor).toBe(2);
    const grid = (name: string) => manifest.tensors.find((t) => t.name === name)!.parts[0].pieces!;
    expect(grid(NAMES.gate)).toMatchObject({ units: 32, elements: D });
    expect(grid(NAMES.down)).toMatchObject({ units: 1, elements: D * GROUP });
    expect(grid(NAMES.ple)).toMatchObject({ units: ROWS, elements: P });
    expect(grid(NAMES.proj)).toMatchObject({ units: P, elements: D });
    expect(grid(NAMES.embed).sha256).toHaveLength(1);
    const source = (mutate?: (b: Uint8Array) => void) =>
      shardReaderWindows(async (s, o, n) => {
        const b = files.get(manifest.shards[s].file)!.slice();
        mutate?.(b);
        return b.subarray(o, o + n);
      });
    const t = artifact.tensors.get(NAMES.ple)!;
    const pieces = selectionPieces(t, { units: [[0, ROWS]], elements: [[64, 32]] });
    expect(pieces).toHaveLength(t.parts.filter((p) => p.first < 3 * ROWS && p.first + p.count > 2 * ROWS).length);
    expect(pieces.every((p) => p.part.first + p.part.count > 2 * ROWS)).toBe(true);
    for (const p of pieces) expect((await verifyPiece(p, source())).ok).toBe(true);
    const [first] = pieceSpans(pieces[0]);
    const bad = await verifyPiece(pieces[0], source((b) => (b[first[0]] ^= 1)));
    expect(bad.ok).toBe(false);
  });

  it('reads manifests without pieces (minor 0) and rejects malformed piece lists', async () => {
    const { files } = await convert('q8');
    const json = JSON.parse(new TextDecoder().decode(files.get('manifest.json')));
    const old = structuredClone(json);
    delete old.minor;
    for (const t of old.tensors) for (const p of t.parts) delete p.pieces;
    expect(parseManifest(old).minor).toBe(0);
    const bad = structuredClone(json);
    bad.tensors[0].parts[0].pieces.sha256.push('0'.repeat(64));
    expect(() => parseManifest(bad)).toThrow(/sha256 must list/);
    const badGrid = structuredClone(json);
    badGrid.tensors.find((t: { name: string }) => t.name === NAMES.gate).parts[0].pieces.elements = 48;
    expect(() => parseManifest(badGrid)).toThrow(/does not divide/);
  });
});

describe('openArtifactRanges over HTTP with the IndexedDB range cache', () => {
  let dir: string;
  let server: ArtifactServer;
  const manifests: Record<string, Manifest> = {};
  const url = (name: string) => `${server.url}/${name}/`;
  const sent = () => server.gets(/shard-\d+\.bin$/).reduce((a, r) => a + r.sent, 0);
  const noQuota = { storage: null } as const;
  const SUBSET: NamedSelection[] = [
    { name: NAMES.ple, selection: { units: [[0, ROWS]], elements: [[0, 32], [64, 32]] } },
    { name: NAMES.gate, selection: { units: [[0, 64]] } },
    { name: NAMES.down, selection: { units: [[0, 2]] } },
    { name: NAMES.proj, selection: { units: [[0, 32], [64, 32]] } },
  ];
  const wholeOf = (m: Manifest, names: string[]) => names.map((name) => ({ name, selection: wholeSelection(m.tensors.find((t) => t.name === name)!) }));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'g3n-ranges-'));
    for (const quant of ['q4', 'bf16'] as const) manifests[quant] = await convertCheckpoint(await checkpoint(), { quant, modelId: 'ranges', revision: quant, shardBytes: SHARD }, nodeArtifactSink(join(dir, quant)));
    manifests.rows = await convertCheckpoint(await checkpoint(), { quant: 'q4', modelId: 'ranges', revision: 'rows', shardBytes: SHARD, pleColumns: null }, nodeArtifactSink(join(dir, 'rows')));
    await convertCheckpoint(await checkpoint(), { quant: 'q4', modelId: 'ranges', revision: 'old', shardBytes: SHARD, pleColumns: null }, nodeArtifactSink(join(dir, 'old')));
    const old = JSON.parse(readFileSync(join(dir, 'old', 'manifest.json'), 'utf8'));
    delete old.minor;
    for (const t of old.tensors) for (const p of t.parts) delete p.pieces;
    writeFileSync(join(dir, 'old', 'manifest.json'), JSON.stringify(old));
    server = await startArtifactServer({ '/q4/': join(dir, 'q4'), '/bf16/': join(dir, 'bf16'), '/rows/': join(dir, 'rows'), '/old/': join(dir, 'old') });
  });

  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    server.reset();
    await clearCache();
  });

  it('fetches exactly the selected pieces with merged Range requests, verifies and caches them; a reload fetches nothing', async () => {
    const art = await openArtifactRanges(url('q4'), noQuota);
    expect(server.gets(/manifest\.json$/)).toHaveLength(1);
    expect(sent()).toBe(0);
    const report = await art.prefetch(SUBSET);
    const needed = SUBSET.reduce((a, s) => a + selectionBytes(art.tensors.get(s.name)!, s.selection), 0);
    expect(report).toMatchObject({ neededBytes: needed, cachedBytes: 0, networkBytes: needed });
    expect(sent()).toBe(needed);
    expect(server.gets(/shard-\d+\.bin$/).every((r) => r.status === 206 && r.range !== null)).toBe(true);
    expect(report.verifiedPieces).toBeGreaterThan(SUBSET.length);
    const disk = await openArtifact(nodeFileSource(join(dir, 'q4')));
    for (const s of SUBSET) expectSame(await art.readSelection(s.name, s.selection), await disk.readSelection(s.name, s.selection), s.name);
    expect(art.stats.networkBytes).toBe(needed);

    server.reset();
    const again = await openArtifactRanges(url('q4'), noQuota);
    const second = await again.prefetch(SUBSET);
    expect(second).toMatchObject({ neededBytes: needed, cachedBytes: needed, networkBytes: 0, requests: 0 });
    for (const s of SUBSET) expectSame(await again.readSelection(s.name, s.selection), await disk.readSelection(s.name, s.selection), s.name);
    expect(sent()).toBe(0);
    const [listed] = await listCachedModels();
    expect(listed).toMatchObject({ id: 'ranges', revision: 'q4', bytes: needed });
  });

  it('a larger selection afterwards fetches only the difference', async () => {
    const m = manifests.q4;
    const art = await openArtifactRanges(url('q4'), noQuota);
    const small = await art.prefetch(SUBSET);
    server.reset();
    const all = wholeOf(m, [NAMES.ple, NAMES.gate, NAMES.down, NAMES.proj]);
    const big = await art.prefetch(all);
    const total = all.reduce((a, s) => a + selectionBytes(art.tensors.get(s.name)!, s.selection), 0);
    expect(big.neededBytes).toBe(total);
    expect(big.cachedBytes).toBe(small.neededBytes);
    expect(sent()).toBe(total - small.neededBytes);
    const disk = await openArtifact(nodeFileSource(join(dir, 'q4')));
    for (const s of all) expectSame(await art.readTensorData(s.name), await disk.readTensorData(s.name), s.name);
  });

  it('a corrupted range is fetched again once, then fails with INTEGRITY naming the piece', async () => {
    const m = manifests.q4;
    const gate = m.tensors.find((t) => t.name === NAMES.gate)!;
    const file = m.shards[gate.parts[0].shard].file;
    const sel: NamedSelection[] = [{ name: NAMES.gate, selection: { units: [[0, 32]] } }];
    const ofFile = () => server.gets(new RegExp(`${file}$`)).length;
    await (await openArtifactRanges(url('q4'), { ...noQuota, cache: false })).prefetch(sel);
    const clean = ofFile();
    server.reset();
    server.faults.corrupt.set(file, 1);
    const art = await openArtifactRanges(url('q4'), noQuota);
    await art.prefetch(sel);
    expect(ofFile()).toBe(2 * clean);
    expectSame(await art.readSelection(NAMES.gate, { units: [[0, 32]] }), await (await openArtifact(nodeFileSource(join(dir, 'q4')))).readSelection(NAMES.gate, { units: [[0, 32]] }), 'gate');

    await clearCache();
    server.faults.corrupt.set(file, 100);
    const bad = await openArtifactRanges(url('q4'), noQuota);
    await expect(bad.prefetch([{ name: NAMES.gate, selection: { units: [[0, 32]] } }])).rejects.toMatchObject({ code: 'INTEGRITY', message: expect.stringContaining(NAMES.gate) });
  });

  it('with a request limit per shard, fills the smallest gaps and keeps whole pieces it happened to fetch (a row-major PLE table)', async () => {
    const art = await openArtifactRanges(url('rows'), { ...noQuota, maxRequestsPerShard: 1 });
    const sel: NamedSelection[] = [{ name: NAMES.ple, selection: { units: [[0, ROWS]], elements: [[0, 32], [64, 32]] } }];
    const r = await art.prefetch(sel);
    const shards = new Set(art.tensors.get(NAMES.ple)!.parts.map((p) => p.shard));
    expect(r.requests).toBe(shards.size);
    expect(r.networkBytes).toBeGreaterThan(r.neededBytes);
    server.reset();
    const rest = await art.prefetch([{ name: NAMES.ple, selection: { units: [[0, ROWS]], elements: [[32, 32]] } }]);
    expect(rest.networkBytes).toBe(0);
    const disk = await openArtifact(nodeFileSource(join(dir, 'rows')));
    expectSame(await art.readTensorData(NAMES.ple), await disk.readTensorData(NAMES.ple), 'ple');
  });

  it('reads ranges of a shard the whole-shard loader cached, without fetching', async () => {
    await loadArtifact(url('bf16'), noQuota);
    server.reset();
    const art = await openArtifactRanges(url('bf16'), noQuota);
    const r = await art.prefetch(wholeOf(manifests.bf16, Object.values(NAMES)));
    expect(r.networkBytes).toBe(0);
    expect(sent()).toBe(0);
    expectSame(await art.readSelection(NAMES.gate, { units: [[32, 32]] }), await (await openArtifact(nodeFileSource(join(dir, 'bf16')))).readSelection(NAMES.gate, { units: [[32, 32]] }), 'gate');
  });

  it('an old manifest without piece hashes fetches exactly the selection, unverified; no cache and no Range support also work', async () => {
    const art = await openArtifactRanges(url('old'), noQuota);
    const r = await art.prefetch(SUBSET);
    expect(r.verifiedPieces).toBe(0);
    expect(sent()).toBe(r.neededBytes);
    const disk = await openArtifact(nodeFileSource(join(dir, 'old')));
    for (const s of SUBSET) expectSame(await art.readSelection(s.name, s.selection), await disk.readSelection(s.name, s.selection), s.name);

    server.reset();
    server.faults.noRange = true;
    const keys = (await defaultStore().keys()).length;
    const plain = await openArtifactRanges(url('q4'), { ...noQuota, cache: false });
    for (const s of SUBSET) expectSame(await plain.readSelection(s.name, s.selection), await disk.readSelection(s.name, s.selection), `${s.name} without Range`);
    expect(server.gets(/shard-\d+\.bin$/).every((g) => g.status === 200)).toBe(true);
    expect(await defaultStore().keys()).toHaveLength(keys);
  });
});
