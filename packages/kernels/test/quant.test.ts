import { afterAll, describe, expect, it } from 'vitest';
import { createTensor, readF32, runOnce, tensorFromF32, type Dispatch, type Gpu } from '@g3n/gpu';
import { linear } from '../src/linear.ts';
import {
  bf16BitsToF32,
  decodeWeight,
  dequantize,
  encodeWeight,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  packHalves,
  quantizeQ4,
  quantizeQ8,
  uploadWeight,
  type WeightDType,
} from '../src/quant.ts';
import { expectClose, freshGpu, randn, testGpu } from './util.ts';

const hex = (a: ArrayLike<number>) => Array.from(a, (v) => `0x${v.toString(16)}`);
const EXACT = { atol: 0, rtol: 0 };

describe('f16 / bf16 conversion', () => {
  it('f32 -> f16 on known bit patterns (zeros, subnormals, ties, max, overflow, inf, NaN)', () => {
    const table: Array<[number, number]> = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.1, 0x2e66],
      [1 / 3, 0x3555],
      [1 + 2 ** -11, 0x3c00], // tie, down to even
      [1 + 3 * 2 ** -11, 0x3c02], // tie, up to even
      [65504, 0x7bff], // max finite
      [65519.99, 0x7bff],
      [65520, 0x7c00], // tie between 65504 and 65536: even is the overflow
      [1e6, 0x7c00],
      [-Infinity, 0xfc00],
      [Infinity, 0x7c00],
      [2 ** -14, 0x0400], // min normal
      [1023 * 2 ** -24, 0x03ff], // max subnormal
      [2 ** -24, 0x0001], // min subnormal
      [-(2 ** -24), 0x8001],
      [2 ** -25, 0x0000], // tie, down to even zero
      [1.5 * 2 ** -25, 0x0001],
      [3 * 2 ** -25, 0x0002], // tie, up to even
      [1e-8, 0x0000],
      [NaN, 0x7e00],
    ];
    const got = f32ToF16Bits(Float32Array.from(table, ([v]) => v));
    expect(hex(got)).toEqual(hex(table.map(([, b]) => b)));
  });

  it('f16 -> f32 on known bit patterns', () => {
    const got = f16BitsToF32(Uint16Array.from([0x0000, 0x8000, 0x3c00, 0x0001, 0x03ff, 0x7bff, 0xfc00, 0x7e00, 0x3555]));
    expect(Object.is(got[1], -0)).toBe(true);
    expect(Array.from(got.subarray(0, 7))).toEqual([0, -0, 1, 2 ** -24, 1023 * 2 ** -24, 65504, -Infinity]);
    expect(got[7]).toBeNaN();
    expect(got[8]).toBe(Math.fround(0.333251953125));
  });

  it('f16 round-trips every non-NaN bit pattern', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const back = f32ToF16Bits(f16BitsToF32(all));
    for (let b = 0; b < 65536; b++) {
      const nan = (b & 0x7c00) === 0x7c00 && (b & 0x3ff) !== 0;
      if (nan) expect(back[b] & 0x7e00).toBe(0x7e00);
      else if (back[b] !== b) throw new Error(`f16 0x${b.toString(16)} came back as 0x${back[b].toString(16)}`);
    }
  });

  it('f32 -> bf16 on known bit patterns (round to nearest even, NaN -> 0x7fc0)', () => {
    const table: Array<[number, number]> = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3f80],
      [-1.5, 0xbfc0],
      [1 + 2 ** -8, 0x3f80], // tie, down to even
      [1 + 3 * 2 ** -8, 0x3f82], // tie, up to even
      [1 + 2 ** -8 + 2 ** -20, 0x3f81],
      [3.4028234663852886e38, 0x7f80], // f32 max rounds to inf
      [Infinity, 0x7f80],
      [-Infinity, 0xff80],
      [1e-40, 0x0001], // f32 subnormal
      [NaN, 0x7fc0],
    ];
    const got = f32ToBf16Bits(Float32Array.from(table, ([v]) => v));
    expect(hex(got)).toEqual(hex(table.map(([, b]) => b)));
    const negNaN = new Float32Array(new Uint32Array([0xffc00001]).buffer);
    expect(f32ToBf16Bits(negNaN)[0]).toBe(0x7fc0);
  });

  it('bf16 round-trips every non-NaN bit pattern and decodes as bits << 16', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const f = bf16BitsToF32(all);
    const u = new Uint32Array(f.buffer);
    const back = f32ToBf16Bits(f);
    for (let b = 0; b < 65536; b++) {
      if (u[b] !== b << 16 >>> 0) throw new Error(`bf16 0x${b.toString(16)} decoded to 0x${u[b].toString(16)}`);
      const nan = (b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0;
      if (back[b] !== (nan ? 0x7fc0 : b)) throw new Error(`bf16 0x${b.toString(16)} came back as 0x${back[b].toString(16)}`);
    }
  });

  it('packs halves two per word, the even element low, odd lengths padded', () => {
    expect(hex(packHalves(Uint16Array.from([0x1111, 0x2222, 0xbeef])))).toEqual(['0x22221111', '0xbeef']);
  });
});

