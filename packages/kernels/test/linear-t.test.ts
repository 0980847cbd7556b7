import { describe, expect, it } from 'vitest';
import { createTensor, readBytes, readF32, runOnce, ShapeError, tensorFromF32, writeTensor, type Dispatch, type Gpu, type Tensor } from '@g3n/gpu';
import { WEIGHT_DTYPES } from '../src/linear.ts';
import { createTransposed, gatherScratchElements, linearTKernels, linearTransposed, transposedFits, transposeWeight } from '../src/linear-t.ts';
import { decodeWeight, encodeWeight, uploadWeight, type WeightDType } from '../src/quant.ts';
import { linearRef } from '../src/ref/linear.ts';
import { decodeTransposed, transposePacked } from '../src/ref/linear-t.ts';
import { expectClose, randn, testGpu } from './util.ts';

// Transposed weights are checked three ways: the GPU transpose bit for bit against a CPU transpose of the
// packed codes and scales (and their decoded values against W's); the products against the f64 reference
// of `linear` on the standard W (the tolerance of linear.test.ts); and for what the gather reads: the rows
// of WT where x[i] == 0 are poisoned with NaN (float weights), the scales of groups where x is all zero
// with NaN (q8/q4, whose codes have no NaN), so a single read of them would show in the output.

const gpu = await testGpu();

function tolerance(x: Float32Array, w: Float32Array, inFeatures: number) {
  const maxAbs = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  return { atol: 1e-5 * Math.sqrt(inFeatures) * maxAbs(x) * maxAbs(w), rtol: 0 };
}

async function readWords(g: Gpu, t: Tensor): Promise<Uint32Array> {
  return new Uint32Array(await readBytes(g, t.buffer, t.offset, t.byteLength));
}

