import { describe, expect, it } from 'vitest';
import { createTensor, readF32, runOnce, ShapeError, tensorFromF32 } from '@g3n/gpu';
import { activationKernels, clip, gaussianTopK, geglu, gelu, glu, relu, silu, softcap, sparsityZ } from '../src/activation.ts';
import { clipRef, gaussianTopKRef, gegluRef, geluRef, gluRef, reluRef, siluRef, softcapRef } from '../src/ref/activation.ts';
import { expectClose, freshGpu, randn, testGpu } from './util.ts';

// gelu / geglu / softcap: a few f32 ulps from exp and the polynomial; 1e-5 relative is generous.
const TOL = { atol: 1e-6, rtol: 1e-5 };
// gaussian top-k subtracts a threshold of O(1) computed from f32 sums: absolute error ~1e-6.
const TOPK_TOL = { atol: 1e-5, rtol: 1e-5 };

const COLS = [1, 3, 31, 32, 33, 100, 257, 1000, 2049];
const SPECIAL = [0, -0, 1e-30, -1e-30, 1e-3, -1e-3, 0.5, -0.5, 5, -5, 10, -10, 19.9, -19.9, 20.5, -20.5, 100, -100, 1e4, -1e4, 1e30, -1e30];

/** randn values scaled by 4 with the special values written over the start. */
function inputs(n: number, seed: number): Float32Array {
  const x = randn(n, seed, 4);
  x.set(SPECIAL.slice(0, n));
  return x;
}

