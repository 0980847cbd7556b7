import { describe, expect, it } from 'vitest';
import { createTensor, readF32, rowView, runOnce, ShapeError, tensorFromF32 } from '@g3n/gpu';
import { normKernels, rmsNorm } from '../src/norm.ts';
import { rmsNormRef } from '../src/ref/norm.ts';
import { expectClose, freshGpu, randn, testGpu } from './util.ts';

// f32 sum of squares in strided partials plus a tree: ~1e-7 relative per row; 1e-5 leaves room.
const TOL = { atol: 1e-6, rtol: 1e-5 };

const cases = [
  { rows: 1, cols: 1 },
  { rows: 5, cols: 3 },
  { rows: 3, cols: 31 },
  { rows: 2, cols: 32 },
  { rows: 7, cols: 33 },
  { rows: 9, cols: 100 },
  { rows: 3, cols: 257 },
  { rows: 4, cols: 1000 },
  { rows: 2, cols: 2049 },
  { rows: 1, cols: 16384 },
  { rows: 500, cols: 8 },
  // many narrow rows: one invocation per row (rows not a multiple of its 64-row workgroups)
  { rows: 257, cols: 1 },
  { rows: 1001, cols: 13 },
  { rows: 333, cols: 64 },
  { rows: 300, cols: 65 },
  { rows: 260, cols: 2049 },
];

