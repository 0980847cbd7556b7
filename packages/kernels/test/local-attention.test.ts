import { describe, expect, it } from 'vitest';
import { createTensor, readF32, runOnce, ShapeError, tensorFromF32, writeTensor } from '@g3n/gpu';
import { localAttention, localAttentionKernels } from '../src/local-attention.ts';
import { localAttentionRef } from '../src/ref/local-attention.ts';
import { expectClose, randn, testGpu } from './util.ts';

// f32 dots over head_dim and an f32 softmax of <= 14 soft-capped logits.
const TOL = { atol: 2e-5, rtol: 1e-4 };

describe('local_attention', () => {
  it('compiles every variant', async () => {
    const gpu = await testGpu();
    await gpu.pipelines.prepare(Object.values(localAttentionKernels));
    for (const k of Object.values(localAttentionKernels)) expect(gpu.pipelines.has(k)).toBe(true);
  });

  const cases = [
    // rows, heads, headDim, left, right, chunk, cap, padded tail frames
    [50, 4, 8, 12, 0, 12, 50, 0],
    [37, 2, 19, 12, 0, 12, 50, 9],
    [1, 1, 3, 4, 0, 4, 5, 0],
    [30, 3, 64, 5, 2, 6, 50, 30],
    [25, 2, 97, 12, 0, 12, 2, 11],
  ];
  for (const [rows, heads, headDim, left, right, chunk, cap, padded] of cases) {
    it(`rows=${rows} heads=${heads} headDim=${headDim} left=${left} right=${right} chunk=${chunk} cap=${cap} padded=${padded}`, async () => {
      const gpu = await testGpu();
      const width = heads * headDim;
      const q = randn(rows * width, rows + 1, 1.5);
      const k = randn(rows * width, rows + 2, 1.5);
      const v = randn(rows * width, rows + 3);
      const rel = randn((left + 1 + right) * width, rows + 4, 0.5);
      const qscale = randn(headDim, rows + 5, 0.5);
      const mask = Uint32Array.from({ length: rows }, (_, i) => (i < rows - padded ? 1 : 0));
      // q, k, v interleaved in rows of stride 3 * width + 5 at offsets 5, 5 + 2 * width, 5 + width
      const stride = 3 * width + 5;
      const qkv = new Float32Array(rows * stride).fill(Number.NaN);
      for (let t = 0; t < rows; t++) {
        qkv.set(q.subarray(t * width, (t + 1) * width), t * stride + 5);
        qkv.set(k.subarray(t * width, (t + 1) * width), t * stride + 5 + 2 * width);
        qkv.set(v.subarray(t * width, (t + 1) * width), t * stride + 5 + width);
      }
      const tm = createTensor(gpu, 'mask', 'u32', [rows]);
      writeTensor(gpu, tm, mask);
      const out = createTensor(gpu, 'out', 'f32', [rows, width]);
      await runOnce(gpu, 'local_attention', [
        localAttention(gpu, {
          qkv: tensorFromF32(gpu, 'qkv', [rows, stride], qkv),
          rowStride: stride,
          qOffset: 5,
          kOffset: 5 + 2 * width,
          vOffset: 5 + width,
          rel: tensorFromF32(gpu, 'rel', [left + 1 + right, width], rel),
          qscale: tensorFromF32(gpu, 'qscale', [headDim], qscale),
          mask: tm,
          out,
          rows,
          heads,
          headDim,
          left,
          right,
          chunk,
          cap,
        }),
      ]);
      const got = await readF32(gpu, out);
      expect(got.every(Number.isFinite)).toBe(true);
      expectClose('local attention', got, localAttentionRef({ q, k, v, rel, qscale, mask, rows, heads, headDim, left, right, chunk, cap }), TOL);
    });
  }

  it('throws ShapeError before GPU work on bad arguments', async () => {
    const gpu = await testGpu();
    const qkv = createTensor(gpu, 'qkv', 'f32', [10, 24]);
    const rel = createTensor(gpu, 'rel', 'f32', [13, 8]);
    const qscale = createTensor(gpu, 'qscale', 'f32', [4]);
    const mask = createTensor(gpu, 'mask', 'u32', [10]);
    const out = createTensor(gpu, 'out', 'f32', [10, 8]);
    const base = { qkv, rowStride: 24, qOffset: 0, kOffset: 8, vOffset: 16, rel, qscale, mask, out, rows: 10, heads: 2, headDim: 4, left: 12, right: 0, chunk: 12, cap: 50 };
    expect(() => localAttention(gpu, base)).not.toThrow();
    expect(() => localAttention(gpu, { ...base, vOffset: 17 })).toThrow(ShapeError);
    expect(() => localAttention(gpu, { ...base, left: 13 })).toThrow(ShapeError);
    expect(() => localAttention(gpu, { ...base, left: 300 })).toThrow(ShapeError);
    expect(() => localAttention(gpu, { ...base, mask: out })).toThrow(ShapeError);
    expect(() => localAttention(gpu, { ...base, out: qkv })).toThrow(/share a GPU buffer/);
  });
});
