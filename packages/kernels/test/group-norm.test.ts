import { describe, expect, it } from 'vitest';
import { createTensor, readF32, runOnce, ShapeError, tensorFromF32 } from '@g3n/gpu';
import { cumulativeGroupNorm, groupNormKernels } from '../src/group-norm.ts';
import { cumulativeGroupNormRef } from '../src/ref/group-norm.ts';
import { expectClose, freshGpu, randn, testGpu } from './util.ts';

// f32 running sums over up to ~10^4 values of O(1): relative error ~1e-6 on the statistics.
const TOL = { atol: 2e-5, rtol: 2e-5 };

describe('cumulative_group_norm', () => {
  it('compiles every variant', async () => {
    const gpu = await testGpu();
    await gpu.pipelines.prepare(Object.values(groupNormKernels));
    for (const k of Object.values(groupNormKernels)) expect(gpu.pipelines.has(k)).toBe(true);
  });

  const cases: Array<[number, number, number, boolean]> = [
    [1, 1, 1, false],
    [5, 3, 7, true],
    [13, 64, 8, true],
    [50, 32, 4, false],
    [3, 129, 5, true],
    [120, 9, 3, true],
  ];
  for (const [rows, freq, channels, relu] of cases) {
    it(`rows=${rows} freq=${freq} channels=${channels} relu=${relu}`, async () => {
      const gpu = await testGpu();
      const rowLen = freq * channels;
      // A drifting mean over time, so that each step's running statistics differ.
      const x = randn(rows * rowLen, rows + freq, 2);
      for (let t = 0; t < rows; t++) for (let j = 0; j < rowLen; j++) x[t * rowLen + j] += 0.05 * t - 1;
      const w = randn(channels, channels + 7, 1);
      const tx = tensorFromF32(gpu, 'x', [rows, freq, channels], x);
      const tw = tensorFromF32(gpu, 'w', [channels], w);
      const stats = createTensor(gpu, 'stats', 'f32', [2 * rows]);
      await runOnce(gpu, 'cgn', cumulativeGroupNorm(gpu, { x: tx, weight: tw, stats, rows, rowLen, channels, eps: 1e-3, relu }));
      expectClose('cumulative group norm', await readF32(gpu, tx), cumulativeGroupNormRef(x, w, rows, rowLen, channels, 1e-3, relu), TOL);
    });
  }

  it('folds the grid past the per-dimension workgroup limit', async () => {
    const gpu = await freshGpu({ capLimits: { maxComputeWorkgroupsPerDimension: 4 } });
    try {
      const rows = 11, rowLen = 20, channels = 4;
      const x = randn(rows * rowLen, 3);
      const w = randn(channels, 4);
      const tx = tensorFromF32(gpu, 'x', [rows, rowLen], x);
      const tw = tensorFromF32(gpu, 'w', [channels], w);
      const stats = createTensor(gpu, 'stats', 'f32', [2 * rows]);
      const ds = cumulativeGroupNorm(gpu, { x: tx, weight: tw, stats, rows, rowLen, channels, eps: 1e-3 });
      expect(ds[0].workgroups).toEqual([4, 3, 1]);
      await runOnce(gpu, 'cgn', ds);
      expectClose('folded', await readF32(gpu, tx), cumulativeGroupNormRef(x, w, rows, rowLen, channels, 1e-3), TOL);
    } finally {
      gpu.destroy();
    }
  });

  it('throws ShapeError before GPU work on bad arguments', async () => {
    const gpu = await testGpu();
    const x = createTensor(gpu, 'x', 'f32', [4, 12]);
    const w = createTensor(gpu, 'w', 'f32', [3]);
    const stats = createTensor(gpu, 'stats', 'f32', [8]);
    expect(() => cumulativeGroupNorm(gpu, { x, weight: w, stats, rows: 4, rowLen: 12, channels: 5, eps: 1e-3 })).toThrow(ShapeError);
    expect(() => cumulativeGroupNorm(gpu, { x, weight: w, stats, rows: 5, rowLen: 12, channels: 3, eps: 1e-3 })).toThrow(ShapeError);
    expect(() => cumulativeGroupNorm(gpu, { x, weight: w, stats: x, rows: 4, rowLen: 12, channels: 3, eps: 1e-3 })).toThrow(/share a GPU buffer/);
  });
});