/** The [cols, rows] transpose of a row-major [rows, cols] f32 matrix. */
function transposeF32(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

type XKind = 'zero' | 'dense' | 'sparse' | 'blocks';
const X_KINDS: XKind[] = ['zero', 'dense', 'sparse', 'blocks'];

/** n values with exact zeros: none, all, ~90% at random, or whole 32-blocks (every third block gets ~10%). */
function sparseVector(kind: XKind, n: number, seed: number): Float32Array {
  const v = randn(n, seed);
  const pick = randn(n, seed + 7);
  for (let i = 0; i < n; i++) {
    const keep = kind === 'dense' || (kind === 'sparse' && pick[i] > 1.2816) || (kind === 'blocks' && (i >> 5) % 3 === 0 && pick[i] > 1.2816);
    v[i] = keep ? v[i] + Math.sign(v[i] || 1) * 0.125 : 0;
  }
  return v;
}

/** Bits of f32 arrays that differ (the first few), for a readable failure. */
function bitDiff(got: Float32Array, want: Float32Array): string[] {
  const a = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const b = new Uint32Array(want.buffer, want.byteOffset, want.length);
  const out: string[] = [];
  for (let i = 0; i < b.length && out.length < 5; i++) if (a[i] !== b[i]) out.push(`[${i}] ${got[i]} != ${want[i]}`);
  return out;
}

const NAN_F32 = 0x7fc00000;
const NAN_HALF = { bf16: 0x7fc0, f16: 0x7e00 } as const;

function setHalf(words: Uint32Array, i: number, bits: number): void {
  const w = words[i >> 1];
  words[i >> 1] = i & 1 ? ((w & 0xffff) | (bits << 16)) >>> 0 : ((w & 0xffff0000) | bits) >>> 0;
}

/** Transposed codes (and scales) with NaN where the gather must not read: rows of zero x (float), scales of all-zero groups of x (q8/q4). */
function poison(dt: WeightDType, t: { data: Uint32Array; scales?: Uint32Array }, x: Float32Array, outF: number): { data: Uint32Array; scales?: Uint32Array } {
  const data = t.data.slice();
  const scales = t.scales?.slice();
  for (let i = 0; i < x.length; i++) {
    if (x[i] !== 0) continue;
    if (scales) {
      const g = i >> 5;
      if (i % 32 === 0 && x.subarray(32 * g, 32 * g + 32).every((v) => v === 0)) for (let o = 0; o < outF; o++) setHalf(scales, g * outF + o, NAN_HALF.f16);
      continue;
    }
    for (let o = 0; o < outF; o++) {
      if (dt === 'f32') data[i * outF + o] = NAN_F32;
      else setHalf(data, i * outF + o, NAN_HALF[dt as 'bf16' | 'f16']);
    }
  }
  return { data, scales };
}

/** Run dispatches and read `out` back. */
async function run(g: Gpu, label: string, dispatches: Dispatch[], out: Tensor): Promise<Float32Array> {
  await runOnce(g, label, dispatches);
  return readF32(g, out);
}

describe('transposeWeight', () => {
  /** [out, in] per dtype: odd sizes where the layout allows, and 264 outputs (more than one 256-output tile). */
  const SHAPES: Record<WeightDType, Array<[number, number]>> = {
    f32: [[67, 45], [264, 256]],
    bf16: [[66, 45], [264, 256]],
    f16: [[66, 50], [264, 256]],
    q8: [[68, 96], [264, 256]],
    q4: [[72, 96], [264, 256]],
  };
  let seed = 100;
  for (const dt of WEIGHT_DTYPES) {
    for (const [outF, inF] of SHAPES[dt]) {
      const s = (seed += 10);
      it(`${dt} [${outF}, ${inF}]: codes and scales bit for bit, values equal to W's`, async () => {
        const wf = randn(outF * inF, s, 0.5);
        const enc = encodeWeight(dt, wf, [outF, inF]);
        const w = uploadWeight(gpu, `w_${dt}`, dt, wf, [outF, inF]);
        const wt = createTransposed(gpu, w);
        expect([wt.shape, wt.scales?.shape]).toEqual([[inF, outF], dt === 'q8' || dt === 'q4' ? [inF / 32, outF] : undefined]);
        const ds = transposeWeight(gpu, w, wt);
        expect(ds.length).toBe(wt.scales ? 2 : 1);
        await runOnce(gpu, 'transpose', ds);
        const want = transposePacked(dt, enc.data, enc.scales, outF, inF);
        expect(await readWords(gpu, wt)).toEqual(want.data);
        if (wt.scales) expect(await readWords(gpu, wt.scales)).toEqual(want.scales);
        const values = decodeTransposed(dt, want.data, want.scales, inF, outF);
        expect(bitDiff(values, transposeF32(decodeWeight(dt, enc.data, enc.scales, outF * inF), outF, inF))).toEqual([]);
      });
    }
  }
});

/** Upload a transposed weight from its CPU encoding. */
function uploadTransposed(g: Gpu, dt: WeightDType, t: { data: Uint32Array; scales?: Uint32Array }, inF: number, outF: number, label: string): Tensor {
  const wt = createTensor(g, label, dt, [inF, outF]);
  writeTensor(g, wt, t.data, t.scales);
  return wt;
}

describe('linearTransposed, one token (gather + sum)', () => {
  /** [in, out]: one split; 4 splits (the last one short for float weights) over 2 column tiles, the second of 8 outputs; 17 splits. */
  const SHAPES: Record<WeightDType, Array<[number, number]>> = {
    f32: [[256, 64], [1000, 264], [4128, 16]],
    bf16: [[256, 64], [1000, 264], [4128, 16]],
    f16: [[256, 66], [1000, 264], [4128, 16]],
    q8: [[256, 64], [1024, 264], [4128, 16]],
    q4: [[256, 64], [1024, 264], [4128, 16]],
  };
  let seed = 0;
  for (const dt of WEIGHT_DTYPES) {
    for (const [inF, outF] of SHAPES[dt]) {
      const s = (seed += 10);
      it(`${dt} in=${inF} out=${outF}: x ${X_KINDS.join(', ')}; zero rows poisoned`, async () => {
        const wf = randn(outF * inF, s, 0.5);
        const enc = encodeWeight(dt, wf, [outF, inF]);
        const wd = decodeWeight(dt, enc.data, enc.scales, outF * inF);
        const packed = transposePacked(dt, enc.data, enc.scales, outF, inF);
        const clean = uploadTransposed(gpu, dt, packed, inF, outF, `wt_${dt}`);
        const scratch = createTensor(gpu, 'scratch', 'f32', [gatherScratchElements(inF, outF)]);
        for (const kind of X_KINDS) {
          const x = sparseVector(kind, inF, s + 1);
          const tx = tensorFromF32(gpu, 'x', [inF], x);
          const poisoned = uploadTransposed(gpu, dt, poison(dt, packed, x, outF), inF, outF, `wt_${dt}_poisoned`);
          // Columns [3, 3 + out) of a row of out + 5 filled with 7: the neighbours must stay.
          const out = createTensor(gpu, 'out', 'f32', [outF + 5]);
          writeTensor(gpu, out, new Float32Array(outF + 5).fill(7));
          const label = `${dt} ${inF}x${outF} ${kind}`;
          const got = await run(gpu, label, linearTransposed(gpu, { x: tx, w: clean, out, rows: 1, outOffset: 3, scratch }), out);
          expect([got[0], got[1], got[2], got[outF + 3], got[outF + 4]], `${label}: neighbours`).toEqual([7, 7, 7, 7, 7]);
          const y = got.slice(3, 3 + outF);
          if (kind === 'zero') expect(y, label).toEqual(new Float32Array(outF));
          expectClose(label, y, linearRef(x, wd, 1, inF, outF), tolerance(x, wd, inF));
          const gotPoisoned = await run(gpu, `${label} poisoned`, linearTransposed(gpu, { x: tx, w: poisoned, out, rows: 1, outOffset: 3, scratch }), out);
          expect(bitDiff(gotPoisoned.slice(3, 3 + outF), y), `${label}: poisoned against clean`).toEqual([]);
        }
      });
    }
  }

  for (const dt of ['f32', 'q4'] as const) {
    it(`${dt}: splits of 1024 inputs (32 mask blocks, every thread of a q4 workgroup) and a short last split`, async () => {
      const inF = 2080;
      const outF = 24;
      const x = sparseVector('sparse', inF, 5);
      const wf = randn(outF * inF, 6, 0.5);
      const enc = encodeWeight(dt, wf, [outF, inF]);
      const wd = decodeWeight(dt, enc.data, enc.scales, outF * inF);
      const wt = uploadTransposed(gpu, dt, transposePacked(dt, enc.data, enc.scales, outF, inF), inF, outF, 'wt');
      const out = createTensor(gpu, 'out', 'f32', [outF]);
      const scratch = createTensor(gpu, 'scratch', 'f32', [3 * outF]);
      const planned = linearTransposed(gpu, { x: tensorFromF32(gpu, 'x', [inF], x), w: wt, out, rows: 1, scratch: createTensor(gpu, 's', 'f32', [gatherScratchElements(inF, outF)]) });
      const params = { ...planned[0].params, chunk: 1024, splits: 3 };
      const ds: Dispatch[] = [
        { ...planned[0], bindings: { ...planned[0].bindings, partial: scratch }, params, workgroups: [3, 1, 1] },
        { ...planned[1], bindings: { ...planned[1].bindings, partial: scratch }, params },
      ];
      expectClose(`${dt} chunk 1024`, await run(gpu, 'chunk1024', ds, out), linearRef(x, wd, 1, inF, outF), tolerance(x, wd, inF));
    });
  }
});

describe('linearTransposed, several rows (GEMM on WT)', () => {
  const ROWS = [2, 5, 17, 33, 70];
  const CASES: Array<[WeightDType, number, number]> = [
    ...WEIGHT_DTYPES.map((dt) => [dt, 96, 72] as [WeightDType, number, number]),
    ['f32', 50, 67],
    ['bf16', 50, 66],
    ['f16', 70, 130],
  ];
  CASES.forEach(([dt, inF, outF], c) => {
    it(`${dt} in=${inF} out=${outF}: rows ${ROWS.join(', ')}`, async () => {
      const wf = randn(outF * inF, 50 + c, 0.5);
      const enc = encodeWeight(dt, wf, [outF, inF]);
      const wd = decodeWeight(dt, enc.data, enc.scales, outF * inF);
      const wt = uploadTransposed(gpu, dt, transposePacked(dt, enc.data, enc.scales, outF, inF), inF, outF, 'wt');
      for (const rows of ROWS) {
        const x = randn(rows * inF, rows + c);
        const out = createTensor(gpu, 'out', 'f32', [rows, outF]);
        const ds = linearTransposed(gpu, { x: tensorFromF32(gpu, 'x', [rows, inF], x), w: wt, out, rows });
        const label = `${ds[0].kernel.key} ${rows}x${inF}x${outF}`;
        expectClose(label, await run(gpu, label, ds, out), linearRef(x, wd, rows, inF, outF), tolerance(x, wd, inF));
      }
    });
  });

  it('q8: rows written at outOffset within rows of outStride', async () => {
    const [rows, inF, outF, stride, offset] = [5, 64, 32, 40, 4];
    const wf = randn(outF * inF, 9, 0.5);
    const enc = encodeWeight('q8', wf, [outF, inF]);
    const wd = decodeWeight('q8', enc.data, enc.scales, outF * inF);
    const wt = uploadTransposed(gpu, 'q8', transposePacked('q8', enc.data, enc.scales, outF, inF), inF, outF, 'wt');
    const x = randn(rows * inF, 10);
    const out = createTensor(gpu, 'out', 'f32', [rows, stride]);
    writeTensor(gpu, out, new Float32Array(rows * stride).fill(7));
    const got = await run(gpu, 'strided', linearTransposed(gpu, { x: tensorFromF32(gpu, 'x', [rows, inF], x), w: wt, out, rows, outOffset: offset, outStride: stride }), out);
    const ref = linearRef(x, wd, rows, inF, outF);
    const want = new Float64Array(rows * stride).fill(7);
    for (let r = 0; r < rows; r++) want.set(ref.subarray(r * outF, (r + 1) * outF), r * stride + offset);
    expectClose('q8 strided', got, want, tolerance(x, wd, inF));
  });
});

describe('linearTransposed plans and guards', () => {
  it('splits the gather for a big GPU: D = 2048 over I = 8192 or 16384 is 8 column tiles x 16 splits', () => {
    expect([gatherScratchElements(8192, 2048), gatherScratchElements(16384, 2048), gatherScratchElements(256, 64), gatherScratchElements(1000, 264), gatherScratchElements(4128, 16)]).toEqual([16 * 2048, 16 * 2048, 64, 4 * 264, 17 * 16]);
    const inF = 8192;
    const outF = 2048;
    const wt = createTensor(gpu, 'wt', 'q4', [inF, outF]);
    const out = createTensor(gpu, 'out', 'f32', [40, outF]);
    const x = createTensor(gpu, 'x', 'f32', [40, inF]);
    const scratch = createTensor(gpu, 'scratch', 'f32', [gatherScratchElements(inF, outF)]);
    const [gather, sum] = linearTransposed(gpu, { x, w: wt, out, rows: 1, scratch });
    expect([gather.kernel, gather.workgroups, gather.params?.chunk, gather.params?.splits]).toEqual([linearTKernels.gather_q4, [128, 1, 1], 512, 16]);
    expect([sum.kernel, sum.workgroups]).toEqual([linearTKernels.gather_sum, [8, 1, 1]]);
    for (const rows of [2, 16, 32]) expect(linearTransposed(gpu, { x, w: wt, out, rows })[0].kernel, `rows=${rows}`).toBe(linearTKernels.matmul_t_few_rows_q4);
    expect(linearTransposed(gpu, { x, w: wt, out, rows: 33 })[0].kernel).toBe(linearTKernels.matmul_t_q4);
    expect(linearTransposed(gpu, { x, w: wt, out, rows: 40 })[0].workgroups).toEqual([32, 1, 1]);
  });

  it('folds grids past maxComputeWorkgroupsPerDimension (transpose, gather)', async () => {
    const capped: Gpu = { ...gpu, caps: { ...gpu.caps, limits: { ...gpu.caps.limits, maxComputeWorkgroupsPerDimension: 24 } } };
    const [inF, outF] = [4096, 264];
    const wf = randn(outF * inF, 11, 0.5);
    const enc = encodeWeight('q4', wf, [outF, inF]);
    const wd = decodeWeight('q4', enc.data, enc.scales, outF * inF);
    const w = uploadWeight(capped, 'w', 'q4', wf, [outF, inF]);
    const wt = createTransposed(capped, w);
    const x = sparseVector('sparse', inF, 12);
    const out = createTensor(capped, 'out', 'f32', [outF]);
    const scratch = createTensor(capped, 'scratch', 'f32', [gatherScratchElements(inF, outF)]);
    const ds = [...transposeWeight(capped, w, wt), ...linearTransposed(capped, { x: tensorFromF32(capped, 'x', [inF], x), w: wt, out, rows: 1, scratch })];
    for (const d of [ds[0], ds[2]]) expect([Math.max(...d.workgroups) <= 24, (d.workgroups[1] ?? 1) > 1], d.kernel.key).toEqual([true, true]);
    expectClose('fold', await run(capped, 'fold', ds, out), linearRef(x, wd, 1, inF, outF), tolerance(x, wd, inF));
  });

  it('says which weights can be transposed', () => {
    const fits = (dt: WeightDType, shape: number[]) => transposedFits(createTensor(gpu, 'w', dt, shape));
    expect([fits('f32', [7, 45]), fits('bf16', [7, 48]), fits('bf16', [8, 45]), fits('f16', [66, 32]), fits('q8', [6, 64]), fits('q8', [8, 64]), fits('q4', [12, 64]), fits('q4', [16, 64]), fits('q4', [16, 48]), fits('f32', [2, 4, 4])]).toEqual([
      true, false, true, true, false, true, false, true, false, false,
    ]);
    expect(transposedFits(createTensor(gpu, 'u', 'u32', [8, 32]))).toBe(false);
  });

  it('rejects bad shapes before any GPU work', () => {
    const x = createTensor(gpu, 'x', 'f32', [2, 64]);
    const out = createTensor(gpu, 'out', 'f32', [2, 16]);
    const wt = createTensor(gpu, 'wt', 'q4', [64, 16]);
    const scratch = createTensor(gpu, 'scratch', 'f32', [gatherScratchElements(64, 16)]);
    const w = createTensor(gpu, 'w', 'q4', [16, 64]);
    const bad: Array<() => unknown> = [
      () => linearTransposed(gpu, { x, w: wt, out, rows: 1 }),
      () => linearTransposed(gpu, { x, w: wt, out, rows: 1, scratch: createTensor(gpu, 's', 'f32', [15]) }),
      () => linearTransposed(gpu, { x, w: wt, out, rows: 1, scratch: createTensor(gpu, 's', 'u32', [64]) }),
      () => linearTransposed(gpu, { x, w: createTensor(gpu, 'w12', 'q4', [64, 12]), out, rows: 2 }),
      () => linearTransposed(gpu, { x, w: createTensor(gpu, 'w48', 'q8', [48, 16]), out, rows: 2 }),
      () => linearTransposed(gpu, { x, w: { ...wt, scales: undefined }, out, rows: 2 }),
      () => linearTransposed(gpu, { x, w: createTensor(gpu, 'wu', 'u32', [64, 16]), out, rows: 2 }),
      () => linearTransposed(gpu, { x, w: createTensor(gpu, 'w3', 'f32', [2, 64, 16]), out, rows: 2 }),
      () => linearTransposed(gpu, { x, w: wt, out, rows: 3 }),
      () => linearTransposed(gpu, { x, w: wt, out, rows: 0, scratch }),
      () => linearTransposed(gpu, { x, w: wt, out, rows: 2, outOffset: 1 }),
      () => linearTransposed(gpu, { x: createTensor(gpu, 'xu', 'u32', [128]), w: wt, out, rows: 1, scratch }),
      () => transposeWeight(gpu, w, createTensor(gpu, 'wt', 'q4', [16, 64])),
      () => transposeWeight(gpu, w, createTensor(gpu, 'wt', 'q8', [64, 16])),
      () => transposeWeight(gpu, createTensor(gpu, 'w12', 'q4', [12, 64]), createTensor(gpu, 'wt', 'q4', [64, 12])),
      () => transposeWeight(gpu, createTensor(gpu, 'w3', 'f32', [2, 8, 8]), createTensor(gpu, 'wt', 'f32', [8, 16])),
      () => createTransposed(gpu, createTensor(gpu, 'w7', 'bf16', [7, 64])),
      () => createTransposed(gpu, createTensor(gpu, 'wu', 'u32', [8, 64])),
    ];
    bad.forEach((f, i) => expect(f, `case ${i}`).toThrow(ShapeError));
  });
});
