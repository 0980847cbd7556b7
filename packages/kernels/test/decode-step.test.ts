/**
 * The fused decode matvecs (matvec_fused.wgsl and its subgroup variant) against the f64 reference of
 * linear on the dequantized weights, for every weight dtype: three products of different shapes, inputs
 * and outputs in one dispatch (in both arenas), GeGLU against a row, gate and up in pairs, and the up
 * product masked by a top-k gate. The row kernels of decode_step.wgsl are checked at the model level
 * (packages/gemma3n/test/decode-step.test.ts), fused against unfused and against the goldens.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createTensor, readF32, runOnce, ShapeError, writeTensor, type Gpu, type Tensor } from '@g3n/gpu';
import { decodeStepKernels, fusedMatvec, type MvSegment } from '../src/decode-step.ts';
import { WEIGHT_DTYPES } from '../src/linear.ts';
import { decodeWeight, encodeWeight, uploadWeight, type WeightDType } from '../src/quant.ts';
import { fusedMatvecRef, maskedGegluRef, pairGegluRef } from '../src/ref/decode-step.ts';
import { expectClose, freshGpu, randn, testGpu } from './util.ts';

const gpu = await testGpu();
const plain = await freshGpu({ features: [] });
afterAll(async () => {
  await plain.device.queue.onSubmittedWorkDone();
  plain.destroy();
});

interface Mat {
  w: Tensor;
  ref: Float32Array;
  rows: number;
  cols: number;
}

function matrix(g: Gpu, dt: WeightDType, rows: number, cols: number, seed: number): Mat {
  const wf = randn(rows * cols, seed, 0.5);
  const enc = encodeWeight(dt, wf, [rows, cols]);
  return { w: uploadWeight(g, `w${seed}_${dt}`, dt, wf, [rows, cols]), ref: decodeWeight(dt, enc.data, enc.scales, rows * cols), rows, cols };
}

function tol(x: Float32Array, cols: number) {
  let s = 0;
  for (const v of x) s = Math.max(s, Math.abs(v));
  return { atol: 2e-5 * Math.sqrt(cols) * (s + 1), rtol: 1e-4 };
}

async function arenas(g: Gpu, a: Float32Array, b: Float32Array): Promise<[Tensor, Tensor]> {
  const ta = createTensor(g, 'arena.a', 'f32', [a.length]);
  const tb = createTensor(g, 'arena.b', 'f32', [b.length]);
  writeTensor(g, ta, a);
  writeTensor(g, tb, b);
  return [ta, tb];
}

describe('fused decode matvecs', () => {
  for (const [name, g] of [['subgroups where the adapter has them', gpu], ['shared-memory reduction', plain]] as const) {
    for (const dt of WEIGHT_DTYPES) {
      it(`${dt}, ${name}: three products in one dispatch, and GeGLU against a row`, async () => {
        // in 64 (q8/q4: two groups), 96 and 64; 37, 5 and 130 rows (partial workgroups of 4 rows).
        const m = [matrix(g, dt, 37, 64, 1), matrix(g, dt, 5, 96, 2), matrix(g, dt, 130, 64, 3)];
        const a = randn(1024, 4);
        const b = randn(1024, 5);
        const [ta, tb] = await arenas(g, a, b);
        const seg: MvSegment[] = [
          { w: m[0].w, x: { inB: false, offset: 64 }, out: { inB: true, offset: 512 } },
          { w: m[1].w, x: { inB: true, offset: 128 }, out: { inB: false, offset: 600 } },
          { w: m[2].w, x: { inB: false, offset: 0 }, out: { inB: true, offset: 700 } },
        ];
        const d = fusedMatvec(g, 'mv_group', { a: ta, b: tb, segments: seg });
        expect(d.kernel.key.startsWith(g.caps.features.subgroups ? 'matvec_fused_subgroups/' : 'matvec_fused/')).toBe(true);
        await runOnce(g, 'mv_group', [d]);
        const [ga, gb] = [await readF32(g, ta), await readF32(g, tb)];
        seg.forEach((s, i) => {
          const x = (s.x.inB ? b : a).subarray(s.x.offset, s.x.offset + m[i].cols);
          const got = (s.out.inB ? gb : ga).subarray(s.out.offset, s.out.offset + m[i].rows);
          expectClose(`${d.kernel.key} segment ${i}`, got, fusedMatvecRef(x, m[i].ref, m[i].rows, m[i].cols), tol(x, m[i].cols));
        });
        // Nothing else in either arena changed.
        expect(Array.from(ga.subarray(0, 600))).toEqual(Array.from(a.subarray(0, 600)));
        expect(Array.from(gb.subarray(0, 512))).toEqual(Array.from(b.subarray(0, 512)));

        // GeGLU against a row: out = gelu(x W^T) * a[aux + r].
        const [ta2, tb2] = await arenas(g, a, b);
        const one = [{ w: m[0].w, x: { inB: false, offset: 64 }, out: { inB: false, offset: 800 } }];
        await runOnce(g, 'mv_group', [fusedMatvec(g, 'mv_group', { a: ta2, b: tb2, segments: one, auxOffset: 256 })]);
        const x = a.subarray(64, 128);
        const want = fusedMatvecRef(x, m[0].ref, 37, 64, a.subarray(256, 293));
        expectClose('mv_group GeGLU', (await readF32(g, ta2)).subarray(800, 837), want, tol(x, 64));
      });

      it(`${dt}, ${name}: gate and up in pairs with GeGLU, and up masked by a top-k gate`, async () => {
        const gate = matrix(g, dt, 70, 64, 11);
        const up = matrix(g, dt, 70, 64, 12);
        const a = randn(512, 13);
        const b = randn(512, 14);
        const [ta, tb] = await arenas(g, a, b);
        const x = a.subarray(0, 64);
        const seg = [gate, up].map((m) => ({ w: m.w, x: { inB: false, offset: 0 }, out: { inB: true, offset: 256 } }));
        await runOnce(g, 'mv_pair', [fusedMatvec(g, 'mv_pair', { a: ta, b: tb, segments: seg })]);
        expectClose('mv_pair', (await readF32(g, tb)).subarray(256, 326), pairGegluRef(x, gate.ref, up.ref, 70, 64), tol(x, 64));

        // A top-k gate: most rows zero, whole workgroups of 4 rows among them.
        const mask = new Float32Array(70);
        for (const r of [1, 2, 9, 33, 34, 35, 36, 69]) mask[r] = 0.25 + r / 50;
        const b2 = b.slice();
        b2.set(mask, 128);
        const [ta2, tb2] = await arenas(g, a, b2);
        const masked = [{ w: up.w, x: { inB: false, offset: 0 }, out: { inB: false, offset: 256 } }];
        await runOnce(g, 'mv_masked', [fusedMatvec(g, 'mv_masked', { a: ta2, b: tb2, segments: masked, maskOffset: 128 })]);
        const want = maskedGegluRef(x, up.ref, mask, 70, 64);
        expectClose('mv_masked', (await readF32(g, ta2)).subarray(256, 326), want, tol(x, 64));
      });
    }
  }

  it('refuses what the kernels cannot take, before any GPU work', () => {
    const a = createTensor(gpu, 'a', 'f32', [256]);
    const b = createTensor(gpu, 'b', 'f32', [256]);
    const w = createTensor(gpu, 'w', 'q4', [8, 64]);
    const w8 = createTensor(gpu, 'w8', 'q8', [8, 64]);
    const seg = (t: Tensor, xOff = 0): MvSegment => ({ w: t, x: { inB: false, offset: xOff }, out: { inB: true, offset: 0 } });
    expect(() => fusedMatvec(gpu, 'mv_group', { a, b: a, segments: [seg(w)] })).toThrow(ShapeError);
    expect(() => fusedMatvec(gpu, 'mv_group', { a, b, segments: [seg(w), seg(w8)] })).toThrow(/one dtype/);
    expect(() => fusedMatvec(gpu, 'mv_group', { a, b, segments: [seg(w, 200)] })).toThrow(/overruns/);
    expect(() => fusedMatvec(gpu, 'mv_group', { a, b, segments: [seg(w, 2)] })).toThrow(/multiple of 4/);
    expect(() => fusedMatvec(gpu, 'mv_group', { a, b, segments: [seg(w), seg(w), seg(w), seg(w)] })).toThrow(/1 to 3/);
    expect(() => fusedMatvec(gpu, 'mv_pair', { a, b, segments: [seg(w), seg(createTensor(gpu, 'w2', 'q4', [9, 64]))] })).toThrow(/one shape/);
    expect(() => fusedMatvec(gpu, 'mv_masked', { a, b, segments: [seg(w)] })).toThrow(/maskOffset/);
    expect(() => fusedMatvec(gpu, 'mv_group', { a, b, segments: [seg(createTensor(gpu, 'w7', 'f32', [8, 7]))] })).toThrow(/whole 16-byte units/);
    expect(Object.keys(decodeStepKernels).length).toBeGreaterThan(30);
  });
});
