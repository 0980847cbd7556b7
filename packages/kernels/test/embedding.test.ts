import { describe, expect, it } from 'vitest';
import { createTensor, readF32, rowView, runOnce, ShapeError, tensorFromF32, writeTensor, type Gpu, type Tensor } from '@g3n/gpu';
import { embedGather, embeddingKernels, type EmbeddingDType } from '../src/embedding.ts';
import { bf16ToF32, embedGatherRef, f16ToF32 } from '../src/ref/embedding.ts';
import { expectClose, freshGpu, randn, testGpu } from './util.ts';

// f32, bf16 and f16 rows times the scale are rounded once, as in the reference: exact. q8/q4:
// q * group scale is exact in f32, so they are exact too; the stated bound is 1 ulp.
const EXACT = { atol: 0, rtol: 0 };
const ONE_ULP = { atol: 0, rtol: 2 ** -23 };

/** Deterministic integers in [lo, hi]. */
function ints(n: number, seed: number, lo: number, hi: number): number[] {
  return Array.from(randn(n, seed), (v) => lo + (Math.floor(Math.abs(v) * 1e6) % (hi - lo + 1)));
}

/** Random normal f16 bit patterns (exponent field in [lo, hi], random sign and mantissa). */
function f16Bits(n: number, seed: number, lo = 8, hi = 20): number[] {
  const e = ints(n, seed, lo, hi);
  const m = ints(n, seed + 1, 0, 1023);
  const s = ints(n, seed + 2, 0, 1);
  return e.map((x, i) => (s[i] << 15) | (x << 10) | m[i]);
}

/** 16-bit values packed two per word, element i in the low half when i is even. */
function packHalves(bits: number[]): Uint32Array {
  const w = new Uint32Array(Math.ceil(bits.length / 2));
  bits.forEach((b, i) => (w[i >> 1] |= b << (16 * (i & 1))));
  return w;
}

/** Storage words and decoded f32 values of a random [rows, cols] table in `dtype`. */
function makeTable(dtype: EmbeddingDType, rows: number, cols: number, seed: number): { data: Uint32Array; scales?: Uint32Array; values: Float32Array } {
  const n = rows * cols;
  switch (dtype) {
    case 'f32': {
      const values = randn(n, seed);
      return { data: new Uint32Array(values.buffer), values };
    }
    case 'bf16': {
      const bits = Array.from(new Uint32Array(randn(n, seed).buffer), (b) => b >>> 16);
      return { data: packHalves(bits), values: Float32Array.from(bits, bf16ToF32) };
    }
    case 'f16': {
      const bits = f16Bits(n, seed);
      return { data: packHalves(bits), values: Float32Array.from(bits, f16ToF32) };
    }
    case 'q8':
    case 'q4': {
      const q = dtype === 'q8' ? ints(n, seed, -128, 127) : ints(n, seed, -8, 7);
      const sBits = f16Bits(n / 32, seed + 3, 5, 14);
      const per = dtype === 'q8' ? 4 : 8;
      const data = new Uint32Array(Math.ceil(n / per));
      q.forEach((v, e) => {
        data[Math.floor(e / per)] |= dtype === 'q8' ? (v & 0xff) << (8 * (e & 3)) : (v + 8) << (4 * (e & 7));
      });
      return { data, scales: packHalves(sBits), values: Float32Array.from(q, (v, e) => v * f16ToF32(sBits[e >> 5])) };
    }
  }
}

function upload(gpu: Gpu, dtype: EmbeddingDType, rows: number, cols: number, t: ReturnType<typeof makeTable>): Tensor {
  const table = createTensor(gpu, `table.${dtype}`, dtype, [rows, cols]);
  writeTensor(gpu, table, t.data, t.scales);
  return table;
}

function idsTensor(gpu: Gpu, ids: number[]): Tensor {
  const t = createTensor(gpu, 'ids', 'u32', [ids.length]);
  writeTensor(gpu, t, Uint32Array.from(ids));
  return t;
}

const cases: Array<{ dtype: EmbeddingDType; cols: number[] }> = [
  { dtype: 'f32', cols: [1, 3, 31, 32, 33, 100, 257, 1000, 2049] },
  { dtype: 'bf16', cols: [1, 3, 31, 32, 33, 100, 257, 1000, 2049] },
  { dtype: 'f16', cols: [1, 3, 31, 32, 33, 100, 257, 1000, 2049] },
  { dtype: 'q8', cols: [32, 96, 2080] },
  { dtype: 'q4', cols: [32, 96, 2080] },
];

