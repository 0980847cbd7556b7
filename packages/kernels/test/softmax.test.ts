import { describe, expect, it } from 'vitest';
import { createTensor, readF32, runOnce, ShapeError, tensorFromF32 } from '@g3n/gpu';
import { softmaxKernels, softmaxRows } from '../src/softmax.ts';
import { softmaxRowsRef } from '../src/ref/softmax.ts';
import { expectClose, freshGpu, randn, testGpu } from './util.ts';

// f32 exp and a sequential f32 sum of up to a few thousand terms: ~1e-6 relative.
const TOL = { atol: 1e-7, rtol: 1e-5 };

const cases = [
  { rows: 1, cols: 1, scale: 1 },
  { rows: 3, cols: 7, scale: 0.5 },
  { rows: 65, cols: 31, scale: 0.125 },
  { rows: 129, cols: 256, scale: 1 / Math.sqrt(96) },
  { rows: 7, cols: 1000, scale: 2 },
];

describe('softmax', () => {
  it('compiles every variant', async () => {
    const gpu = await testGpu();
    await gpu.pipelines.prepare(Object.values(softmaxKernels));
    for (const k of Object.values(softmaxKernels)) expect(gpu.pipelines.has(k)).toBe(true);
  });

  for (const { rows, cols, scale } of cases) {
    it(`rows=${rows} cols=${cols} scale=${scale.toPrecision(3)}`, async () => {
      const gpu = await testGpu();
      const x = randn(rows * cols, rows * 31 + cols, 4);
      const t = tensorFromF32(gpu, 'x', [rows, cols], x);
      await runOnce(gpu, 'softmax', [softmaxRows(gpu, { x: t, rows, cols, scale })]);
      expectClose('softmax', await readF32(gpu, t), softmaxRowsRef(x, rows, cols, scale), TOL);
    });
  }

  it('large logits: no overflow, rows of equal logits are uniform', async () => {
    const gpu = await testGpu();
    const rows = 3, cols = 50;
    const x = randn(rows * cols, 3, 1e4);
    x.fill(-7e3, cols, 2 * cols);
    const t = tensorFromF32(gpu, 'x', [rows, cols], x);
    await runOnce(gpu, 'softmax', [softmaxRows(gpu, { x: t, rows, cols, scale: 0.1 })]);
    const got = await readF32(gpu, t);
    expectClose('large', got, softmaxRowsRef(x, rows, cols, 0.1), TOL);
    for (let j = 0; j < cols; j++) expect(got[cols + j]).toBeCloseTo(1 / cols, 6);
  });

  it('folds the grid past the per-dimension workgroup limit', async () => {
    const gpu = await freshGpu({ capLimits: { maxComputeWorkgroupsPerDimension: 4 } });
    try {
      const rows = 64 * 10 - 5, cols = 9;
      const x = randn(rows * cols, 8);
      const t = tensorFromF32(gpu, 'x', [rows, cols], x);
      const d = softmaxRows(gpu, { x: t, rows, cols, scale: 0.3 });
      expect(d.workgroups).toEqual([4, 3, 1]);
      await runOnce(gpu, 'fold', [d]);
      expectClose('folded', await readF32(gpu, t), softmaxRowsRef(x, rows, cols, 0.3), TOL);
    } finally {
      gpu.destroy();
    }
  });

  it('throws ShapeError before GPU work on bad arguments', async () => {
    const gpu = await testGpu();
    const x = createTensor(gpu, 'x', 'f32', [16, 4]);
    const u = createTensor(gpu, 'u', 'u32', [64]);
    expect(() => softmaxRows(gpu, { x, rows: 17, cols: 4 })).toThrow(ShapeError);
    expect(() => softmaxRows(gpu, { x, rows: 0, cols: 4 })).toThrow(ShapeError);
    expect(() => softmaxRows(gpu, { x: u, rows: 16, cols: 4 })).toThrow(ShapeError);
    expect(() => softmaxRows(gpu, { x, rows: 16, cols: 4, scale: 0 })).toThrow(ShapeError);
    expect(() => softmaxRows(gpu, { x, rows: 16, cols: 4, scale: Infinity })).toThrow(ShapeError);
  });
});
