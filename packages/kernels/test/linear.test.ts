import { afterAll, describe, expect, it } from 'vitest';
import { createTensor, readF32, runOnce, ShapeError, tensorFromF32, writeTensor, type Gpu } from '@g3n/gpu';
import { FEW_ROWS_MAX, linear, linearKernels, WEIGHT_DTYPES } from '../src/linear.ts';
import { decodeWeight, encodeWeight, uploadWeight, type WeightDType } from '../src/quant.ts';
import { linearRef } from '../src/ref/linear.ts';
import { expectClose, freshGpu, randn, testGpu } from './util.ts';

// Tolerance: |got - f64 reference of x @ decodeWeight(W)^T| <= 1e-5 * sqrt(in) * max|x| * max|w| (f32
// accumulation in a different order; the weights the reference uses are exactly what the shader decodes).
function tolerance(x: Float32Array, w: Float32Array, inFeatures: number) {
  const maxAbs = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  return { atol: 1e-5 * Math.sqrt(inFeatures) * maxAbs(x) * maxAbs(w), rtol: 0 };
}

/** rows x in x out: every value of rows {1, 3, 17, 64}, in {32, 96, 160, 2048, 2080}, out {1, 7, 33, 130, 257}. */
const SHAPES: Array<[number, number, number]> = [
  [1, 32, 1],
  [1, 96, 7],
  [1, 160, 257],
  [1, 2048, 130],
  [1, 2080, 33],
  [3, 32, 257],
  [3, 160, 7],
  [17, 96, 130],
  [17, 2048, 33],
  [64, 160, 257],
  [64, 2080, 1],
];
/** Inputs that are not whole matvec units or quantization groups: float weights only (`in` even for bf16/f16). */
const FLOAT_SHAPES: Array<[WeightDType[], number, number, number]> = [
  [['f32'], 1, 8, 7],
  [['f32'], 1, 16, 33],
  [['f32', 'bf16', 'f16'], 1, 50, 130],
  [['f32', 'bf16', 'f16'], 3, 50, 257],
  [['f32'], 17, 8, 1],
  [['f32'], 64, 16, 33],
  [['f32'], 3, 45, 7],
  [['bf16', 'f16'], 1, 24, 33],
];
/**
 * 2..32 rows of whole units run the multi-row matvec (4 columns x 4 rows per thread up to 4 rows, else 4 x 8):
 * rows on and off the 4- and 8-row blocks, `out` on and off the 4-column thread and 128-column workgroup; 33
 * rows is the first on 64-row GEMM tiles.
 */
const FEW_ROWS_SHAPES: Array<[number, number, number]> = [
  [2, 32, 7],
  [4, 64, 64],
  [6, 32, 200],
  [9, 64, 129],
  [12, 96, 258],
  [5, 96, 65],
  [8, 64, 130],
  [15, 160, 33],
  [16, 128, 64],
  [16, 32, 257],
  [23, 96, 1],
  [31, 64, 129],
  [32, 160, 70],
  [33, 32, 65],
];
/**
 * More than FEW_ROWS_MAX rows of whole units run the register-tiled GEMM (16 rows x 8 columns per thread,
 * 256 columns per workgroup): rows on and off the 16-row block, `out` on and off the 8-column thread and
 * the 256-column workgroup, `in` of one unit up to a long row.
 */
const MANY_ROWS_SHAPES: Array<[number, number, number]> = [
  [48, 32, 8],
  [47, 96, 263],
  [50, 64, 9],
  [100, 2048, 263],
  [35, 160, 520],
];
/**
 * Rows that are not whole units run the few-rows GEMM (16 x 64 tiles, K staged 32 at a time): `in` past one K
 * stage and not a multiple of it, `out` on and off the 64-column tile.
 */
const FEW_ROWS_FLOAT_SHAPES: Array<[WeightDType[], number, number, number]> = [
  [['f32'], 40, 45, 70],
  [['bf16', 'f16'], 37, 50, 65],
  [['f32'], 7, 45, 66],
  [['bf16', 'f16'], 9, 26, 65],
  [['f32', 'bf16', 'f16'], 20, 50, 33],
  [['f32', 'bf16', 'f16'], 32, 70, 5],
];
const CASES = [
  ...WEIGHT_DTYPES.flatMap((dt) => [...SHAPES, ...FEW_ROWS_SHAPES, ...MANY_ROWS_SHAPES].map(([rows, inF, outF]) => ({ dt: dt as WeightDType, rows, inF, outF }))),
  ...[...FLOAT_SHAPES, ...FEW_ROWS_FLOAT_SHAPES].flatMap(([dts, rows, inF, outF]) => dts.map((dt) => ({ dt, rows, inF, outF }))),
];

// The default device (matvec with the subgroup reduction where the adapter has it) and a device without
// optional features (plain matvec, and the GEMM: every variant is compiled once per file, the core ones
// where no optional feature is enabled).
const gpu = await testGpu();
const plain = await freshGpu({ features: [] });

afterAll(async () => {
  await plain.device.queue.onSubmittedWorkDone();
  plain.destroy();
});

