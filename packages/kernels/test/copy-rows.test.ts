import { describe, expect, it } from 'vitest';
import { createTensor, readU32, runOnce, ShapeError, writeTensor } from '@g3n/gpu';
import { copyRows, copyRowsKernels } from '../src/copy-rows.ts';
import { copyRowsRef } from '../src/ref/copy-rows.ts';
import { freshGpu, testGpu } from './util.ts';

/** Deterministic distinct-looking words (a multiplicative hash of the index and a seed). */
function words(n: number, seed: number): Uint32Array {
  return Uint32Array.from({ length: n }, (_, i) => (Math.imul(i + 1, 0x9e3779b1) ^ Math.imul(seed, 0x85ebca6b)) >>> 0);
}

function firstMismatches(got: Uint32Array, want: Uint32Array): string[] {
  const bad: string[] = [];
  for (let i = 0; i < want.length && bad.length < 8; i++) if (got[i] !== want[i]) bad.push(`[${i}] got ${got[i]} expected ${want[i]}`);
  return bad;
}

const cases = [
  { rows: 1, rowWords: 1, srcOffset: 0, srcStride: 1, dstOffset: 0, dstStride: 1 },
  { rows: 7, rowWords: 3, srcOffset: 0, srcStride: 3, dstOffset: 2, dstStride: 11 },
  { rows: 33, rowWords: 8, srcOffset: 5, srcStride: 8, dstOffset: 16, dstStride: 40 },
  { rows: 100, rowWords: 5, srcOffset: 1, srcStride: 9, dstOffset: 0, dstStride: 5 },
  { rows: 3, rowWords: 257, srcOffset: 0, srcStride: 300, dstOffset: 7, dstStride: 1000 },
  { rows: 513, rowWords: 2, srcOffset: 0, srcStride: 2, dstOffset: 1, dstStride: 6 },
];

describe('copy_rows', () => {
  it('compiles every variant', async () => {
    const gpu = await testGpu();
    await gpu.pipelines.prepare(Object.values(copyRowsKernels));
    for (const k of Object.values(copyRowsKernels)) expect(gpu.pipelines.has(k)).toBe(true);
  });

  for (const c of cases) {
    it(`rows=${c.rows} rowWords=${c.rowWords} src ${c.srcOffset}+r*${c.srcStride} -> dst ${c.dstOffset}+r*${c.dstStride}: equals the reference, the rest of dst untouched`, async () => {
      const gpu = await testGpu();
      const srcN = c.srcOffset + (c.rows - 1) * c.srcStride + c.rowWords + 3;
      const dstN = c.dstOffset + (c.rows - 1) * c.dstStride + c.rowWords + 5;
      const srcWords = words(srcN, 1);
      const prior = words(dstN, 2);
      const src = createTensor(gpu, 'src', 'u32', [srcN]);
      const dst = createTensor(gpu, 'dst', 'u32', [dstN]);
      writeTensor(gpu, src, srcWords);
      writeTensor(gpu, dst, prior);
      await runOnce(gpu, 'copy_rows', [copyRows(gpu, { src, dst, ...c })]);
      const got = await readU32(gpu, dst);
      const want = copyRowsRef(srcWords, prior, c);
      expect(firstMismatches(got, want)).toEqual([]);
      let changed = 0;
      for (let i = 0; i < dstN; i++) if (want[i] !== prior[i]) changed++;
      expect(changed).toBe(c.rows * c.rowWords);
      src.buffer.destroy();
      dst.buffer.destroy();
    });
  }

  it('copies bf16 and q4 tables word for word, whatever the dtype labels', async () => {
    const gpu = await testGpu();
    const src = createTensor(gpu, 'block', 'q4', [4, 64]);
    const dst = createTensor(gpu, 'table', 'q4', [4, 192]);
    const data = words(32, 3);
    writeTensor(gpu, src, data);
    writeTensor(gpu, dst, new Uint32Array(96));
    await runOnce(gpu, 'copy_rows.q4', [copyRows(gpu, { src, dst, rows: 4, rowWords: 8, srcOffset: 0, srcStride: 8, dstOffset: 16, dstStride: 24 })]);
    const got = await readU32(gpu, { ...dst, dtype: 'u32', shape: [96] });
    expect(Array.from(got)).toEqual(Array.from(copyRowsRef(data, new Uint32Array(96), { rows: 4, rowWords: 8, srcOffset: 0, srcStride: 8, dstOffset: 16, dstStride: 24 })));
  });

  it('folds the grid past the per-dimension workgroup limit', async () => {
    const gpu = await freshGpu({ capLimits: { maxComputeWorkgroupsPerDimension: 4 } });
    try {
      const c = { rows: 40, rowWords: 70, srcOffset: 3, srcStride: 70, dstOffset: 1, dstStride: 71 };
      const srcWords = words(3 + 40 * 70, 4);
      const src = createTensor(gpu, 'src', 'u32', [srcWords.length]);
      const dst = createTensor(gpu, 'dst', 'u32', [1 + 40 * 71]);
      writeTensor(gpu, src, srcWords);
      writeTensor(gpu, dst, new Uint32Array(1 + 40 * 71));
      const d = copyRows(gpu, { src, dst, ...c });
      expect(d.workgroups).toEqual([4, 3, 1]);
      await runOnce(gpu, 'copy_rows.fold', [d]);
      expect(firstMismatches(await readU32(gpu, dst), copyRowsRef(srcWords, new Uint32Array(1 + 40 * 71), c))).toEqual([]);
    } finally {
      gpu.destroy();
    }
  });

  it('throws ShapeError before GPU work on bad arguments', async () => {
    const gpu = await testGpu();
    const src = createTensor(gpu, 'src', 'u32', [64]);
    const dst = createTensor(gpu, 'dst', 'u32', [64]);
    const ok = { src, dst, rows: 4, rowWords: 8, srcOffset: 0, srcStride: 8, dstOffset: 0, dstStride: 16 };
    expect(() => copyRows(gpu, ok)).not.toThrow();
    expect(() => copyRows(gpu, { ...ok, rows: 0 })).toThrow(ShapeError);
    expect(() => copyRows(gpu, { ...ok, rowWords: 1.5 })).toThrow(ShapeError);
    expect(() => copyRows(gpu, { ...ok, dstOffset: -1 })).toThrow(ShapeError);
    expect(() => copyRows(gpu, { ...ok, dstStride: 4 })).toThrow(/overlap/);
    expect(() => copyRows(gpu, { ...ok, dstOffset: 9 })).toThrow(/overruns dst/);
    expect(() => copyRows(gpu, { ...ok, srcOffset: 33 })).toThrow(/overruns src/);
    expect(() => copyRows(gpu, { ...ok, dst: src })).toThrow(/share a GPU buffer/);
  });
});
