import { describe, expect, it } from 'vitest';
import { createTensor, Plan, readF32, runOnce, ShapeError, submitPlans, tensorFromF32 } from '@g3n/gpu';
import { rope, ropeInvFreq, ropeKernels } from '../src/rope.ts';
import { ropeRef } from '../src/ref/rope.ts';
import { expectClose, freshGpu, randn, testGpu } from './util.ts';

// The angle is the same f32 value as the reference's; sin/cos after the Cody-Waite reduction are
// within a few 1e-8, so outputs of O(1) inputs agree to ~1e-7.
const TOL = { atol: 2e-6, rtol: 1e-5 };

const cases = [
  { rows: 1, heads: 1, headDim: 2, theta: 1e4, pos0: 0 },
  { rows: 3, heads: 2, headDim: 8, theta: 1e4, pos0: 0 },
  { rows: 5, heads: 3, headDim: 30, theta: 1e4, pos0: 17 },
  { rows: 4, heads: 8, headDim: 32, theta: 1e6, pos0: 1000 },
  { rows: 3, heads: 8, headDim: 256, theta: 1e6, pos0: 0 },
  { rows: 2, heads: 2, headDim: 256, theta: 1e4, pos0: 4093 },
  { rows: 6, heads: 8, headDim: 256, theta: 1e6, pos0: 32762 },
  { rows: 2, heads: 2, headDim: 256, theta: 1e4, pos0: 131070 },
];

describe('rope', () => {
  it('compiles every variant', async () => {
    const gpu = await testGpu();
    await gpu.pipelines.prepare(Object.values(ropeKernels));
    for (const k of Object.values(ropeKernels)) expect(gpu.pipelines.has(k)).toBe(true);
  });

  it('inv_freq matches the reference bit for bit (numpy rope_inv_freq, f32)', () => {
    const bits = (theta: number, d: number) => new Uint32Array(ropeInvFreq(theta, d).buffer);
    // From gemma3n_ref.rope_inv_freq(theta, dim, np.float32).view(np.uint32).
    expect([1, 2, 64, 127].map((j) => bits(1e6, 256)[j])).toEqual([1063636691, 1062095788, 981668463, 898991066]);
    expect([1, 2, 64, 127].map((j) => bits(1e4, 256)[j])).toEqual([1064188408, 1063104471, 1008981770, 954293394]);
    expect([1, 2, 7, 14].map((j) => bits(1e4, 30)[j])).toEqual([1057655318, 1050014292, 1012840330, 960611031]);
    expect([1, 2, 8, 15].map((j) => bits(1e6, 32)[j])).toEqual([1054337179, 1043732615, 981668463, 908010468]);
  });

  for (const { rows, heads, headDim, theta, pos0 } of cases) {
    it(`rows=${rows} heads=${heads} head_dim=${headDim} theta=${theta} pos0=${pos0}: in place and out of place`, async () => {
      const gpu = await testGpu();
      const n = rows * heads * headDim;
      const x = randn(n, n + pos0);
      const io = tensorFromF32(gpu, 'q', [rows, heads, headDim], x);
      const tx = tensorFromF32(gpu, 'x', [rows, heads, headDim], x);
      const out = createTensor(gpu, 'out', 'f32', [rows, heads, headDim]);
      await runOnce(gpu, 'rope', [
        rope(gpu, { x: io, rows, heads, headDim, theta, pos0 }),
        rope(gpu, { x: tx, out, rows, heads, headDim, theta, pos0 }),
      ]);
      const expected = ropeRef(x, rows, heads, headDim, theta, pos0);
      expectClose('in place', await readF32(gpu, io), expected, TOL);
      expectClose('out of place', await readF32(gpu, out), expected, TOL);
      expectClose('input kept', await readF32(gpu, tx), x, { atol: 0, rtol: 0 });
    });
  }

  it('pos0 is a uniform: one plan replayed at successive decode positions', async () => {
    const gpu = await testGpu();
    const heads = 2, headDim = 256, theta = 1e6;
    const x = randn(heads * headDim, 3);
    const q = tensorFromF32(gpu, 'q', [1, heads, headDim], x);
    const out = createTensor(gpu, 'out', 'f32', [1, heads, headDim]);
    const plan = await Plan.build(gpu, 'decode', [rope(gpu, { x: q, out, rows: 1, heads, headDim, theta, pos0: 0 })]);
    for (const pos of [7, 30000]) {
      plan.setParams(0, { pos0: pos });
      submitPlans(gpu, [plan]);
      expectClose(`pos ${pos}`, await readF32(gpu, out), ropeRef(x, 1, heads, headDim, theta, pos), TOL);
    }
    plan.destroy();
  });

  it('folds the grid past the per-dimension workgroup limit', async () => {
    const gpu = await freshGpu({ capLimits: { maxComputeWorkgroupsPerDimension: 4 } });
    try {
      const rows = 9, heads = 4, headDim = 64, theta = 1e4;
      const x = randn(rows * heads * headDim, 11);
      const q = tensorFromF32(gpu, 'q', [rows, heads, headDim], x);
      const d = rope(gpu, { x: q, rows, heads, headDim, theta, pos0: 3 });
      expect(d.workgroups).toEqual([3, 2, 1]);
      await runOnce(gpu, 'fold', [d]);
      expectClose('folded', await readF32(gpu, q), ropeRef(x, rows, heads, headDim, theta, 3), TOL);
    } finally {
      gpu.destroy();
    }
  });

  it('throws ShapeError before GPU work on bad arguments', async () => {
    const gpu = await testGpu();
    const q = createTensor(gpu, 'q', 'f32', [2, 2, 8]);
    expect(() => rope(gpu, { x: q, rows: 2, heads: 2, headDim: 7, theta: 1e4, pos0: 0 })).toThrow(ShapeError);
    expect(() => rope(gpu, { x: q, rows: 3, heads: 2, headDim: 8, theta: 1e4, pos0: 0 })).toThrow(ShapeError);
    expect(() => rope(gpu, { x: q, rows: 2, heads: 2, headDim: 8, theta: 1e4, pos0: -1 })).toThrow(ShapeError);
    expect(() => rope(gpu, { x: q, rows: 2, heads: 2, headDim: 8, theta: 1e4, pos0: 131071 })).toThrow(ShapeError);
    expect(() => rope(gpu, { x: q, rows: 2, heads: 2, headDim: 8, theta: 1e4, pos0: 0, invFreq: q })).toThrow(ShapeError);
  });
});
