import { describe, expect, it } from 'vitest';
import { createTensor, readF32, runOnce, ShapeError, tensorFromF32 } from '@g3n/gpu';
import { conv2d, conv2dKernels, samePadding, type Conv2dArgs } from '../src/conv2d.ts';
import { decodeWeight, encodeWeight, uploadWeight } from '../src/quant.ts';
import { conv2dRef } from '../src/ref/conv2d.ts';
import { expectClose, freshGpu, randn, testGpu } from './util.ts';

type Shape = Omit<Conv2dArgs, 'x' | 'w' | 'bias' | 'out'>;

/** A convolution with TF 'SAME' padding on both axes (spec §4.2). */
function same(inH: number, inW: number, inC: number, outC: number, k: number, stride: number, groups: number): Shape {
  const h = samePadding(inH, k, stride);
  const w = samePadding(inW, k, stride);
  return { inH, inW, inC, outC, kh: k, kw: k, strideH: stride, strideW: stride, padTop: h.before, padLeft: w.before, outH: h.out, outW: w.out, groups };
}

const CASES: Array<[string, Shape, boolean]> = [
  ['stem-like 3x3 s2, 3 -> 7, bias', same(13, 11, 3, 7, 3, 2, 1), true],
  ['3x3 s2 even size (pad 0/1)', same(12, 10, 8, 12, 3, 2, 1), false],
  ['5x5 s1, 5 -> 9', same(9, 7, 5, 9, 5, 1, 1), true],
  ['1x1 s1, 6 -> 5', same(5, 3, 6, 5, 1, 1, 1), false],
  ['1x1 s2', same(7, 6, 4, 8, 1, 2, 1), false],
  ['depthwise 3x3 s1', same(11, 9, 13, 13, 3, 1, 13), false],
  ['depthwise 5x5 s2 (pad 1/2)', same(12, 14, 10, 10, 5, 2, 10), true],
  ['depthwise 3x3 s2 odd', same(9, 9, 6, 6, 3, 2, 6), false],
  ['groups 2, 6 -> 10', same(7, 8, 6, 10, 3, 1, 2), true],
  ['groups 3, 6 -> 6 (two channels a group)', same(6, 5, 6, 6, 3, 2, 3), false],
  ['groups 2, 8 -> 16 (blocks within groups)', same(5, 5, 8, 16, 3, 1, 2), false],
  // The audio sub-sample convolution: 3x3 stride 2, no rows above, one column left.
  ['audio 3x3 s2 pad top 0 / left 1', { inH: 11, inW: 16, inC: 4, outC: 6, kh: 3, kw: 3, strideH: 2, strideW: 2, padTop: 0, padLeft: 1, outH: 5, outW: 8, groups: 1 }, false],
  // The audio causal depthwise convolution over time: [T, 1, C], kernel [5 x 1], 4 rows of zeros above.
  ['audio causal depthwise [5 x 1]', { inH: 17, inW: 1, inC: 12, outC: 12, kh: 5, kw: 1, strideH: 1, strideW: 1, padTop: 4, padLeft: 0, outH: 17, outW: 1, groups: 12 }, false],
];

function maxAbs(a: Float32Array): number {
  return a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
}

