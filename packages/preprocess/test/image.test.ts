import { describe, expect, it } from 'vitest';
import { G3nError, type Gpu } from '@g3n/gpu';
import { imageResizeRef } from '../../kernels/src/ref/image-resize.ts';
import { testGpu } from '../../kernels/test/util.ts';
import { ImageError } from '../src/image-errors.ts';
import { DEFAULT_IMAGE_SIZE, imageSizeFromPreprocessorConfig, preprocessImage, readPixelValues, type ImageSource, type PreprocessImageOptions } from '../src/image.ts';
import { diffStats, imageFixture, imageGolden, rawPixels } from './image-golden.ts';

async function run(gpu: Gpu, source: ImageSource, options?: PreprocessImageOptions): Promise<{ shape: number[]; data: Float32Array }> {
  const t = await preprocessImage(gpu, source, options);
  const data = await readPixelValues(gpu, t);
  t.buffer.destroy();
  return { shape: t.shape, data };
}

/** An rgba8unorm texture holding the pixels, filled with writeTexture (rows of width * 4 bytes). */
function texture(gpu: Gpu, data: Uint8Array, width: number, height: number, format: GPUTextureFormat = 'rgba8unorm'): GPUTexture {
  const t = gpu.device.createTexture({ label: 'test.image', size: [width, height], format, usage: 0x01 | 0x02 }); // COPY_SRC | COPY_DST
  gpu.device.queue.writeTexture({ texture: t }, data, { bytesPerRow: width * 4, rowsPerImage: height }, [width, height]);
  return t;
}

async function expectImageError(p: Promise<unknown>, reason: string, code = 'BAD_INPUT'): Promise<void> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e, `expected ImageError ${reason}`).toBeInstanceOf(ImageError);
  expect((e as ImageError).code).toBe(code);
  expect((e as ImageError).details.reason).toBe(reason);
}

describe('preprocessImage against the processor goldens (image-preprocess-a)', async () => {
  const fixture = await imageFixture();
  for (const c of fixture.cases) {
    it(`${c.name}: raw RGBA8 and the same pixels as a texture`, async () => {
      const gpu = await testGpu();
      const px = await rawPixels(c);
      const golden = await imageGolden(c);
      const [height, width] = fixture.target;
      const raw = await run(gpu, { data: px, width: c.width, height: c.height }, { size: { width, height } });
      expect(raw.shape).toEqual(c.shape);
      const stats = diffStats(raw.data, golden);
      console.log(`${c.name}: max ${(stats.maxAbs * 255).toFixed(3)}/255, mean ${(stats.meanAbs * 255).toFixed(4)}/255, exact ${(100 * stats.exact).toFixed(2)}%`);
      expect(stats.maxAbs, JSON.stringify(stats)).toBeLessThanOrEqual(fixture.tolerance.max_abs);
      expect(stats.meanAbs, JSON.stringify(stats)).toBeLessThanOrEqual(fixture.tolerance.mean_abs);
      // The texture path reads the same pixels through a GPU copy (rows padded to 256 bytes): same result.
      const tex = texture(gpu, px, c.width, c.height);
      const viaTexture = await run(gpu, tex);
      tex.destroy();
      expect(viaTexture.shape).toEqual([3, DEFAULT_IMAGE_SIZE, DEFAULT_IMAGE_SIZE]);
      expect(diffStats(viaTexture.data, raw.data).maxAbs).toBe(0);
    });
  }
});

describe('the f64 reference resize against the processor goldens', async () => {
  const fixture = await imageFixture();
  for (const c of fixture.cases) {
    it(`${c.name}: at most one level off, almost everywhere exact`, async () => {
      const [height, width] = fixture.target;
      const ref = imageResizeRef({ rgba: await rawPixels(c), width: c.width, height: c.height, outWidth: width, outHeight: height });
      const stats = diffStats(ref, await imageGolden(c));
      // The golden's f64 sums break exact half-level ties by rounding noise; this reference's noise agrees on almost all.
      expect(stats.maxAbs, JSON.stringify(stats)).toBeLessThanOrEqual(1 / 255 + 1e-6);
      expect(stats.exact, JSON.stringify(stats)).toBeGreaterThanOrEqual(0.99);
    });
  }
});

describe('preprocessImage', () => {
  it('resizes to any target size (odd, non-square) like the reference', async () => {
    const gpu = await testGpu();
    const [width, height] = [45, 29];
    const px = new Uint8Array(width * height * 4).map((_, i) => (i * 2654435761) >>> 24);
    for (const size of [{ width: 17, height: 61 }, { width: 90, height: 11 }, 7]) {
      const want = typeof size === 'number' ? { width: size, height: size } : size;
      const got = await run(gpu, { data: px, width, height }, { size });
      expect(got.shape).toEqual([3, want.height, want.width]);
      const stats = diffStats(got.data, imageResizeRef({ rgba: px, width, height, outWidth: want.width, outHeight: want.height }));
      expect(stats.maxAbs, JSON.stringify(stats)).toBeLessThanOrEqual(2 / 255 + 1e-6);
      expect(stats.exact, JSON.stringify(stats)).toBeGreaterThan(0.9);
    }
  });

  it('takes the target size from preprocessor_config.json, 768 without one', () => {
    expect(imageSizeFromPreprocessorConfig(undefined)).toEqual({ width: 768, height: 768 });
    expect(imageSizeFromPreprocessorConfig({ image_processor_type: 'SiglipImageProcessorFast' })).toEqual({ width: 768, height: 768 });
    expect(imageSizeFromPreprocessorConfig({ size: { height: 512, width: 384 } })).toEqual({ width: 384, height: 512 });
    for (const bad of [{ size: { height: 0, width: 768 } }, { size: { height: 768 } }, { size: 768 }, { size: { height: 1.5, width: 2 } }]) {
      expect(() => imageSizeFromPreprocessorConfig(bad), JSON.stringify(bad)).toThrow(ImageError);
      try {
        imageSizeFromPreprocessorConfig(bad);
      } catch (e) {
        expect((e as G3nError).code).toBe('BAD_CONFIG');
      }
    }
  });

  it('refuses empty, mis-sized, undecodable and unsupported images with ImageError', async () => {
    const gpu = await testGpu();
    const px = new Uint8Array(4 * 3 * 4);
    await expectImageError(preprocessImage(gpu, { data: new Uint8Array(0), width: 0, height: 0 }), 'empty');
    await expectImageError(preprocessImage(gpu, { data: px, width: 4, height: 4 }), 'bad-size');
    await expectImageError(preprocessImage(gpu, { data: px, width: 4.5, height: 3 }), 'bad-size');
    for (const size of [0, -3, 2.5, 1e9, { width: 768, height: 0 }]) {
      await expectImageError(preprocessImage(gpu, { data: px, width: 4, height: 3 }, { size }), 'bad-size');
    }
    await expectImageError(preprocessImage(gpu, new Blob([])), 'empty');
    // Node has no image decoder: a file must be decoded to RGBA8 first (the CLI does so).
    await expectImageError(preprocessImage(gpu, new Blob([new Uint8Array([1, 2, 3])])), 'unsupported');
    const bgra = texture(gpu, px, 4, 3, 'bgra8unorm');
    await expectImageError(preprocessImage(gpu, bgra), 'unsupported');
    bgra.destroy();
    await expectImageError(preprocessImage(gpu, { width: 4, height: 3 } as unknown as ImageSource), 'unsupported');
    await expectImageError(preprocessImage(gpu, null as unknown as ImageSource), 'unsupported');
  });
});