const s6 = 2 ** -6;
const tiny = 2 ** -24;
/** Four hand-made q8 groups: [scale exactly 2^-6 | all zeros], [subnormal scale with clamping | scale below f16]. */
function q8Groups(): Float32Array {
  const w = new Float32Array(128);
  w.set([127 * s6, -2.5 * s6, 2.5 * s6, 0.49 * s6, -127 * s6, 1.5 * s6, -0.5 * s6], 0);
  w.set([127 * 1.4 * tiny, tiny, -3 * tiny], 64);
  w.set([127 * 2 ** -26, -(2 ** -26)], 96);
  return w;
}

/** Three hand-made q4 groups: [scale exactly 0.5 | subnormal scale, both clamps] then a zero group. */
function q4Groups(): Float32Array {
  const w = new Float32Array(96);
  w.set([3.5, -3.5, 0.25, -0.25, 0.2, 1.74, -1.25, 0], 0);
  w.set([7 * 1.4 * tiny, -7 * 1.4 * tiny, tiny], 32);
  return w;
}

describe('q8 / q4 quantization', () => {
  it('quantizeQ8 on hand-made groups (exact scale, half away from zero, zero group, subnormal scale, clamp)', () => {
    const { data, scales } = quantizeQ8(q8Groups(), 2, 64);
    expect(hex(scales)).toEqual(['0x2400', '0x1']);
    // q: 127, -3, 3, 0 | -127, 2, -1, 0 (bytes, two's complement, element 0 lowest)
    expect(hex(data.subarray(0, 2))).toEqual(['0x3fd7f', '0xff0281']);
    expect(Array.from(data.subarray(2, 16)).every((v) => v === 0)).toBe(true);
    // group 2: q = clamp(round(177.8)) = 127, 1, -3 with scale 2^-24; group 3: scale rounds to 0, q = 0
    expect(hex(data.subarray(16, 17))).toEqual(['0xfd017f']);
    expect(Array.from(data.subarray(24, 32)).every((v) => v === 0)).toBe(true);
    const d = dequantize('q8', data, scales, 128);
    expect(Array.from(d.subarray(0, 7))).toEqual([127, -3, 3, 0, -127, 2, -1].map((q) => q * s6));
    expect(Array.from(d.subarray(64, 67))).toEqual([127 * tiny, tiny, -3 * tiny]);
    expect(Array.from(d.subarray(96, 98))).toEqual([0, 0]);
  });

  it('quantizeQ4 on hand-made groups (codes q + 8, nibble e & 7 at bits 4 (e & 7), clamps at 7 and -8)', () => {
    const { data, scales } = quantizeQ4(q4Groups(), 1, 96);
    expect(hex(scales)).toEqual(['0x13800', '0x0']);
    // q: 7, -7, 1, -1, 0, 3, -3, 0 -> codes 15, 1, 9, 7, 8, 11, 5, 8
    expect(hex(data.subarray(0, 4))).toEqual(['0x85b8791f', '0x88888888', '0x88888888', '0x88888888']);
    // q: clamp(9.8) = 7, clamp(-9.8) = -8, 1 -> codes 15, 0, 9
    expect(hex(data.subarray(4, 5))).toEqual(['0x8888890f']);
    expect(hex(data.subarray(8, 12))).toEqual(['0x88888888', '0x88888888', '0x88888888', '0x88888888']);
    const d = dequantize('q4', data, scales, 96);
    expect(Array.from(d.subarray(0, 8))).toEqual([3.5, -3.5, 0.5, -0.5, 0, 1.5, -1.5, 0]);
    expect(Array.from(d.subarray(32, 35))).toEqual([7 * tiny, -8 * tiny, tiny]);
    expect(Array.from(d.subarray(64))).toEqual(new Array(32).fill(0));
  });

  for (const [dt, qmax] of [['q8', 127], ['q4', 7]] as const) {
    it(`${dt}: dequantized values are within half a step of the input`, () => {
      const w = randn(7 * 96, 3);
      const { data, scales } = dt === 'q8' ? quantizeQ8(w, 7, 96) : quantizeQ4(w, 7, 96);
      const d = dequantize(dt, data, scales, w.length);
      for (let g = 0; g < w.length / 32; g++) {
        const absmax = Math.max(...Array.from(w.subarray(32 * g, 32 * g + 32), Math.abs));
        const step = absmax / qmax;
        for (let i = 32 * g; i < 32 * g + 32; i++) {
          if (!(Math.abs(d[i] - w[i]) <= step * (0.5 + 2 ** -10))) throw new Error(`${dt}[${i}] ${w[i]} -> ${d[i]} (step ${step})`);
        }
      }
    });
  }

  it('encodeWeight / decodeWeight agree with the converters for every dtype', () => {
    const w = randn(3 * 64, 5);
    expect(Array.from(decodeWeight('f32', encodeWeight('f32', w, [3, 64]).data, undefined, w.length))).toEqual(Array.from(w));
    expect(Array.from(decodeWeight('bf16', encodeWeight('bf16', w, [3, 64]).data, undefined, w.length))).toEqual(Array.from(bf16BitsToF32(f32ToBf16Bits(w))));
    expect(Array.from(decodeWeight('f16', encodeWeight('f16', w, [3, 64]).data, undefined, w.length))).toEqual(Array.from(f16BitsToF32(f32ToF16Bits(w))));
    const q = encodeWeight('q4', w, [3, 64]);
    expect(Array.from(decodeWeight('q4', q.data, q.scales, w.length))).toEqual(Array.from(dequantize('q4', q.data, q.scales!, w.length)));
    expect(() => encodeWeight('q8', w, [4, 64])).toThrow();
    expect(() => encodeWeight('q8', randn(3 * 48, 1), [3, 48])).toThrow();
  });
});

