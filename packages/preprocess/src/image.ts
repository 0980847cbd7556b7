/**
 * Image preprocessing for Gemma 3n's vision tower (spec §4.1), on the GPU: any image to pixel_values,
 * an f32 tensor [3, H, W] in [0, 1] (RGB, resized to exactly H x W with the processor's antialiased
 * bilinear filter, aspect ratio not kept, rescaled by 1/255, no mean/std).
 *
 * Sources: raw RGBA8 ({ data, width, height }, ImageData included), a Blob or File (decoded with
 * createImageBitmap, no colour-space conversion, no premultiplication), ImageBitmap, VideoFrame,
 * HTMLImageElement, HTMLVideoElement, HTMLCanvasElement, OffscreenCanvas, or an rgba8unorm GPUTexture.
 * Browser frames reach the GPU with copyExternalImageToTexture (no CPU round trip); a texture is
 * copied into a buffer on the GPU and resized by the image_resize kernels.
 */
import { createTensor, readF32, runOnce, writeTensor, type Gpu, type Tensor } from '@g3n/gpu';
import { IMAGE_RESIZE_MAX_SIDE, imageResize } from '@g3n/kernels';
import { ImageError } from './image-errors.ts';

/** The processor's target side when preprocessor_config.json does not give one. */
export const DEFAULT_IMAGE_SIZE = 768;

export interface ImageSize {
  width: number;
  height: number;
}

/** Row-major RGBA8 pixels (alpha is ignored), e.g. ImageData or a decoded PNG. */
export interface RawImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
}

/** Browser image sources that copyExternalImageToTexture takes. */
export type ExternalImage = ImageBitmap | VideoFrame | HTMLImageElement | HTMLVideoElement | HTMLCanvasElement | OffscreenCanvas;

export type ImageSource = RawImage | Blob | GPUTexture | ExternalImage;

export interface PreprocessImageOptions {
  /** Output size: a side (square) or width and height; default 768 (see imageSizeFromPreprocessorConfig). */
  size?: number | ImageSize;
  /** GPU label of the output tensor (default 'pixel_values'). */
  label?: string;
}

// GPUTextureUsage, numeric so that Node needs no globals.
const COPY_SRC = 0x01;
const COPY_DST = 0x02;
const RENDER_ATTACHMENT = 0x10;

function checkSide(what: string, v: unknown, reason: 'bad-size' | 'config'): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > IMAGE_RESIZE_MAX_SIDE) {
    throw new ImageError(reason, `${what} must be an integer from 1 to ${IMAGE_RESIZE_MAX_SIDE}, got ${String(v)}`, { value: v });
  }
  return v;
}

/**
 * The target size from a checkpoint's preprocessor_config.json (`size.height` and `size.width`),
 * 768 x 768 when there is no config or it gives no size.
 */
export function imageSizeFromPreprocessorConfig(config?: unknown): ImageSize {
  const size = (config as { size?: unknown } | null | undefined)?.size;
  if (size === undefined || size === null) return { width: DEFAULT_IMAGE_SIZE, height: DEFAULT_IMAGE_SIZE };
  const s = size as { width?: unknown; height?: unknown };
  if (typeof size !== 'object' || (s.width === undefined && s.height === undefined)) {
    throw new ImageError('config', `preprocessor_config.json: size must be { "height": H, "width": W }, got ${JSON.stringify(size)}`);
  }
  return { width: checkSide('preprocessor_config.json size.width', s.width, 'config'), height: checkSide('preprocessor_config.json size.height', s.height, 'config') };
}

function targetSize(size: PreprocessImageOptions['size']): ImageSize {
  if (size === undefined) return { width: DEFAULT_IMAGE_SIZE, height: DEFAULT_IMAGE_SIZE };
  if (typeof size === 'number') {
    const side = checkSide('size', size, 'bad-size');
    return { width: side, height: side };
  }
  return { width: checkSide('size.width', size.width, 'bad-size'), height: checkSide('size.height', size.height, 'bad-size') };
}