describe('embedding', () => {
  it('compiles every variant', async () => {
    const gpu = await testGpu();
    await gpu.pipelines.prepare(Object.values(embeddingKernels));
    for (const k of Object.values(embeddingKernels)) expect(gpu.pipelines.has(k)).toBe(true);
  });

  for (const { dtype, cols: colsList } of cases) {
    for (const cols of colsList) {
      it(`${dtype} cols=${cols}: gathers ids in [rowStart, rowStart + rows), leaves the others`, async () => {
        const gpu = await testGpu();
        const rows = 7, rowStart = 1000, scale = Math.sqrt(2048);
        // In the chunk, below it, above it, repeated, first and last rows.
        const ids = [1003, 5, 1000, 1006, 1007, 1003, 262144, 999, 1001];
        const count = ids.length;
        const t = makeTable(dtype, rows, cols, cols);
        const table = upload(gpu, dtype, rows, cols, t);
        const prior = randn(count * cols, 9);
        const out = tensorFromF32(gpu, 'out', [count, cols], prior);
        await runOnce(gpu, 'embed', [embedGather(gpu, { table, ids: idsTensor(gpu, ids), out, rowStart, rows, cols, scale, count })]);
        const expected = embedGatherRef(t.values, Uint32Array.from(ids), prior, { rowStart, rows, cols, scale, count });
        expectClose(`${dtype} gather`, await readF32(gpu, out), expected, dtype === 'q8' || dtype === 'q4' ? ONE_ULP : EXACT);
      });
    }
  }

  for (const dtype of ['f32', 'q4'] as const) {
    it(`${dtype}: a table split into row chunks is gathered with one dispatch per chunk`, async () => {
      const gpu = await testGpu();
      const rows = 200, cols = 32, split = 128, scale = 16;
      const t = makeTable(dtype, rows, cols, 5);
      const whole = upload(gpu, dtype, rows, cols, t);
      const head = rowView(gpu, whole, 0, split);
      const tail = rowView(gpu, whole, split, rows - split);
      if (whole.scales) {
        const s = whole.scales;
        const cut = (split * cols) / 32 / 2;
        head.scales = { ...s, offset: s.offset, byteLength: 4 * cut };
        tail.scales = { ...s, offset: s.offset + 4 * cut, byteLength: s.byteLength - 4 * cut };
      }
      const ids = [0, 199, 127, 128, 64, 150, 300];
      const count = ids.length;
      const idt = idsTensor(gpu, ids);
      const out = tensorFromF32(gpu, 'out', [count, cols], new Float32Array(count * cols).fill(-7));
      await runOnce(gpu, 'embed.chunks', [
        embedGather(gpu, { table: head, ids: idt, out, rowStart: 0, rows: split, cols, scale, count }),
        embedGather(gpu, { table: tail, ids: idt, out, rowStart: split, rows: rows - split, cols, scale, count }),
      ]);
      const expected = embedGatherRef(t.values, Uint32Array.from(ids), new Float32Array(count * cols).fill(-7), { rowStart: 0, rows, cols, scale, count });
      expectClose('chunks', await readF32(gpu, out), expected, dtype === 'q4' ? ONE_ULP : EXACT);
    });
  }

  it('folds the grid past the per-dimension workgroup limit', async () => {
    const gpu = await freshGpu({ capLimits: { maxComputeWorkgroupsPerDimension: 4 } });
    try {
      const rows = 10, cols = 33, count = 13;
      const t = makeTable('bf16', rows, cols, 2);
      const table = upload(gpu, 'bf16', rows, cols, t);
      const ids = ints(count, 4, 0, 12);
      const out = createTensor(gpu, 'out', 'f32', [count, cols]);
      const d = embedGather(gpu, { table, ids: idsTensor(gpu, ids), out, rowStart: 0, rows, cols, scale: 1, count });
      expect(d.workgroups).toEqual([4, 4, 1]);
      await runOnce(gpu, 'fold', [d]);
      const expected = embedGatherRef(t.values, Uint32Array.from(ids), new Float32Array(count * cols), { rowStart: 0, rows, cols, scale: 1, count });
      expectClose('folded', await readF32(gpu, out), expected, EXACT);
    } finally {
      gpu.destroy();
    }
  });

  it('throws ShapeError before GPU work on bad arguments', async () => {
    const gpu = await testGpu();
    const q8 = createTensor(gpu, 'q8', 'q8', [4, 64]);
    const f32 = createTensor(gpu, 'f32', 'f32', [4, 48]);
    const ids = createTensor(gpu, 'ids', 'u32', [3]);
    const idsF = createTensor(gpu, 'idsF', 'f32', [3]);
    const out = createTensor(gpu, 'out', 'f32', [3, 64]);
    const args = { ids, out, rowStart: 0, rows: 4, scale: 1, count: 3 };
    expect(() => embedGather(gpu, { ...args, table: q8, cols: 64, ids: idsF })).toThrow(ShapeError);
    expect(() => embedGather(gpu, { ...args, table: f32, cols: 64 })).toThrow(ShapeError);
    expect(() => embedGather(gpu, { ...args, table: f32, cols: 48, count: 4 })).toThrow(ShapeError);
    expect(() => embedGather(gpu, { ...args, table: { ...q8, scales: undefined }, cols: 64 })).toThrow(/no scales/);
    expect(() => embedGather(gpu, { ...args, table: { ...q8, shape: [8, 24] }, rows: 8, cols: 24 })).toThrow(/multiple of 32/);
    expect(() => embedGather(gpu, { ...args, table: { ...f32, dtype: 'i32' }, cols: 48 })).toThrow(ShapeError);
    const outInTable = { ...q8, label: 'out', dtype: 'f32' as const, shape: [3, 64], scales: undefined };
    expect(() => embedGather(gpu, { ...args, table: q8, cols: 64, out: outInTable })).toThrow(/share a GPU buffer/);
  });
});