/** Weights [40, 64] whose first rows hold the hand-made groups and f16/bf16 edge values, the rest random. */
function specialWeights(dt: WeightDType): Float32Array {
  const w = randn(40 * 64, 11, 0.5);
  w.set(dt === 'q4' ? q4Groups().subarray(0, 64) : q8Groups(), 0);
  w.set([1e-6, -(2 ** -24), 2 ** -25 * 3, 65504, -65504, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 2 ** -14, 0, -0], 128);
  return w;
}

const gpu = await testGpu();
const plain = await freshGpu({ features: [] });
afterAll(async () => {
  await plain.device.queue.onSubmittedWorkDone();
  plain.destroy();
});

describe('the GPU sees exactly decodeWeight', () => {
  for (const dt of ['q8', 'q4', 'f16', 'bf16'] as const) {
    it(`${dt}: GEMM with x = identity and matvec with one-hot x return the decoded weights bit for bit`, async () => {
      const [outF, inF] = [40, 64];
      const wf = specialWeights(dt);
      const enc = encodeWeight(dt, wf, [outF, inF]);
      const wd = decodeWeight(dt, enc.data, enc.scales, wf.length);
      const wdT = new Float32Array(inF * outF);
      for (let o = 0; o < outF; o++) for (let i = 0; i < inF; i++) wdT[i * outF + o] = wd[o * inF + i];
      const eye = new Float32Array(inF * inF);
      for (let i = 0; i < inF; i++) eye[i * inF + i] = 1;
      // matvec on the default device (subgroup reduction where available) and on a plain one; GEMM on the plain one.
      for (const g of [gpu, plain] as Gpu[]) {
        const w = uploadWeight(g, `w_${dt}`, dt, wf, [outF, inF]);
        const cols = createTensor(g, 'cols', 'f32', [inF, outF]);
        const dispatches: Dispatch[] = [];
        for (let i = 0; i < inF; i++) {
          const x = tensorFromF32(g, `e${i}`, [1, inF], eye.subarray(i * inF, (i + 1) * inF));
          dispatches.push(linear(g, { x, w, out: cols, rows: 1, outOffset: i * outF, outStride: inF * outF }));
        }
        const all = createTensor(g, 'wT', 'f32', [inF, outF]);
        if (g === plain) dispatches.push(linear(g, { x: tensorFromF32(g, 'eye', [inF, inF], eye), w, out: all, rows: inF }));
        await runOnce(g, 'dequant_exact', dispatches);
        expectClose(`${dispatches[0].kernel.key} one-hot`, await readF32(g, cols), wdT, EXACT);
        if (g === plain) expectClose(`${dispatches[inF].kernel.key} identity`, await readF32(g, all), wdT, EXACT);
      }
    });
  }
});
