import { describe, expect, it } from 'vitest';
import { createTensor, readU32, runOnce, ShapeError, writeTensor, type DType, type Gpu, type Tensor } from '@g3n/gpu';
import { checkFinite, FINITE_NONE, finiteKernels } from '../src/finite.ts';
import { firstNonFiniteRef } from '../src/ref/finite.ts';
import { freshGpu, randn, testGpu } from './util.ts';

type Kind = 'f32' | 'f16' | 'bf16';

/** Finite words of each kind, edge values included (largest finite, subnormals, signed zeros). */
function finiteWords(kind: Kind, words: number, seed: number): Uint32Array {
  const f = randn(words, seed, 3);
  if (kind === 'f32') {
    f.set([3.4028234e38, -3.4028234e38, 1e-45, -0].slice(0, words));
    return new Uint32Array(f.buffer);
  }
  const out = new Uint32Array(words);
  const edge = kind === 'f16' ? [0x7bff, 0xfbff, 0x0001, 0x8000] : [0x7f7f, 0xff7f, 0x0001, 0x8000];
  for (let i = 0; i < words; i++) {
    const bits = new Uint32Array(new Float32Array([f[i]]).buffer)[0];
    // Any 15 low bits below the exponent-all-ones pattern are finite: keep the top of the f32 pattern, clear one exponent bit.
    const half = kind === 'bf16' ? (bits >>> 16) & 0xffbf : ((bits >>> 16) & 0x83ff) | 0x3800;
    out[i] = half | (half << 16);
  }
  for (let i = 0; i < Math.min(words, 2); i++) out[i] = edge[2 * i] | (edge[2 * i + 1] << 16);
  return out;
}

const BAD: Record<Kind, number[]> = {
  f32: [0x7fc00000, 0x7f800000, 0xff800000, 0xffffffff, 0x7f800001],
  f16: [0x7e00, 0x7c00, 0xfc00, 0xffff],
  bf16: [0x7fc0, 0x7f80, 0xff80, 0xffff],
};

function poke(kind: Kind, w: Uint32Array, at: number, high: boolean, bad: number): Uint32Array {
  const out = w.slice();
  if (kind === 'f32') out[at] = bad;
  else out[at] = high ? ((out[at] & 0xffff) | (bad << 16)) >>> 0 : ((out[at] & 0xffff0000) | bad) >>> 0;
  return out;
}

function upload(gpu: Gpu, kind: Kind, words: Uint32Array): Tensor {
  const n = kind === 'f32' ? words.length : 2 * words.length;
  const t = createTensor(gpu, `x.${kind}`, kind as DType, [n]);
  writeTensor(gpu, t, words);
  return t;
}

async function check(gpu: Gpu, items: Array<{ kind: Kind; words: Uint32Array; tag: number }>): Promise<number> {
  const flag = createTensor(gpu, 'flag', 'u32', [1]);
  writeTensor(gpu, flag, new Uint32Array([FINITE_NONE]));
  const xs = items.map((it) => upload(gpu, it.kind, it.words));
  await runOnce(gpu, 'check_finite', items.map((it, i) => checkFinite(gpu, { x: xs[i], flag, tag: it.tag })));
  const got = (await readU32(gpu, flag))[0];
  for (const x of xs) x.buffer.destroy();
  flag.buffer.destroy();
  return got;
}

describe('check_finite', () => {
  it('compiles every variant', async () => {
    const gpu = await testGpu();
    await gpu.pipelines.prepare(Object.values(finiteKernels));
    for (const k of Object.values(finiteKernels)) expect(gpu.pipelines.has(k)).toBe(true);
  });

  for (const kind of ['f32', 'f16', 'bf16'] as const) {
    for (const words of [1, 3, 257, 70001]) {
      it(`${kind}, ${words} words: finite edge values pass; NaN / +-inf at the start, the end, either half is flagged`, async () => {
        const gpu = await testGpu();
        const clean = finiteWords(kind, words, words);
        const items = [{ kind, words: clean, tag: 0 }];
        let tag = 1;
        for (const bad of BAD[kind]) {
          for (const at of [0, words - 1, words >> 1]) {
            for (const high of kind === 'f32' ? [false] : [false, true]) items.push({ kind, words: poke(kind, clean, at, high, bad), tag: tag++ });
          }
        }
        expect(await check(gpu, [items[0]])).toBe(firstNonFiniteRef([items[0]]));
        expect(firstNonFiniteRef([items[0]])).toBe(FINITE_NONE);
        // Each damaged copy alone, then all together with the damaged ones in reverse tag order.
        for (const it of items.slice(1, 6)) expect(await check(gpu, [items[0], it]), `tag ${it.tag}`).toBe(it.tag);
        const reversed = [items[0], ...items.slice(1).reverse()];
        expect(await check(gpu, reversed)).toBe(firstNonFiniteRef(reversed));
        expect(firstNonFiniteRef(reversed)).toBe(1);
      });
    }
  }

  it('folds the grid past the per-dimension workgroup limit', async () => {
    const gpu = await freshGpu({ capLimits: { maxComputeWorkgroupsPerDimension: 3 } });
    try {
      const words = 256 * 16 * 7 + 5;
      const x = upload(gpu, 'f32', poke('f32', finiteWords('f32', words, 9), words - 1, false, 0x7fc00000));
      const flag = createTensor(gpu, 'flag', 'u32', [1]);
      writeTensor(gpu, flag, new Uint32Array([FINITE_NONE]));
      const d = checkFinite(gpu, { x, flag, tag: 42 });
      expect(d.workgroups).toEqual([3, 3, 1]);
      await runOnce(gpu, 'fold', [d]);
      expect((await readU32(gpu, flag))[0]).toBe(42);
    } finally {
      gpu.destroy();
    }
  });

  it('throws ShapeError before GPU work on bad arguments', async () => {
    const gpu = await testGpu();
    const x = createTensor(gpu, 'x', 'f32', [8]);
    const flag = createTensor(gpu, 'flag', 'u32', [1]);
    expect(() => checkFinite(gpu, { x: createTensor(gpu, 'q', 'q8', [32]), flag, tag: 0 })).toThrow(ShapeError);
    expect(() => checkFinite(gpu, { x: createTensor(gpu, 'u', 'u32', [4]), flag, tag: 0 })).toThrow(ShapeError);
    expect(() => checkFinite(gpu, { x, flag: createTensor(gpu, 'f', 'f32', [1]), tag: 0 })).toThrow(ShapeError);
    expect(() => checkFinite(gpu, { x, flag, tag: FINITE_NONE })).toThrow(ShapeError);
    expect(() => checkFinite(gpu, { x, flag, tag: 1.5 })).toThrow(ShapeError);
    expect(() => checkFinite(gpu, { x: flag, flag, tag: 0 })).toThrow(ShapeError);
  });
});