describe('activation', () => {
  it('compiles every variant', async () => {
    const gpu = await testGpu();
    await gpu.pipelines.prepare(Object.values(activationKernels));
    for (const k of Object.values(activationKernels)) expect(gpu.pipelines.has(k)).toBe(true);
  });

  it('sparsityZ matches statistics.NormalDist().inv_cdf(float(np.float32(s)))', () => {
    const cases: Array<[number, number]> = [
      [0.95, 1.6448535113665228],
      [0.5, 0],
      [0.75, 0.6744897501960817],
      [0.9, 1.281551429692279],
      [0.99, 2.326348231863754],
      [0.999999, 4.750757754603034],
      [0.01, -2.3263478824273114],
      [1e-10, -6.361340900353644],
      [0.3, -0.5244004784222137],
    ];
    for (const [s, z] of cases) expect(Math.abs(sparsityZ(s) - z)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(z)));
    expect(() => sparsityZ(0)).toThrow(ShapeError);
    expect(() => sparsityZ(1)).toThrow(ShapeError);
  });

  for (const cols of COLS) {
    const rows = cols > 1000 ? 2 : 3;
    it(`cols=${cols} rows=${rows}: gelu, geglu, softcap, gaussian top-k, in place and out of place`, async () => {
      const gpu = await testGpu();
      const n = rows * cols;
      const x = inputs(n, cols);
      const g = randn(n, cols + 1, 3);
      const L = 3, l = 2;
      const up = randn(rows * L * cols, cols + 2);
      const z = sparsityZ(0.95);
      const logits = randn(n, cols + 3, 40);

      const tx = tensorFromF32(gpu, 'x', [n], x);
      const geluOut = createTensor(gpu, 'gelu.out', 'f32', [n]);
      const geluIo = tensorFromF32(gpu, 'gelu.io', [n], x);
      const tg = tensorFromF32(gpu, 'gate', [rows, cols], g);
      const tup = tensorFromF32(gpu, 'per_layer_inputs', [rows, L, cols], up);
      const gegluOut = createTensor(gpu, 'geglu.out', 'f32', [rows, cols]);
      const gegluIo = tensorFromF32(gpu, 'geglu.io', [rows, cols], g);
      const tupFlat = tensorFromF32(gpu, 'up', [rows, cols], up.subarray(0, n));
      const gegluFlat = createTensor(gpu, 'geglu.flat', 'f32', [rows, cols]);
      const topkIo = tensorFromF32(gpu, 'topk.io', [rows, cols], g);
      const topkOut = createTensor(gpu, 'topk.out', 'f32', [rows, cols]);
      const tl = tensorFromF32(gpu, 'logits', [n], logits);
      const capIo = tensorFromF32(gpu, 'softcap.io', [n], logits);
      const capOut = createTensor(gpu, 'softcap.out', 'f32', [n]);

      await runOnce(gpu, 'activation', [
        gelu(gpu, { x: tx, out: geluOut, n }),
        gelu(gpu, { x: geluIo, out: geluIo, n }),
        geglu(gpu, { gate: tg, up: tup, out: gegluOut, rows, cols, upStride: L * cols, upOffset: l * cols }),
        geglu(gpu, { gate: gegluIo, up: tup, out: gegluIo, rows, cols, upStride: L * cols, upOffset: l * cols }),
        geglu(gpu, { gate: tg, up: tupFlat, out: gegluFlat, rows, cols }),
        gaussianTopK(gpu, { x: topkIo, rows, cols, z }),
        gaussianTopK(gpu, { x: tg, out: topkOut, rows, cols, z }),
        softcap(gpu, { x: capIo, n, cap: 30 }),
        softcap(gpu, { x: tl, out: capOut, n, cap: 50 }),
      ]);

      expectClose('gelu', await readF32(gpu, geluOut), geluRef(x), TOL);
      expectClose('gelu in place', await readF32(gpu, geluIo), geluRef(x), TOL);
      const gegluExpected = gegluRef(g, up, rows, cols, L * cols, l * cols);
      expectClose('geglu strided', await readF32(gpu, gegluOut), gegluExpected, TOL);
      expectClose('geglu in place', await readF32(gpu, gegluIo), gegluExpected, TOL);
      expectClose('geglu', await readF32(gpu, gegluFlat), gegluRef(g, up.subarray(0, n), rows, cols), TOL);
      expectClose('gaussian top-k in place', await readF32(gpu, topkIo), gaussianTopKRef(g, rows, cols, z), TOPK_TOL);
      expectClose('gaussian top-k', await readF32(gpu, topkOut), gaussianTopKRef(g, rows, cols, z), TOPK_TOL);
      expectClose('softcap 30 in place', await readF32(gpu, capIo), softcapRef(logits, 30), TOL);
      expectClose('softcap 50', await readF32(gpu, capOut), softcapRef(logits, 50), TOL);
    });
  }

  for (const [rows, cols] of [[1, 1], [3, 7], [5, 33], [2, 257], [4, 1000]]) {
    it(`rows=${rows} cols=${cols}: silu, relu, clip, glu, in place and out of place`, async () => {
      const gpu = await testGpu();
      const n = rows * cols;
      const x = inputs(n, 500 + cols);
      const g2 = inputs(2 * n, 600 + cols);
      const limit = 2.5;
      const tx = tensorFromF32(gpu, 'x', [n], x);
      const siluOut = createTensor(gpu, 'silu.out', 'f32', [n]);
      const siluIo = tensorFromF32(gpu, 'silu.io', [n], x);
      const reluOut = createTensor(gpu, 'relu.out', 'f32', [n]);
      const reluIo = tensorFromF32(gpu, 'relu.io', [n], x);
      const clipOut = createTensor(gpu, 'clip.out', 'f32', [n]);
      const clipIo = tensorFromF32(gpu, 'clip.io', [n], x);
      const tg = tensorFromF32(gpu, 'glu.x', [rows, 2 * cols], g2);
      const gluOut = createTensor(gpu, 'glu.out', 'f32', [rows, cols]);
      await runOnce(gpu, 'activation', [
        silu(gpu, { x: tx, out: siluOut, n }),
        silu(gpu, { x: siluIo, n }),
        relu(gpu, { x: tx, out: reluOut, n }),
        relu(gpu, { x: reluIo, n }),
        clip(gpu, { x: tx, out: clipOut, n, limit }),
        clip(gpu, { x: clipIo, n, limit: 1e10 }),
        glu(gpu, { x: tg, out: gluOut, rows, cols }),
      ]);
      expectClose('silu', await readF32(gpu, siluOut), siluRef(x), TOL);
      expectClose('silu in place', await readF32(gpu, siluIo), siluRef(x), TOL);
      expectClose('relu', await readF32(gpu, reluOut), reluRef(x), { atol: 0, rtol: 0 });
      expectClose('relu in place', await readF32(gpu, reluIo), reluRef(x), { atol: 0, rtol: 0 });
      expectClose('clip 2.5', await readF32(gpu, clipOut), clipRef(x, limit), { atol: 0, rtol: 0 });
      expectClose('clip 1e10 in place', await readF32(gpu, clipIo), clipRef(x, 1e10), { atol: 0, rtol: 0 });
      expectClose('glu', await readF32(gpu, gluOut), gluRef(g2, rows, cols), TOL);
    });
  }

  it('softcap and gelu on special values (tiny, huge, +-inf-like) stay finite and accurate', async () => {
    const gpu = await testGpu();
    const x = new Float32Array([...SPECIAL, 3e38, -3e38, 29.9, -29.9, 300, -300]);
    const n = x.length;
    const a = tensorFromF32(gpu, 'a', [n], x);
    const b = tensorFromF32(gpu, 'b', [n], x);
    await runOnce(gpu, 'special', [gelu(gpu, { x: a, out: a, n }), softcap(gpu, { x: b, n, cap: 30 })]);
    const ga = await readF32(gpu, a);
    const sb = await readF32(gpu, b);
    expect(ga.every(Number.isFinite) && sb.every(Number.isFinite)).toBe(true);
    expectClose('gelu special', ga, geluRef(x), TOL);
    expectClose('softcap special', sb, softcapRef(x, 30), TOL);
  });

  it('softcap keeps NaN and +-inf non-finite (NaN), in place and out of place, so the sampler sees them', async () => {
    const gpu = await testGpu();
    const x = new Float32Array([1, Number.NaN, 2, Infinity, -Infinity, -3, 1e30]);
    const n = x.length;
    const io = tensorFromF32(gpu, 'io', [n], x);
    const src = tensorFromF32(gpu, 'src', [n], x);
    const out = createTensor(gpu, 'out', 'f32', [n]);
    await runOnce(gpu, 'nonfinite', [softcap(gpu, { x: io, n, cap: 30 }), softcap(gpu, { x: src, out, n, cap: 30 })]);
    for (const got of [await readF32(gpu, io), await readF32(gpu, out)]) {
      expect(Array.from(got, (v) => Number.isNaN(v))).toEqual([false, true, false, true, true, false, false]);
      expectClose('finite entries', got.filter((_, i) => Number.isFinite(x[i])), softcapRef(x, 30).filter((_, i) => Number.isFinite(x[i])), TOL);
    }
  });

  it('gaussian top-k of constant rows and single columns is zero', async () => {
    const gpu = await testGpu();
    const rows = 4, cols = 37;
    const x = new Float32Array(rows * cols).fill(2.5);
    const t = tensorFromF32(gpu, 'x', [rows, cols], x);
    const one = tensorFromF32(gpu, 'one', [5, 1], new Float32Array([1, -2, 3, 1e6, 0]));
    await runOnce(gpu, 'topk', [gaussianTopK(gpu, { x: t, rows, cols, z: sparsityZ(0.95) }), gaussianTopK(gpu, { x: one, rows: 5, cols: 1, z: 1.6 })]);
    expectClose('constant', await readF32(gpu, t), new Float32Array(rows * cols), { atol: 0, rtol: 0 });
    expectClose('cols = 1', await readF32(gpu, one), new Float32Array(5), { atol: 0, rtol: 0 });
  });

  it('folds the grid past the per-dimension workgroup limit', async () => {
    const gpu = await freshGpu({ capLimits: { maxComputeWorkgroupsPerDimension: 3 } });
    try {
      const rows = 8, cols = 200, n = rows * cols;
      const x = inputs(n, 77);
      const y = randn(n, 78);
      const a = tensorFromF32(gpu, 'a', [n], x);
      const b = tensorFromF32(gpu, 'b', [rows, cols], y);
      const d = gelu(gpu, { x: a, out: a, n });
      const t = gaussianTopK(gpu, { x: b, rows, cols, z: 0.5 });
      expect(d.workgroups).toEqual([3, 3, 1]);
      expect(t.workgroups).toEqual([3, 3, 1]);
      await runOnce(gpu, 'fold', [d, t]);
      expectClose('gelu folded', await readF32(gpu, a), geluRef(x), TOL);
      expectClose('top-k folded', await readF32(gpu, b), gaussianTopKRef(y, rows, cols, 0.5), TOPK_TOL);
    } finally {
      gpu.destroy();
    }
  });

  it('throws ShapeError before GPU work on bad arguments', async () => {
    const gpu = await testGpu();
    const a = createTensor(gpu, 'a', 'f32', [64]);
    const up = createTensor(gpu, 'up', 'f32', [64]);
    const u = createTensor(gpu, 'u', 'u32', [64]);
    expect(() => gelu(gpu, { x: a, out: a, n: 65 })).toThrow(ShapeError);
    expect(() => gelu(gpu, { x: u, out: a, n: 64 })).toThrow(ShapeError);
    expect(() => geglu(gpu, { gate: a, up, out: a, rows: 2, cols: 32, upStride: 40 })).toThrow(ShapeError);
    expect(() => geglu(gpu, { gate: a, up, out: up, rows: 2, cols: 32 })).toThrow(/share a GPU buffer/);
    expect(() => softcap(gpu, { x: a, n: 64, cap: 0 })).toThrow(ShapeError);
    expect(() => gaussianTopK(gpu, { x: a, rows: 3, cols: 32, z: 1 })).toThrow(ShapeError);
    expect(() => gaussianTopK(gpu, { x: a, rows: 2, cols: 32, z: Number.NaN })).toThrow(ShapeError);
    expect(() => silu(gpu, { x: a, n: 65 })).toThrow(ShapeError);
    expect(() => clip(gpu, { x: a, n: 64, limit: 0 })).toThrow(ShapeError);
    expect(() => glu(gpu, { x: a, out: up, rows: 2, cols: 17 })).toThrow(ShapeError);
    expect(() => glu(gpu, { x: a, out: a, rows: 2, cols: 16 })).toThrow(/share a GPU buffer/);
  });
});
