import { describe, it } from 'vitest';
import { createTensor, readF32, runOnce, tensorFromF32 } from '@g3n/gpu';
import { add, addInplace, copy, mul, scale } from '../src/elementwise.ts';
import { addRef, mulRef, scaleRef } from '../src/ref/elementwise.ts';
import { expectClose, randn, testGpu } from './util.ts';

const TOL = { atol: 1e-6, rtol: 1e-6 };
const cases = [
  { n: 1, bLen: 1 },
  { n: 255, bLen: 255 },
  { n: 257, bLen: 1 },
  { n: 3 * 129, bLen: 129 },
  { n: 70000, bLen: 70000 },
];

describe('elementwise', () => {
  for (const { n, bLen } of cases) {
    it(`add/mul/scale/add_inplace n=${n} b_len=${bLen}`, async () => {
      const gpu = await testGpu();
      const a = randn(n, 1);
      const b = randn(bLen, 2);
      const ta = tensorFromF32(gpu, 'a', [n], a);
      const tb = tensorFromF32(gpu, 'b', [bLen], b);
      const o1 = createTensor(gpu, 'o1', 'f32', [n]);
      const o2 = createTensor(gpu, 'o2', 'f32', [n]);
      const o3 = createTensor(gpu, 'o3', 'f32', [n]);
      const acc = tensorFromF32(gpu, 'acc', [n], a);
      await runOnce(gpu, 'elementwise', [add(gpu, ta, tb, o1, 0.5), mul(gpu, ta, tb, o2, 2), scale(gpu, ta, o3, -3), addInplace(gpu, acc, tb, 0.25)]);
      expectClose('add', await readF32(gpu, o1), addRef(a, b, 0.5), TOL);
      expectClose('mul', await readF32(gpu, o2), mulRef(a, b, 2), TOL);
      expectClose('scale', await readF32(gpu, o3), scaleRef(a, -3), TOL);
      expectClose('add_inplace', await readF32(gpu, acc), a.map((x, i) => x + b[i % bLen] * 0.25), TOL);
    });
  }
});

describe('elementwise copy', () => {
  it('copies between element offsets', async () => {
    const gpu = await testGpu();
    const a = randn(1000, 9);
    const ta = tensorFromF32(gpu, 'a', [1000], a);
    const out = tensorFromF32(gpu, 'out', [300], new Float32Array(300).fill(7));
    await runOnce(gpu, 'copy', [copy(gpu, { a: ta, out, n: 129, aOffset: 501, outOffset: 3, scale: 2 })]);
    const expected = new Float32Array(300).fill(7);
    for (let i = 0; i < 129; i++) expected[3 + i] = a[501 + i] * 2;
    expectClose('copy', await readF32(gpu, out), expected, TOL);
  });
});
