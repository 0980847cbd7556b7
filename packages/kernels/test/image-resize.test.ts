import { describe, expect, it } from 'vitest';
import { createTensor, readF32, readU32, runOnce, ShapeError, writeTensor, type Gpu } from '@g3n/gpu';
import { imageResize, imageResizeKernels } from '../src/image-resize.ts';
import { resampleTaps, resizeColumnsRef, resizeRowsRef, round8 } from '../src/ref/image-resize.ts';
import { testGpu } from './util.ts';

/** Deterministic RGBA8 noise with smooth gradients mixed in, so both flat and busy areas occur. */
function image(width: number, height: number, stride: number, seed: number): Uint8Array {
  let s = seed >>> 0;
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s >>> 24;
  };
  const px = new Uint8Array(stride * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = (y * stride + x) * 4;
      px[at] = rand();
      px[at + 1] = Math.round((255 * x) / Math.max(width - 1, 1));
      px[at + 2] = (x + y) % 2 ? rand() : Math.round((255 * y) / Math.max(height - 1, 1));
      px[at + 3] = rand();
    }
  }
  return px;
}

async function resizeOnGpu(gpu: Gpu, px: Uint8Array, width: number, height: number, stride: number, outWidth: number, outHeight: number) {
  const src = createTensor(gpu, 'image.src', 'u32', [height, stride]);
  writeTensor(gpu, src, px);
  const mid = createTensor(gpu, 'image.mid', 'u32', [height, outWidth]);
  const out = createTensor(gpu, 'image.out', 'f32', [3, outHeight, outWidth]);
  await runOnce(gpu, 'image-resize-test', imageResize(gpu, { src, mid, out, width, height, outWidth, outHeight, rowStride: stride }));
  const packed = await readU32(gpu, mid);
  const got = await readF32(gpu, out);
  for (const t of [src, mid, out]) t.buffer.destroy();
  const levels = new Uint8Array(height * outWidth * 3);
  packed.forEach((w, i) => levels.set([w & 0xff, (w >>> 8) & 0xff, (w >>> 16) & 0xff], i * 3));
  expect(packed.every((w) => w >>> 24 === 0), 'mid holds RGB only').toBe(true);
  return { mid: levels, out: got };
}

/**
 * A pass's 8-bit levels against the f64 sums they round. The GPU sums in f32, so a level may
 * round the other way only where the exact sum lies within TIE of a half (weights of small
 * rational scales make exact halves common); anywhere else it must be the same level.
 */
const TIE = 2e-3;
function compareLevels(label: string, got: ArrayLike<number>, sums: Float64Array) {
  expect(got.length, label).toBe(sums.length);
  const bad: string[] = [];
  for (let i = 0; i < sums.length; i++) {
    const want = round8(sums[i]);
    if (got[i] === want) continue;
    const nearTie = Math.abs(sums[i] - Math.floor(sums[i]) - 0.5) < TIE;
    if (!nearTie || Math.abs(got[i] - want) > 1) bad.push(`[${i}] ${got[i]} vs ${want} (sum ${sums[i]})`);
  }
  expect(bad.slice(0, 6), `${label}: ${bad.length} wrong levels`).toEqual([]);
}

/** The kernel's whole result against both reference passes (the vertical one fed the GPU's own intermediate). */
function compareResize(label: string, px: Uint8Array, width: number, height: number, stride: number, outWidth: number, outHeight: number, got: { mid: Uint8Array; out: Float32Array }) {
  compareLevels(`${label} (horizontal)`, got.mid, resizeRowsRef({ rgba: px, width, height, outWidth, outHeight, rowStride: stride }));
  const levels = Array.from(got.out, (v) => Math.round(v * 255));
  got.out.forEach((v, i) => {
    if (Math.abs(v - levels[i] / 255) > 1e-7) throw new Error(`${label}: out[${i}] = ${v} is not a level / 255`);
  });
  compareLevels(`${label} (vertical)`, levels, resizeColumnsRef(got.mid, height, outWidth, outHeight));
}

