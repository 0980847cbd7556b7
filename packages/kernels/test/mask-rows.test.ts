import { describe, expect, it } from 'vitest';
import { createTensor, readF32, runOnce, ShapeError, tensorFromF32, writeTensor } from '@g3n/gpu';
import { fillMaskedRows, gatherRows, maskRows, maskRowsKernels } from '../src/mask-rows.ts';
import { fillMaskedRowsRef, gatherRowsRef } from '../src/ref/mask-rows.ts';
import { expectClose, randn, testGpu } from './util.ts';

const EXACT = { atol: 0, rtol: 0 };

describe('mask_rows', () => {
  it('compiles every variant', async () => {
    const gpu = await testGpu();
    await gpu.pipelines.prepare(Object.values(maskRowsKernels));
    for (const k of Object.values(maskRowsKernels)) expect(gpu.pipelines.has(k)).toBe(true);
  });

  for (const [srcRows, cols, stride] of [[1, 1, 1], [50, 32, 4], [13, 7, 1], [9, 300, 3], [197, 33, 5]]) {
    it(`rows=${srcRows} cols=${cols} stride=${stride}: gather, mask in place, fill`, async () => {
      const gpu = await testGpu();
      const rows = Math.ceil(srcRows / stride);
      const x = randn(srcRows * cols, srcRows + cols);
      x[0] = Number.NaN; // a NaN in a masked row must not leak
      const mask = Uint32Array.from({ length: srcRows }, (_, i) => (i === 0 || (i * 7) % 5 === 3 ? 0 : 1));
      const tm = createTensor(gpu, 'mask', 'u32', [srcRows]);
      writeTensor(gpu, tm, mask);
      const tx = tensorFromF32(gpu, 'x', [srcRows, cols], x);
      const io = tensorFromF32(gpu, 'io', [srcRows, cols], x);
      const fio = tensorFromF32(gpu, 'fio', [srcRows, cols], x);
      const fill = randn(cols, 9);
      const tf = tensorFromF32(gpu, 'fill', [cols], fill);
      const out = createTensor(gpu, 'out', 'f32', [rows + 2, cols]);
      await runOnce(gpu, 'mask_rows', [
        gatherRows(gpu, { x: tx, mask: tm, out, rows, cols, stride, outRow0: 2 }),
        maskRows(gpu, { x: io, mask: tm, rows: srcRows, cols }),
        fillMaskedRows(gpu, { x: fio, mask: tm, fill: tf, rows: srcRows, cols }),
      ]);
      expectClose('gather', (await readF32(gpu, out)).subarray(2 * cols), gatherRowsRef(x, mask, rows, cols, stride), EXACT);
      expectClose('mask in place', await readF32(gpu, io), gatherRowsRef(x, mask, srcRows, cols, 1), EXACT);
      expectClose('fill', await readF32(gpu, fio), fillMaskedRowsRef(x, mask, fill, srcRows, cols), EXACT);
    });
  }

  it('throws ShapeError before GPU work on bad arguments', async () => {
    const gpu = await testGpu();
    const x = createTensor(gpu, 'x', 'f32', [10, 4]);
    const out = createTensor(gpu, 'out', 'f32', [3, 4]);
    const m = createTensor(gpu, 'm', 'u32', [10]);
    const mf = createTensor(gpu, 'mf', 'f32', [10]);
    expect(() => gatherRows(gpu, { x, mask: m, out, rows: 4, cols: 4, stride: 4 })).toThrow(ShapeError);
    expect(() => gatherRows(gpu, { x, mask: m, out, rows: 3, cols: 4, stride: 5 })).toThrow(ShapeError);
    expect(() => maskRows(gpu, { x, mask: mf, rows: 10, cols: 4 })).toThrow(ShapeError);
    expect(() => gatherRows(gpu, { x, mask: m, out: x, rows: 3, cols: 4, stride: 4 })).toThrow(/share a GPU buffer/);
  });
});