/** Run one case on `g`; with `matvecOnly`, only when it picks a matrix-vector kernel there. */
async function check(g: Gpu, dt: WeightDType, rows: number, inF: number, outF: number, seed: number, matvecOnly = false): Promise<void> {
  const x = randn(rows * inF, seed);
  const wf = randn(outF * inF, seed + 1, 0.5);
  const w = uploadWeight(g, `w_${dt}`, dt, wf, [outF, inF]);
  const enc = encodeWeight(dt, wf, [outF, inF]);
  const wd = decodeWeight(dt, enc.data, enc.scales, outF * inF);
  const tx = tensorFromF32(g, 'x', [rows, inF], x);
  const out = createTensor(g, 'out', 'f32', [rows, outF]);
  const d = linear(g, { x: tx, w, out, rows });
  if (matvecOnly && d.kernel.family === 'matmul') return;
  await runOnce(g, 'linear', [d]);
  expectClose(`${d.kernel.key} ${rows}x${inF}x${outF}`, await readF32(g, out), linearRef(x, wd, rows, inF, outF), tolerance(x, wd, inF));
}

describe('linear', () => {
  CASES.forEach(({ dt, rows, inF, outF }, i) => {
    it(`${dt} rows=${rows} in=${inF} out=${outF}`, async () => {
      if (rows === 1) await check(gpu, dt, rows, inF, outF, 10 * i, true);
      await check(plain, dt, rows, inF, outF, 10 * i);
    });
  });

  it('picks matvec for one aligned row, the multi-row matvec (or the few-rows GEMM) up to FEW_ROWS_MAX rows, the register-tiled GEMM (or the 64-row GEMM) past it', () => {
    const x = createTensor(gpu, 'x', 'f32', [40, 64]);
    const out = createTensor(gpu, 'out', 'f32', [40, 130]);
    const w = createTensor(gpu, 'w', 'q4', [130, 64]);
    const sg = gpu.caps.features.subgroups ? 'matvec_subgroups' : 'matvec';
    expect(FEW_ROWS_MAX).toBe(32);
    expect(linear(gpu, { x, w, out, rows: 1 }).kernel).toBe(linearKernels[`${sg}_q4`]);
    expect(linear(plain, { x, w, out, rows: 1 }).kernel).toBe(linearKernels.matvec_q4);
    // 130 columns are 2 workgroups of 32 threads x 4 columns, times the blocks of 4 or 8 rows.
    for (const [rows, kernel, blocks] of [[2, 'matvec_rows4_q4', 1], [4, 'matvec_rows4_q4', 1], [5, 'matvec_rows8_q4', 1], [8, 'matvec_rows8_q4', 1], [9, 'matvec_rows8_q4', 2], [32, 'matvec_rows8_q4', 4]] as const) {
      const d = linear(gpu, { x, w, out, rows });
      expect(d.kernel, `rows=${rows}`).toBe(linearKernels[kernel]);
      expect(d.workgroups, `rows=${rows}`).toEqual([2 * blocks, 1, 1]);
    }
    // Past FEW_ROWS_MAX: the register-tiled GEMM, one 256-column tile times the blocks of 16 rows.
    expect(linear(gpu, { x, w, out, rows: 33 }).kernel).toBe(linearKernels.matmul_units_q4);
    expect(linear(gpu, { x, w, out, rows: 40 }).workgroups).toEqual([3, 1, 1]);
    expect(linear(gpu, { x, w: createTensor(gpu, 'w8', 'q8', [513, 64]), out: createTensor(gpu, 'out513', 'f32', [40, 513]), rows: 40 }).workgroups).toEqual([9, 1, 1]);
    const w50 = createTensor(gpu, 'w50', 'f32', [7, 50]);
    const x50 = createTensor(gpu, 'x50', 'f32', [32, 50]);
    expect(linear(gpu, { x: x50, w: w50, out, rows: 1 }).kernel).toBe(linearKernels.matmul_few_rows_f32);
    for (const rows of [2, 16, 17, 32]) {
      const d = linear(gpu, { x: x50, w: w50, out, rows });
      expect(d.kernel, `unaligned rows=${rows}`).toBe(linearKernels.matmul_few_rows_f32);
      expect(d.workgroups, `unaligned rows=${rows}`).toEqual([Math.ceil(rows / 16), 1, 1]);
    }
    expect(linear(gpu, { x: createTensor(gpu, 'x40', 'f32', [40, 50]), w: w50, out, rows: 40 }).kernel).toBe(linearKernels.matmul_f32);
  });

  for (const dt of WEIGHT_DTYPES) {
    it(`${dt}: two row chunks write their columns of one output (outOffset, outStride)`, async () => {
      const inF = 64;
      const chunks = [200, 57];
      const stride = 260;
      const wf = randn(257 * inF, 7, 0.5);
      const wd = new Float32Array(257 * inF);
      for (const rows of [1, 3]) {
        const x = randn(rows * inF, 8);
        const tx = tensorFromF32(plain, 'x', [rows, inF], x);
        const out = createTensor(plain, 'logits', 'f32', [rows, stride]);
        writeTensor(plain, out, new Float32Array(rows * stride).fill(7));
        let row0 = 0;
        const dispatches = chunks.map((n) => {
          const part = wf.subarray(row0 * inF, (row0 + n) * inF);
          const enc = encodeWeight(dt, part, [n, inF]);
          wd.set(decodeWeight(dt, enc.data, enc.scales, n * inF), row0 * inF);
          const w = uploadWeight(plain, `w[${row0}:${row0 + n}]`, dt, part, [n, inF]);
          const d = linear(plain, { x: tx, w, out, rows, outOffset: row0, outStride: stride });
          row0 += n;
          return d;
        });
        await runOnce(plain, 'linear_chunks', dispatches);
        const got = await readF32(plain, out);
        const ref = linearRef(x, wd, rows, inF, 257);
        const expected = new Float64Array(rows * stride).fill(7);
        for (let r = 0; r < rows; r++) expected.set(ref.subarray(r * 257, (r + 1) * 257), r * stride);
        expectClose(`${dt} chunks rows=${rows}`, got, expected, tolerance(x, wd, inF));
      }
    });
  }

  it('folds grids past maxComputeWorkgroupsPerDimension (matvec, multi-row matvec, few-rows GEMM, both GEMMs, 2100-row prefill)', async () => {
    // The same device and pipelines, with the per-dimension limit capped at 16 in its capability report.
    const capped: Gpu = { ...plain, caps: { ...plain.caps, limits: { ...plain.caps.limits, maxComputeWorkgroupsPerDimension: 16 } } };
    for (const [dt, rows, inF, outF] of [['q4', 1, 64, 257], ['q4', 20, 32, 1100], ['f32', 20, 30, 1100], ['f32', 130, 32, 1100], ['f32', 130, 30, 1100], ['q4', 70, 32, 1100], ['q8', 2100, 32, 33]] as const) {
      const x = randn(rows * inF, rows);
      const wf = randn(outF * inF, 3, 0.5);
      const enc = encodeWeight(dt, wf, [outF, inF]);
      const wd = decodeWeight(dt, enc.data, enc.scales, outF * inF);
      const w = uploadWeight(capped, 'w', dt, wf, [outF, inF]);
      const out = createTensor(capped, 'out', 'f32', [rows, outF]);
      const d = linear(capped, { x: tensorFromF32(capped, 'x', [rows, inF], x), w, out, rows });
      expect(Math.max(...d.workgroups)).toBeLessThanOrEqual(16);
      expect(d.workgroups[1]).toBeGreaterThan(1);
      await runOnce(capped, 'linear_fold', [d]);
      expectClose(`${d.kernel.key} fold ${rows}x${inF}x${outF}`, await readF32(capped, out), linearRef(x, wd, rows, inF, outF), tolerance(x, wd, inF));
    }
  });

  it('rejects bad shapes before any GPU work', () => {
    const x = createTensor(gpu, 'x', 'f32', [2, 48]);
    const out = createTensor(gpu, 'out', 'f32', [2, 8]);
    const bad: Array<() => unknown> = [
      () => linear(gpu, { x, w: createTensor(gpu, 'wq', 'q4', [8, 48]), out, rows: 1 }),
      () => linear(gpu, { x, w: createTensor(gpu, 'wh', 'bf16', [8, 47]), out, rows: 1 }),
      () => linear(gpu, { x, w: createTensor(gpu, 'wf', 'f32', [8, 48]), out, rows: 3 }),
      () => linear(gpu, { x, w: createTensor(gpu, 'wf', 'f32', [8, 48]), out, rows: 2, outOffset: 1 }),
      () => linear(gpu, { x, w: createTensor(gpu, 'wf', 'f32', [8, 48]), out, rows: 2, outOffset: 4, outStride: 16 }),
      () => linear(gpu, { x, w: createTensor(gpu, 'wu', 'u32', [8, 48]), out, rows: 1 }),
      () => linear(gpu, { x, w: createTensor(gpu, 'w3', 'f32', [2, 8, 48]), out, rows: 1 }),
      () => linear(gpu, { x, w: createTensor(gpu, 'wf', 'f32', [8, 48]), out, rows: 0 }),
    ];
    for (const f of bad) expect(f).toThrow(ShapeError);
  });
});

describe('linear kernels compile', () => {
  const all = Object.entries(linearKernels);
  const subgroup = all.filter(([name]) => name.startsWith('matvec_subgroups'));
  const core = all.filter(([name]) => !name.startsWith('matvec_subgroups'));
  it(`compiles every core variant (${core.map(([n]) => n).join(', ')})`, async () => {
    await plain.pipelines.prepare(core.map(([, k]) => k));
    for (const [name, k] of core) expect(plain.pipelines.has(k), name).toBe(true);
  }, 300_000);
  const has = gpu.caps.features.subgroups;
  it.skipIf(!has)(`compiles every subgroup variant${has ? '' : ' (skipped: this adapter lacks the subgroups feature)'}`, async () => {
    await gpu.pipelines.prepare(subgroup.map(([, k]) => k));
    for (const [name, k] of subgroup) expect(gpu.pipelines.has(k), name).toBe(true);
  });
});
