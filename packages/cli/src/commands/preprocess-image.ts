/**
 * `g3n preprocess-image (--rgba <file> --size <W>x<H> | --image <png|jpg>) --out <out.safetensors>
 *  [--target <N or W>x<H>] [--model <dir>]`
 *
 * Runs the Gemma 3n image preprocessing on the GPU (preprocessImage: RGB, antialiased bilinear
 * resize, 1/255) and writes `pixel_values` F32 [3, H, W] as safetensors. The target size is --target,
 * else the `size` of --model's preprocessor_config.json, else 768 x 768. --image decodes PNG (pngjs)
 * or JPEG (jpeg-js) on the CPU; --rgba reads raw row-major RGBA8 of the given size.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requestNodeGpu } from '@g3n/gpu/node';
import { ImageError, imageSizeFromPreprocessorConfig, preprocessImage, readPixelValues, type ImageSize, type RawImage } from '@g3n/preprocess';
import { writeSafetensors } from '@g3n/weights';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { checkOutputPath, HelpRequested, parseArgs, required } from '../args.ts';

const USAGE =
  'usage: g3n preprocess-image (--rgba <file> --size <W>x<H> | --image <file.png|jpg>) --out <out.safetensors> [--target <N or W>x<H>] [--model <dir with preprocessor_config.json>]';

function readBytes(path: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new Error(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** `W`x`H`, or a single side N for N x N when `square` is allowed. */
function parseSize(text: string, option: string, square: boolean): ImageSize {
  const m = /^(\d+)(?:x(\d+))?$/.exec(text);
  if (!m || (!square && m[2] === undefined)) throw new Error(`--${option} must be ${square ? '<N> or ' : ''}<W>x<H>, got '${text}'`);
  const width = Number(m[1]);
  const height = Number(m[2] ?? m[1]);
  if (width < 1 || height < 1) throw new Error(`--${option} ${text}: sides must be at least 1`);
  return { width, height };
}

/** PNG or JPEG file bytes to RGBA8 pixels, by their signature. */
export function decodeImageFile(bytes: Uint8Array, path: string): RawImage {
  const isPng = bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const isJpeg = bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  if (!isPng && !isJpeg) throw new ImageError('undecodable', `${path} is neither a PNG nor a JPEG file`);
  try {
    if (isPng) {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return { data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength), width: png.width, height: png.height };
    }
    const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true });
    return { data: img.data, width: img.width, height: img.height };
  } catch (e) {
    throw new ImageError('undecodable', `${path}: ${isPng ? 'PNG' : 'JPEG'} could not be decoded: ${(e as Error).message}`);
  }
}

function targetSize(args: Map<string, string>): ImageSize {
  const target = args.get('target');
  if (target !== undefined) return parseSize(target, 'target', true);
  const model = args.get('model');
  if (model === undefined) return imageSizeFromPreprocessorConfig(undefined);
  let text: string;
  try {
    text = readFileSync(join(model, 'preprocessor_config.json'), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return imageSizeFromPreprocessorConfig(undefined);
    throw new Error(`cannot read ${join(model, 'preprocessor_config.json')}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch {
    throw new ImageError('config', `${join(model, 'preprocessor_config.json')} is not valid JSON`);
  }
  return imageSizeFromPreprocessorConfig(config);
}

export async function preprocessImageCommand(argv: string[]): Promise<void> {
  let args: Map<string, string>;
  let out: string;
  try {
    args = parseArgs(argv, ['rgba', 'size', 'image', 'out', 'target', 'model'], USAGE);
    out = required(args, 'out');
    if (args.has('rgba') === args.has('image')) throw new Error('give exactly one of --rgba and --image');
    if (args.has('rgba') && !args.has('size')) throw new Error('--rgba needs --size <W>x<H>');
    if (args.has('image') && args.has('size')) throw new Error('--size is for --rgba only (an image file knows its size)');
  } catch (e) {
    if (e instanceof HelpRequested) throw e;
    throw new Error(`${(e as Error).message}; ${USAGE}`);
  }
  checkOutputPath(out, 'out');
  const size = targetSize(args);
  let image: RawImage;
  if (args.has('rgba')) {
    const { width, height } = parseSize(args.get('size')!, 'size', false);
    image = { data: readBytes(args.get('rgba')!, 'RGBA8 file'), width, height };
  } else {
    const path = args.get('image')!;
    image = decodeImageFile(readBytes(path, 'image'), path);
  }

  const gpu = await requestNodeGpu();
  try {
    const pixelValues = await preprocessImage(gpu, image, { size });
    const data = await readPixelValues(gpu, pixelValues);
    pixelValues.buffer.destroy();
    const bytes = writeSafetensors([{ name: 'pixel_values', dtype: 'F32', shape: [3, size.height, size.width], data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) }]);
    try {
      writeFileSync(out, bytes);
    } catch (e) {
      throw new Error(`cannot write ${out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  } finally {
    gpu.destroy();
  }
  console.log(`pixel_values [3, ${size.height}, ${size.width}] from a ${image.width} x ${image.height} image -> ${out}`);
}