describe('resample taps (reference)', () => {
  it('are the identity at scale 1 and normalised, centred and widening when downscaling', () => {
    for (const t of resampleTaps(9, 9).map((t, i) => [t, i] as const)) {
      const [taps, i] = t;
      expect(taps.first + taps.weights.indexOf(1)).toBe(i);
    }
    for (const [n, m] of [[1280, 768], [720, 768], [500, 768], [4000, 768], [3, 1], [1, 5]]) {
      const taps = resampleTaps(n, m);
      const support = Math.max(n / m, 1);
      for (let i = 0; i < m; i++) {
        const { first, weights } = taps[i];
        expect(weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
        expect(first).toBeGreaterThanOrEqual(0);
        expect(first + weights.length).toBeLessThanOrEqual(n);
        expect(weights.length).toBeLessThanOrEqual(2 * Math.ceil(support) + 1);
        // Every input sample within the support of the centre is a tap, and no other.
        const centre = (i + 0.5) * (n / m);
        for (let j = Math.max(0, Math.floor(centre - support) - 2); j < Math.min(n, centre + support + 2); j++) {
          const inside = Math.abs(j + 0.5 - centre) < support;
          const tap = j >= first && j < first + weights.length && weights[j - first] > 0;
          if (tap !== inside) throw new Error(`${n} -> ${m}: output ${i}, input ${j}: tap ${tap}, within the support ${inside}`);
        }
      }
    }
  });
});

describe('image_resize kernel', () => {
  const cases: Array<[string, number, number, number, number, number?]> = [
    ['upscale both, odd', 7, 5, 31, 17],
    ['downscale both, odd', 97, 61, 13, 11],
    ['down x, up y (webcam-like)', 160, 90, 96, 96],
    ['up x, down y', 9, 120, 40, 7],
    ['identity', 13, 9, 13, 9],
    ['one pixel to many', 1, 1, 5, 3],
    ['to one pixel', 50, 33, 1, 1],
    ['strong downscale (support 12+)', 301, 203, 23, 16],
    ['padded rows (row stride 64 > width 45)', 45, 21, 30, 33, 64],
  ];
  for (const [label, width, height, outWidth, outHeight, stride = width] of cases) {
    it(`${label}: ${width}x${height} -> ${outWidth}x${outHeight}`, async () => {
      const gpu = await testGpu();
      const px = image(width, height, stride, width * 131 + height);
      const got = await resizeOnGpu(gpu, px, width, height, stride, outWidth, outHeight);
      compareResize(label, px, width, height, stride, outWidth, outHeight, got);
    });
  }

  it('keeps a flat colour flat and ignores alpha', async () => {
    const gpu = await testGpu();
    const px = new Uint8Array(37 * 23 * 4);
    for (let i = 0; i < 37 * 23; i++) px.set([200, 17, 99, i % 256], i * 4);
    const { out } = await resizeOnGpu(gpu, px, 37, 23, 37, 19, 41);
    const plane = 19 * 41;
    for (const [c, v] of [[0, 200], [1, 17], [2, 99]]) {
      const worst = Math.max(...Array.from(out.subarray(c * plane, (c + 1) * plane), (x) => Math.abs(x - v / 255)));
      expect(worst, `channel ${c}`).toBeLessThanOrEqual(1.2e-7);
    }
  });

  it('throws ShapeError before GPU work for bad sizes and tensors', async () => {
    const gpu = await testGpu();
    const src = createTensor(gpu, 'src', 'u32', [4, 4]);
    const mid = createTensor(gpu, 'mid', 'u32', [4, 8]);
    const out = createTensor(gpu, 'out', 'f32', [3, 8, 8]);
    const ok = { src, mid, out, width: 4, height: 4, outWidth: 8, outHeight: 8 };
    expect(imageResize(gpu, ok).map((d) => d.kernel)).toEqual([imageResizeKernels.horizontal, imageResizeKernels.vertical]);
    for (const bad of [
      { width: 0 },
      { outHeight: 0 },
      { outWidth: 2.5 },
      { rowStride: 3 },
      { height: 5 },
      { outWidth: 9 },
      { outHeight: 9 },
      { src: out },
      { out: mid },
      { mid: src },
    ]) {
      expect(() => imageResize(gpu, { ...ok, ...bad }), JSON.stringify(Object.keys(bad))).toThrow(ShapeError);
    }
    for (const t of [src, mid, out]) t.buffer.destroy();
  });
});