function checkImageSize(width: number, height: number): void {
  if (width === 0 || height === 0) throw new ImageError('empty', `the image is empty (${width} x ${height} pixels)`, { width, height });
  checkSide('image width', width, 'bad-size');
  checkSide('image height', height, 'bad-size');
}

/** The input on the GPU: packed RGBA8 words, row y at y * rowStride. */
interface GpuImage {
  src: Tensor;
  width: number;
  height: number;
  rowStride: number;
}

function allocInput(gpu: Gpu, width: number, height: number, rowStride: number): Tensor {
  const bytes = 4 * rowStride * height;
  const limit = Math.min(gpu.caps.limits.maxStorageBufferBindingSize, gpu.caps.limits.maxBufferSize);
  if (bytes > limit) {
    throw new ImageError('too-large', `a ${width} x ${height} image needs ${bytes} bytes on the GPU, more than this device binds (${limit}); downscale it first`, { width, height });
  }
  return createTensor(gpu, 'image.rgba', 'u32', [height, rowStride]);
}

function isRaw(s: ImageSource): s is RawImage {
  const d = (s as RawImage).data;
  return (d instanceof Uint8Array || d instanceof Uint8ClampedArray) && typeof (s as RawImage).width === 'number';
}

function isTexture(s: ImageSource): s is GPUTexture {
  return typeof (s as GPUTexture).createView === 'function' && typeof (s as GPUTexture).format === 'string';
}

function isBlob(s: ImageSource): s is Blob {
  return typeof Blob !== 'undefined' && s instanceof Blob;
}

function uploadRaw(gpu: Gpu, image: RawImage): GpuImage {
  const { data, width, height } = image;
  checkImageSize(width, height);
  if (data.length !== width * height * 4) {
    throw new ImageError('bad-size', `RGBA8 data of ${data.length} bytes does not match ${width} x ${height} pixels (${width * height * 4} bytes)`, { width, height });
  }
  const src = allocInput(gpu, width, height, width);
  writeTensor(gpu, src, data);
  return { src, width, height, rowStride: width };
}

/** Copy an rgba8unorm texture into a buffer on the GPU (rows padded to 256 bytes). */
function copyTexture(gpu: Gpu, texture: GPUTexture): GpuImage {
  const { width, height } = texture;
  checkImageSize(width, height);
  if (texture.format !== 'rgba8unorm') throw new ImageError('unsupported', `textures must be rgba8unorm, got ${texture.format}`);
  if (!(texture.usage & COPY_SRC)) throw new ImageError('unsupported', 'the texture needs COPY_SRC usage to be read');
  const rowStride = Math.ceil((width * 4) / 256) * 64;
  const src = allocInput(gpu, width, height, rowStride);
  const enc = gpu.device.createCommandEncoder({ label: 'image.copy' });
  enc.copyTextureToBuffer({ texture }, { buffer: src.buffer, offset: src.offset, bytesPerRow: rowStride * 4, rowsPerImage: height }, [width, height]);
  gpu.device.queue.submit([enc.finish()]);
  return { src, width, height, rowStride };
}

function externalSize(s: ExternalImage): ImageSize {
  const v = s as Partial<VideoFrame & HTMLVideoElement & HTMLImageElement & ImageBitmap>;
  const width = v.displayWidth ?? v.videoWidth ?? v.naturalWidth ?? v.width ?? 0;
  const height = v.displayHeight ?? v.videoHeight ?? v.naturalHeight ?? v.height ?? 0;
  return { width, height };
}