describe('rms_norm', () => {
  it('compiles every variant', async () => {
    const gpu = await testGpu();
    await gpu.pipelines.prepare(Object.values(normKernels));
    for (const k of Object.values(normKernels)) expect(gpu.pipelines.has(k)).toBe(true);
  });

  for (const { rows, cols } of cases) {
    it(`rows=${rows} cols=${cols}: weight / no weight, in place / out of place, scale`, async () => {
      const gpu = await testGpu();
      const n = rows * cols;
      const x = randn(n, rows * 7919 + cols, 3);
      const w = randn(cols, cols + 1);
      const eps = 1e-6;
      const tx = tensorFromF32(gpu, 'x', [rows, cols], x);
      const tw = tensorFromF32(gpu, 'weight', [cols], w);
      const o1 = createTensor(gpu, 'o1', 'f32', [rows, cols]);
      const o2 = createTensor(gpu, 'o2', 'f32', [rows, cols]);
      const io1 = tensorFromF32(gpu, 'io1', [rows, cols], x);
      const io2 = tensorFromF32(gpu, 'io2', [rows, cols], x);
      await runOnce(gpu, 'rms_norm', [
        rmsNorm(gpu, { x: tx, out: o1, weight: tw, rows, cols, eps }),
        rmsNorm(gpu, { x: tx, out: o2, weight: null, rows, cols, eps, scale: 1 / 2048 }),
        rmsNorm(gpu, { x: io1, out: io1, weight: tw, rows, cols, eps, scale: 0.5 }),
        rmsNorm(gpu, { x: io2, out: io2, rows, cols, eps }),
      ]);
      expectClose('weight', await readF32(gpu, o1), rmsNormRef(x, rows, cols, eps, w), TOL);
      expectClose('no weight, scale 1/2048', await readF32(gpu, o2), rmsNormRef(x, rows, cols, eps, null, 1 / 2048), TOL);
      expectClose('in place, weight, scale 0.5', await readF32(gpu, io1), rmsNormRef(x, rows, cols, eps, w, 0.5), TOL);
      expectClose('in place, no weight', await readF32(gpu, io2), rmsNormRef(x, rows, cols, eps), TOL);
    });
  }

  it('picks one invocation per row for many narrow rows (any width on a software adapter), a workgroup per row otherwise', async () => {
    const soft = await testGpu();
    // the choice on a hardware adapter: the same device, described as one
    const gpu = { ...soft, caps: { ...soft.caps, isSoftware: false } };
    const x = createTensor(gpu, 'x', 'f32', [1000, 100]);
    const w = createTensor(gpu, 'w', 'f32', [64]);
    const d = rmsNorm(gpu, { x, out: x, weight: w, rows: 1000, cols: 64, eps: 1e-6 });
    expect(d.kernel).toBe(normKernels.rmsNormInplaceRows);
    expect(d.workgroups).toEqual([16, 1, 1]);
    expect(rmsNorm(gpu, { x, out: x, rows: 255, cols: 64, eps: 1e-6 }).kernel).toBe(normKernels.rmsNormInplaceNoWeight32);
    expect(rmsNorm(gpu, { x, out: x, rows: 1000, cols: 65, eps: 1e-6 }).kernel).toBe(normKernels.rmsNormInplaceNoWeight32);
    const sw = { ...soft, caps: { ...soft.caps, isSoftware: true } };
    expect(rmsNorm(sw, { x, out: x, rows: 1000, cols: 100, eps: 1e-6 }).kernel).toBe(normKernels.rmsNormInplaceNoWeightRows);
    expect(rmsNorm(sw, { x, out: x, rows: 255, cols: 100, eps: 1e-6 }).kernel).toBe(normKernels.rmsNormInplaceNoWeight32);
  });

  it('per-head norm over [T, heads, head_dim] with large activations and zero rows', async () => {
    const gpu = await testGpu();
    const T = 3, heads = 4, hd = 64, rows = T * heads;
    const x = randn(rows * hd, 99, 1e4);
    x.fill(0, hd, 2 * hd);
    const w = randn(hd, 98);
    const tx = tensorFromF32(gpu, 'q', [T, heads, hd], x);
    const tw = tensorFromF32(gpu, 'q_norm', [hd], w);
    await runOnce(gpu, 'q_norm', [rmsNorm(gpu, { x: tx, out: tx, weight: tw, rows, cols: hd, eps: 1e-6 })]);
    expectClose('q_norm', await readF32(gpu, tx), rmsNormRef(x, rows, hd, 1e-6, w), TOL);
  });

  it('rejects x and out in one buffer unless in place (WebGPU forbids read-only + writable bindings of one buffer)', async () => {
    const gpu = await testGpu();
    const rows = 64, cols = 16;
    const buf = createTensor(gpu, 'buf', 'f32', [2 * rows + 1, cols]);
    const out = createTensor(gpu, 'out', 'f32', [rows, cols]);
    const head = rowView(gpu, buf, 0, rows);
    const tail = rowView(gpu, buf, rows, rows);
    const w = rowView(gpu, buf, 2 * rows, 1);
    expect(() => rmsNorm(gpu, { x: head, out: tail, rows, cols, eps: 1e-6 })).toThrow(/share a GPU buffer/);
    expect(() => rmsNorm(gpu, { x: head, out: head, weight: w, rows, cols, eps: 1e-6 })).toThrow(/share a GPU buffer/);
    expect(() => rmsNorm(gpu, { x: out, out: head, weight: w, rows, cols, eps: 1e-6 })).toThrow(/share a GPU buffer/);
    expect(() => rmsNorm(gpu, { x: head, out, weight: w, rows, cols, eps: 1e-6 })).not.toThrow();
  });

  it('folds the grid when rows exceed the per-dimension workgroup limit', async () => {
    const gpu = await freshGpu({ capLimits: { maxComputeWorkgroupsPerDimension: 7 } });
    try {
      const rows = 40, cols = 33;
      const x = randn(rows * cols, 5);
      const tx = tensorFromF32(gpu, 'x', [rows, cols], x);
      const out = createTensor(gpu, 'out', 'f32', [rows, cols]);
      const d = rmsNorm(gpu, { x: tx, out, rows, cols, eps: 1e-6 });
      expect(d.workgroups).toEqual([7, 6, 1]);
      await runOnce(gpu, 'fold', [d]);
      expectClose('folded', await readF32(gpu, out), rmsNormRef(x, rows, cols, 1e-6), TOL);
      // one invocation per row: 64 rows per workgroup, 45 workgroups folded to 7 x 7
      const R = 2877, C = 5;
      const xr = randn(R * C, 6);
      const tr = tensorFromF32(gpu, 'xr', [R, C], xr);
      const dr = rmsNorm(gpu, { x: tr, out: tr, rows: R, cols: C, eps: 1e-6 });
      expect(dr.workgroups).toEqual([7, 7, 1]);
      await runOnce(gpu, 'fold rows', [dr]);
      expectClose('folded, per row', await readF32(gpu, tr), rmsNormRef(xr, R, C, 1e-6), TOL);
    } finally {
      gpu.destroy();
    }
  });

  it('throws ShapeError before GPU work on bad arguments', async () => {
    const gpu = await testGpu();
    const x = createTensor(gpu, 'x', 'f32', [256, 4]);
    const w = createTensor(gpu, 'w', 'f32', [5]);
    const u = createTensor(gpu, 'u', 'u32', [1024]);
    const shifted = rowView(gpu, x, 64, 64);
    expect(() => rmsNorm(gpu, { x, out: x, weight: w, rows: 256, cols: 4, eps: 1e-6 })).toThrow(ShapeError);
    expect(() => rmsNorm(gpu, { x, out: x, rows: 257, cols: 4, eps: 1e-6 })).toThrow(ShapeError);
    expect(() => rmsNorm(gpu, { x, out: x, rows: 0, cols: 4, eps: 1e-6 })).toThrow(ShapeError);
    expect(() => rmsNorm(gpu, { x: u, out: x, rows: 256, cols: 4, eps: 1e-6 })).toThrow(ShapeError);
    expect(() => rmsNorm(gpu, { x, out: shifted, rows: 64, cols: 4, eps: 1e-6 })).toThrow(/share a GPU buffer/);
  });
});
