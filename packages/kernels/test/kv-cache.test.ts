import { describe, expect, it } from 'vitest';
import { readF32, runOnce, ShapeError, tensorFromF32 } from '@g3n/gpu';
import { kvAppend, kvCacheKernels } from '../src/kv-cache.ts';
import { kvAppendRef } from '../src/ref/kv-cache.ts';
import { expectClose, randn, testGpu } from './util.ts';

// A copy: exact.
const TOL = { atol: 0, rtol: 0 };

const cases = [
  { rows: 1, nKV: 2, headDim: 8, pos0: 0, capacity: 4 },
  { rows: 7, nKV: 2, headDim: 32, pos0: 3, capacity: 16 },
  { rows: 33, nKV: 1, headDim: 64, pos0: 10, capacity: 40 },
  { rows: 5, nKV: 3, headDim: 256, pos0: 18, capacity: 20 },
  { rows: 20, nKV: 2, headDim: 8, pos0: 1001, capacity: 20 },
  { rows: 2, nKV: 2, headDim: 256, pos0: 511, capacity: 512 },
];

describe('kv_append', () => {
  it('compiles every variant', async () => {
    const gpu = await testGpu();
    await gpu.pipelines.prepare(Object.values(kvCacheKernels));
    for (const k of Object.values(kvCacheKernels)) expect(gpu.pipelines.has(k), k.key).toBe(true);
  });

  it.each(cases)('T=$rows nKV=$nKV D=$headDim pos0=$pos0 capacity=$capacity', async (c) => {
    const gpu = await testGpu();
    const cacheN = c.nKV * c.capacity * c.headDim;
    const k0 = randn(cacheN, 1);
    const v0 = randn(cacheN, 2);
    const k = randn(c.rows * c.nKV * c.headDim, 3);
    const v = randn(c.rows * c.nKV * c.headDim, 4);
    const kCache = tensorFromF32(gpu, 'k_cache', [c.nKV, c.capacity, c.headDim], k0);
    const vCache = tensorFromF32(gpu, 'v_cache', [c.nKV, c.capacity, c.headDim], v0);
    const tk = tensorFromF32(gpu, 'k', [c.rows, c.nKV, c.headDim], k);
    const tv = tensorFromF32(gpu, 'v', [c.rows, c.nKV, c.headDim], v);
    await runOnce(gpu, 'kv_append', [kvAppend(gpu, { k: tk, v: tv, kCache, vCache, ...c })]);
    expectClose('k_cache', await readF32(gpu, kCache), kvAppendRef(k0, k, c), TOL);
    expectClose('v_cache', await readF32(gpu, vCache), kvAppendRef(v0, v, c), TOL);
  });

  it('guards reject shapes before any GPU work', async () => {
    const gpu = await testGpu();
    const t = (shape: number[]) => tensorFromF32(gpu, 'x', shape, new Float32Array(shape.reduce((a, b) => a * b, 1)));
    const ok = { k: t([4, 2, 8]), v: t([4, 2, 8]), kCache: t([2, 4, 8]), vCache: t([2, 4, 8]), rows: 4, nKV: 2, headDim: 8, pos0: 0, capacity: 4 };
    expect(() => kvAppend(gpu, ok)).not.toThrow();
    expect(() => kvAppend(gpu, { ...ok, rows: 5, k: t([5, 2, 8]), v: t([5, 2, 8]) })).toThrow(/overwrite/);
    expect(() => kvAppend(gpu, { ...ok, capacity: 5 })).toThrow(ShapeError);
    expect(() => kvAppend(gpu, { ...ok, pos0: -1 })).toThrow(ShapeError);
    expect(() => kvAppend(gpu, { ...ok, v: t([4, 2, 9]) })).toThrow(ShapeError);
  });
});
