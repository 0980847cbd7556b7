import { describe, expect, it } from 'vitest';
import { createTensor, readF32, runOnce, tensorFromF32 } from '@g3n/gpu';
import { altupAddRest, altupCorrect, altupKernels, altupPredict, altupRescale, tanhInplace } from '../src/altup.ts';
import { altupCorrectRef, altupPredictRef, altupRescaleRef } from '../src/ref/altup.ts';
import { expectClose, randn, testGpu } from './util.ts';

const TOL = { atol: 1e-5, rtol: 1e-5 };

function stack(parts: Float32Array[], stride: number): Float32Array {
  const out = new Float32Array(stride * parts.length);
  parts.forEach((p, k) => out.set(p, k * stride));
  return out;
}

function unstack(all: Float32Array, n: number, stride: number, len: number): Float32Array[] {
  return Array.from({ length: n }, (_, k) => all.slice(k * stride, k * stride + len));
}

describe('altup', () => {
  it('compiles every variant', async () => {
    const gpu = await testGpu();
    await gpu.pipelines.prepare(Object.values(altupKernels));
    for (const k of Object.values(altupKernels)) expect(gpu.pipelines.has(k), k.key).toBe(true);
  });

  for (const [n, T, D] of [
    [4, 1, 128],
    [4, 5, 33],
    [2, 3, 300],
    [3, 17, 1],
  ] as const) {
    it(`predict/correct/add_rest/rescale n=${n} T=${T} D=${D}`, async () => {
      const gpu = await testGpu();
      const len = T * D;
      const stride = Math.ceil(len / 64) * 64;
      const X = Array.from({ length: n }, (_, k) => randn(len, 10 + k));
      const coefs = randn(T * n * n, 3, 0.5);
      const act = randn(len, 4);
      const cc = randn(T * n, 5, 0.5);
      const v = randn(len, 6);
      const st = { tensor: tensorFromF32(gpu, 'X', [n * stride], stack(X, stride)), streams: n, tokens: T, dim: D, stride };
      const pred = createTensor(gpu, 'pred', 'f32', [n * stride]);
      const out = { ...st, tensor: createTensor(gpu, 'Y', 'f32', [n * stride]) };
      const tc = tensorFromF32(gpu, 'coefs', [T, n * n], coefs);
      const ta = tensorFromF32(gpu, 'act', [T, D], act);
      const tcc = tensorFromF32(gpu, 'cc', [T, n], cc);
      const tv = tensorFromF32(gpu, 'v', [T, D], v);
      const y = randn(len, 7, 3);
      const ty = tensorFromF32(gpu, 'y', [T, D], y);
      const resc = createTensor(gpu, 'rescaled', 'f32', [T, D]);
      await runOnce(gpu, 'altup', [
        altupPredict(gpu, { streams: st, coefs: tc, pred }),
        altupCorrect(gpu, { pred, act: ta, cc: tcc, out, active: 0 }),
        altupAddRest(gpu, { streams: out, v: tv, active: 0 }),
        altupRescale(gpu, { y: ty, ref: ta, out: resc, tokens: T, dim: D }),
      ]);
      const P = altupPredictRef(X, coefs, T, D);
      expectClose('predict', (await readF32(gpu, pred)).subarray(0, n * stride), stack(P, stride), TOL);
      const Y = altupCorrectRef(P, act, cc, 0, T, D).map((s, k) => (k === 0 ? s : s.map((x, i) => x + v[i])));
      const got = unstack(await readF32(gpu, out.tensor), n, stride, len);
      Y.forEach((s, k) => expectClose(`correct+add_rest stream ${k}`, got[k], s, TOL));
      expectClose('rescale', await readF32(gpu, resc), altupRescaleRef(y, act, T, D), TOL);
    });
  }

  it('tanh in place, saturating without NaN', async () => {
    const gpu = await testGpu();
    const x = new Float32Array([-1e30, -20, -1, -1e-3, 0, 0.5, 3, 40, 1e30]);
    const t = tensorFromF32(gpu, 'x', [x.length], x);
    await runOnce(gpu, 'tanh', [tanhInplace(gpu, t, x.length)]);
    expectClose('tanh', await readF32(gpu, t), x.map(Math.tanh), { atol: 2e-6, rtol: 0 });
  });
});
