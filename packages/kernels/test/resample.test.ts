import { describe, expect, it } from 'vitest';
import { createTensor, readF32, runOnce, ShapeError, tensorFromF32 } from '@g3n/gpu';
import { avgPool, resampleKernels, resizeBilinear, resizeNearest } from '../src/resample.ts';
import { avgPoolRef, resizeBilinearRef, resizeNearestRef } from '../src/ref/resample.ts';
import { expectClose, freshGpu, randn, testGpu } from './util.ts';

const EXACT = { atol: 0, rtol: 0 };
// Means and blends of a few f32 values: a few ulps.
const TOL = { atol: 1e-6, rtol: 1e-5 };

describe('resample', () => {
  it('compiles every variant', async () => {
    const gpu = await testGpu();
    await gpu.pipelines.prepare(Object.values(resampleKernels));
    for (const k of Object.values(resampleKernels)) expect(gpu.pipelines.has(k)).toBe(true);
  });

  it('nearest 2x upsample and a same-size copy concatenate channels', async () => {
    const gpu = await testGpu();
    const [H, W, cHi, cLo] = [10, 6, 5, 3];
    const hi = randn(H * W * cHi, 1);
    const lo = randn((H / 2) * (W / 2) * cLo, 2);
    const tHi = tensorFromF32(gpu, 'hi', [H, W, cHi], hi);
    const tLo = tensorFromF32(gpu, 'lo', [H / 2, W / 2, cLo], lo);
    const out = createTensor(gpu, 'cat', 'f32', [H, W, cHi + cLo]);
    await runOnce(gpu, 'concat', [
      resizeNearest(gpu, { x: tHi, out, inH: H, inW: W, channels: cHi, outH: H, outW: W, outChannelStride: cHi + cLo }),
      resizeNearest(gpu, { x: tLo, out, inH: H / 2, inW: W / 2, channels: cLo, outH: H, outW: W, outChannelStride: cHi + cLo, outChannelOffset: cHi }),
    ]);
    const up = resizeNearestRef(lo, H / 2, W / 2, cLo, H, W);
    const expected = new Float32Array(H * W * (cHi + cLo));
    for (let p = 0; p < H * W; p++) {
      expected.set(hi.subarray(p * cHi, (p + 1) * cHi), p * (cHi + cLo));
      expected.set(up.subarray(p * cLo, (p + 1) * cLo), p * (cHi + cLo) + cHi);
    }
    expectClose('concat', await readF32(gpu, out), expected, EXACT);
  });

  for (const [inH, inW, outH, outW] of [[3, 5, 7, 11], [9, 4, 4, 3], [1, 6, 3, 2]]) {
    it(`nearest ${inH}x${inW} -> ${outH}x${outW}`, async () => {
      const gpu = await testGpu();
      const c = 7;
      const xv = randn(inH * inW * c, inH + inW);
      const x = tensorFromF32(gpu, 'x', [inH, inW, c], xv);
      const out = createTensor(gpu, 'out', 'f32', [outH, outW, c]);
      await runOnce(gpu, 'nearest', [resizeNearest(gpu, { x, out, inH, inW, channels: c, outH, outW })]);
      expectClose('nearest', await readF32(gpu, out), resizeNearestRef(xv, inH, inW, c, outH, outW), EXACT);
    });
  }

  for (const [inH, inW, c, kh, kw] of [[12, 9, 5, 3, 3], [7, 5, 3, 2, 2], [48, 48, 4, 3, 3], [6, 8, 1, 3, 4]]) {
    it(`avg pool ${inH}x${inW}x${c} window ${kh}x${kw}`, async () => {
      const gpu = await testGpu();
      const xv = randn(inH * inW * c, inH * 3 + c);
      const x = tensorFromF32(gpu, 'x', [inH, inW, c], xv);
      const out = createTensor(gpu, 'out', 'f32', [Math.floor(inH / kh), Math.floor(inW / kw), c]);
      await runOnce(gpu, 'pool', [avgPool(gpu, { x, out, inH, inW, channels: c, kh, kw })]);
      expectClose('avg pool', await readF32(gpu, out), avgPoolRef(xv, inH, inW, c, kh, kw), TOL);
    });
  }

  for (const [inH, inW, outH, outW] of [[24, 24, 16, 16], [13, 7, 5, 11], [5, 5, 12, 3], [1, 4, 2, 4], [50, 17, 16, 16]]) {
    it(`bilinear ${inH}x${inW} -> ${outH}x${outW}`, async () => {
      const gpu = await testGpu();
      const c = 3;
      const xv = randn(inH * inW * c, inH * 5 + inW);
      const x = tensorFromF32(gpu, 'x', [inH, inW, c], xv);
      const out = createTensor(gpu, 'out', 'f32', [outH, outW, c + 2]);
      await runOnce(gpu, 'bilinear', [resizeBilinear(gpu, { x, out, inH, inW, channels: c, outH, outW, outChannelStride: c + 2, outChannelOffset: 1 })]);
      const got = await readF32(gpu, out);
      const slice = new Float32Array(outH * outW * c);
      for (let p = 0; p < outH * outW; p++) slice.set(got.subarray(p * (c + 2) + 1, p * (c + 2) + 1 + c), p * c);
      expectClose('bilinear', slice, resizeBilinearRef(xv, inH, inW, c, outH, outW), TOL);
    });
  }

  it('folds the grid past the per-dimension workgroup limit', async () => {
    const gpu = await freshGpu({ capLimits: { maxComputeWorkgroupsPerDimension: 2 } });
    try {
      const xv = randn(24 * 24 * 4, 9);
      const x = tensorFromF32(gpu, 'x', [24, 24, 4], xv);
      const out = createTensor(gpu, 'out', 'f32', [12, 12, 4]);
      const d = avgPool(gpu, { x, out, inH: 24, inW: 24, channels: 4, kh: 2, kw: 2 });
      expect(d.workgroups[1]).toBeGreaterThan(1);
      await runOnce(gpu, 'fold', [d]);
      expectClose('folded', await readF32(gpu, out), avgPoolRef(xv, 24, 24, 4, 2, 2), TOL);
    } finally {
      gpu.destroy();
    }
  });

  it('throws ShapeError before GPU work on bad arguments', async () => {
    const gpu = await testGpu();
    const x = createTensor(gpu, 'x', 'f32', [4, 4, 2]);
    const out = createTensor(gpu, 'out', 'f32', [8, 8, 2]);
    expect(() => resizeNearest(gpu, { x, out, inH: 4, inW: 4, channels: 2, outH: 8, outW: 8 })).not.toThrow();
    expect(() => resizeNearest(gpu, { x, out, inH: 4, inW: 4, channels: 2, outH: 8, outW: 9 })).toThrow(ShapeError);
    expect(() => resizeNearest(gpu, { x, out, inH: 4, inW: 4, channels: 2, outH: 8, outW: 8, outChannelOffset: 1 })).toThrow(ShapeError);
    expect(() => resizeBilinear(gpu, { x, out, inH: 5, inW: 4, channels: 2, outH: 8, outW: 8 })).toThrow(ShapeError);
    expect(() => avgPool(gpu, { x, out, inH: 4, inW: 4, channels: 2, kh: 5, kw: 1 })).toThrow(ShapeError);
    expect(() => resizeNearest(gpu, { x, out: x, inH: 4, inW: 4, channels: 2, outH: 4, outW: 4 })).toThrow(/share a GPU buffer/);
    expect(() => avgPool(gpu, { x: createTensor(gpu, 'u', 'u32', [32]), out, inH: 4, inW: 4, channels: 2, kh: 2, kw: 2 })).toThrow(ShapeError);
  });
});