async function decode(source: Blob | ExternalImage): Promise<ImageBitmap> {
  if (typeof createImageBitmap !== 'function') {
    throw new ImageError('unsupported', 'this environment cannot decode images (no createImageBitmap); pass RGBA8 pixels instead');
  }
  try {
    return await createImageBitmap(source, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch (e) {
    throw new ImageError('undecodable', `the image could not be decoded: ${(e as Error).message}`);
  }
}

/** A browser image into an rgba8unorm texture (unpremultiplied), then into a buffer. */
async function copyExternal(gpu: Gpu, source: ExternalImage): Promise<GpuImage> {
  const { width, height } = externalSize(source);
  checkImageSize(width, height);
  const texture = gpu.device.createTexture({ label: 'image.texture', size: [width, height], format: 'rgba8unorm', usage: COPY_SRC | COPY_DST | RENDER_ATTACHMENT });
  try {
    const copy = (s: ExternalImage) => gpu.device.queue.copyExternalImageToTexture({ source: s }, { texture, premultipliedAlpha: false }, [width, height]);
    try {
      copy(source);
    } catch (e) {
      // Some browsers refuse a VideoFrame here; an ImageBitmap of it is always accepted.
      if (typeof VideoFrame === 'undefined' || !(source instanceof VideoFrame)) throw new ImageError('unsupported', `the image could not be copied to the GPU: ${(e as Error).message}`);
      const bitmap = await decode(source);
      try {
        copy(bitmap);
      } finally {
        bitmap.close();
      }
    }
    return copyTexture(gpu, texture);
  } finally {
    texture.destroy();
  }
}

async function toGpu(gpu: Gpu, source: ImageSource): Promise<GpuImage> {
  if (source === null || typeof source !== 'object') throw new ImageError('unsupported', `not an image: ${String(source)}`);
  if (isRaw(source)) return uploadRaw(gpu, source);
  if (isTexture(source)) return copyTexture(gpu, source);
  if (isBlob(source)) {
    if (source.size === 0) throw new ImageError('empty', 'the image file is empty');
    const bitmap = await decode(source);
    try {
      return await copyExternal(gpu, bitmap);
    } finally {
      bitmap.close();
    }
  }
  if (typeof (gpu.device.queue as Partial<GPUQueue>).copyExternalImageToTexture !== 'function') {
    throw new ImageError('unsupported', 'browser image sources need a browser WebGPU device; pass RGBA8 pixels or a GPUTexture instead');
  }
  return copyExternal(gpu, source as ExternalImage);
}

/**
 * pixel_values of one image: an f32 GPU tensor [3, H, W] in [0, 1] (the caller owns it; destroy its
 * buffer when done). Throws ImageError (BAD_INPUT) for an empty, undecodable or oversized image or
 * a bad size.
 */
export async function preprocessImage(gpu: Gpu, source: ImageSource, options: PreprocessImageOptions = {}): Promise<Tensor> {
  const size = targetSize(options.size);
  const input = await toGpu(gpu, source);
  let mid: Tensor | null = null;
  let out: Tensor | null = null;
  try {
    const midBytes = 4 * input.height * size.width;
    const outBytes = 12 * size.height * size.width;
    if (Math.max(midBytes, outBytes) > Math.min(gpu.caps.limits.maxStorageBufferBindingSize, gpu.caps.limits.maxBufferSize)) {
      throw new ImageError('too-large', `resizing ${input.width} x ${input.height} to ${size.width} x ${size.height} needs more GPU memory in one buffer than this device binds`);
    }
    mid = createTensor(gpu, 'image.mid', 'u32', [input.height, size.width]);
    out = createTensor(gpu, options.label ?? 'pixel_values', 'f32', [3, size.height, size.width]);
    await runOnce(gpu, 'preprocess-image', imageResize(gpu, { src: input.src, mid, out, width: input.width, height: input.height, outWidth: size.width, outHeight: size.height, rowStride: input.rowStride }));
    const result = out;
    out = null;
    return result;
  } finally {
    input.src.buffer.destroy();
    mid?.buffer.destroy();
    out?.buffer.destroy();
  }
}

/** Read pixel_values back: CHW f32, 3 * H * W values. */
export async function readPixelValues(gpu: Gpu, pixelValues: Tensor): Promise<Float32Array> {
  if (pixelValues.dtype !== 'f32' || pixelValues.shape.length !== 3 || pixelValues.shape[0] !== 3) {
    throw new ImageError('bad-size', `pixel_values must be f32 [3, H, W], got ${pixelValues.dtype} [${pixelValues.shape.join(', ')}]`);
  }
  return readF32(gpu, pixelValues);
}