describe('conv2d', () => {
  it('compiles every variant', async () => {
    const gpu = await testGpu();
    await gpu.pipelines.prepare(Object.values(conv2dKernels));
    for (const k of Object.values(conv2dKernels)) expect(gpu.pipelines.has(k)).toBe(true);
  });

  it('samePadding is TensorFlow SAME', () => {
    expect(samePadding(768, 3, 2)).toEqual({ out: 384, before: 0, after: 1 });
    expect(samePadding(96, 5, 2)).toEqual({ out: 48, before: 1, after: 2 });
    expect(samePadding(7, 3, 1)).toEqual({ out: 7, before: 1, after: 1 });
    expect(samePadding(9, 3, 2)).toEqual({ out: 5, before: 1, after: 1 });
    expect(samePadding(5, 1, 2)).toEqual({ out: 3, before: 0, after: 0 });
  });

  for (const [name, s, withBias] of CASES) {
    it(`${name}: f32, bf16, f16 weights`, async () => {
      const gpu = await testGpu();
      const seed = s.inH * 131 + s.inC * 7 + s.outC;
      const xv = randn(s.inH * s.inW * s.inC, seed);
      const wShape = [s.outC, s.inC / s.groups, s.kh, s.kw];
      const wv = randn(wShape.reduce((a, b) => a * b), seed + 1, 0.5);
      const bv = withBias ? randn(s.outC, seed + 2) : null;
      const x = tensorFromF32(gpu, 'x', [s.inH, s.inW, s.inC], xv);
      const bias = bv ? tensorFromF32(gpu, 'bias', [s.outC], bv) : null;
      const K = (s.inC / s.groups) * s.kh * s.kw;
      for (const dt of ['f32', 'bf16', 'f16'] as const) {
        const w = uploadWeight(gpu, `w.${dt}`, dt, wv, wShape);
        const out = createTensor(gpu, 'out', 'f32', [s.outH, s.outW, s.outC]);
        await runOnce(gpu, 'conv2d', [conv2d(gpu, { ...s, x, w, bias, out })]);
        const seen = decodeWeight(dt, encodeWeight(dt, wv, wShape).data, undefined, wv.length);
        const atol = 1e-5 * Math.sqrt(K) * maxAbs(xv) * maxAbs(seen) + 1e-6;
        expectClose(`${name} ${dt}`, await readF32(gpu, out), conv2dRef(xv, seen, bv, s), { atol, rtol: 0 });
      }
    });
  }

  it('folds the grid past the per-dimension workgroup limit', async () => {
    const gpu = await freshGpu({ capLimits: { maxComputeWorkgroupsPerDimension: 4 } });
    try {
      const s = same(10, 10, 8, 8, 3, 1, 8);
      const xv = randn(800, 5);
      const wv = randn(72, 6);
      const x = tensorFromF32(gpu, 'x', [10, 10, 8], xv);
      const w = uploadWeight(gpu, 'w', 'f32', wv, [8, 1, 3, 3]);
      const out = createTensor(gpu, 'out', 'f32', [10, 10, 8]);
      const d = conv2d(gpu, { ...s, x, w, out });
      expect(d.workgroups[1]).toBeGreaterThan(1);
      await runOnce(gpu, 'fold', [d]);
      expectClose('folded', await readF32(gpu, out), conv2dRef(xv, wv, null, s), { atol: 1e-5, rtol: 1e-5 });
    } finally {
      gpu.destroy();
    }
  });

  it('throws ShapeError before GPU work on bad arguments', async () => {
    const gpu = await testGpu();
    const s = same(6, 6, 4, 8, 3, 1, 1);
    const x = createTensor(gpu, 'x', 'f32', [6, 6, 4]);
    const w = createTensor(gpu, 'w', 'bf16', [8, 4, 3, 3]);
    const out = createTensor(gpu, 'out', 'f32', [6, 6, 8]);
    expect(() => conv2d(gpu, { ...s, x, w, out })).not.toThrow();
    expect(() => conv2d(gpu, { ...s, groups: 3, x, w, out })).toThrow(ShapeError);
    expect(() => conv2d(gpu, { ...s, kh: 5, x, w, out })).toThrow(ShapeError);
    expect(() => conv2d(gpu, { ...s, inH: 7, x, w, out })).toThrow(ShapeError);
    expect(() => conv2d(gpu, { ...s, outH: 7, x, w, out })).toThrow(ShapeError);
    expect(() => conv2d(gpu, { ...s, outH: 20, outW: 1, x, w, out: createTensor(gpu, 'big', 'f32', [20, 1, 8]) })).toThrow(/past the input/);
    expect(() => conv2d(gpu, { ...s, x, w: createTensor(gpu, 'wq', 'q8', [8, 4, 3, 8]), out })).toThrow(ShapeError);
    expect(() => conv2d(gpu, { ...s, x, w, out, bias: createTensor(gpu, 'b', 'f32', [7]) })).toThrow(ShapeError);
    const both = createTensor(gpu, 'both', 'f32', [6, 6, 8]);
    expect(() => conv2d(gpu, { ...s, x: both, w, out: both })).toThrow(/share a GPU buffer/);
    expect(() => conv2d(gpu, { ...s, padTop: -1, x, w, out })).toThrow(ShapeError);
  });
});
