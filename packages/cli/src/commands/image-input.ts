/** Image input of the CLI: pixel_values read with readTensorSpec, checked against the checkpoint's vision tower before any GPU work. */
import type { Gpu, Tensor } from '@g3n/gpu';
import { checkImagePlaceholders, loadVisionTower, parseVisionConfig, VisionInputError, VisionTowerMissingError, visionWeightTable, type ModelConfig, type VisionConfig } from '@g3n/gemma3n';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { preprocessImage, readPixelValues, type ImageSize, type RawImage } from '@g3n/preprocess';
import type { ModelWeights } from '@g3n/weights';
import { readTensorSpec, type TensorFromFile } from './audio-input.ts';
import { decodeImageFile } from './preprocess-image.ts';

/** The checkpoint's vision configuration (VisionTowerMissingError without one) and every image's shape ([3, H, W]). */
export function checkVisionInput(cfg: ModelConfig, weights: Pick<ModelWeights, 'tensors'>, images: readonly TensorFromFile[]): VisionConfig {
  const vc = parseVisionConfig(cfg);
  if (!vc) throw new VisionTowerMissingError('config.json has no vision_config');
  visionWeightTable(vc, weights.tensors);
  for (const im of images) {
    const s = im.shape;
    if (s.length !== 3 || s[0] !== 3 || s[1] < 32 || s[2] < 32) {
      throw new VisionInputError('pixel-shape', `pixel_values must be f32 [3, height, width] with sides of at least 32; '${im.name}' is [${s.join(', ')}]`, { shape: s });
    }
  }
  return vc;
}

/**
 * Before any GPU work: with images, or with image placeholders in the prompt, the checkpoint must have a
 * vision tower, every image must be [3, H, W] and the prompt must hold exactly tokensPerImage
 * placeholders per image (VisionInputError otherwise).
 */
export function checkImagePrompt(cfg: ModelConfig, weights: Pick<ModelWeights, 'tensors'>, ids: readonly number[], images: readonly TensorFromFile[]): void {
  const placeholders = cfg.imageTokenId !== null && ids.includes(cfg.imageTokenId);
  if (images.length === 0 && !placeholders) return;
  const vc = checkVisionInput(cfg, weights, images);
  if (vc.imageTokenId === null) throw new VisionInputError('placeholder-count', 'config.json has no image_token_id, so the prompt cannot hold images');
  checkImagePlaceholders(ids, vc.imageTokenId, vc.tokensPerImage, images.length);
}

/** Each image's soft tokens [tokensPerImage, text hidden] on the GPU, in order; the tower is freed before returning. */
export async function encodeImages(gpu: Gpu, cfg: ModelConfig, weights: ModelWeights, images: readonly TensorFromFile[]): Promise<Tensor[]> {
  const tower = await loadVisionTower(gpu, cfg, weights);
  try {
    return (await tower.encode(images.map((im) => ({ data: im.data, shape: im.shape })))).map((e) => e.softTokens);
  } finally {
    tower.destroy();
  }
}

/** One image argument of g3n run, in the order given: preprocessed pixel values, or a PNG/JPEG file preprocessed on the GPU. */
export type ImageArg = { kind: 'pixel-values'; tensor: TensorFromFile } | { kind: 'image'; path: string; raw: RawImage };

/** Take every `--pixel-values <file>:<tensor>` and `--image <png|jpg>` out of argv, keeping their relative order. */
export function takeImageArgs(argv: string[]): { rest: string[]; images: ImageArg[] } {
  const rest: string[] = [];
  const images: ImageArg[] = [];
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if ((flag === '--pixel-values' || flag === '--image') && value !== undefined && !value.startsWith('--')) {
      i++;
      if (flag === '--pixel-values') images.push({ kind: 'pixel-values', tensor: readTensorSpec(value, 'pixel-values') });
      else images.push({ kind: 'image', path: value, raw: decodeImageFile(readImageBytes(value), value) });
    } else {
      rest.push(flag);
    }
  }
  return { rest, images };
}

function readImageBytes(path: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new Error(`--image: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** The shape checks of checkImagePrompt: a decoded file becomes [3, S, S] at the processor's size. */
export function imageShapes(images: readonly ImageArg[], size: ImageSize): TensorFromFile[] {
  return images.map((im) => (im.kind === 'pixel-values' ? im.tensor : { name: im.path, shape: [3, size.height, size.width], data: new Float32Array(0) }));
}

/** Pixel values of every image argument, files resized and rescaled on the GPU by preprocessImage. */
export async function pixelValues(gpu: Gpu, images: readonly ImageArg[], size: ImageSize): Promise<TensorFromFile[]> {
  const out: TensorFromFile[] = [];
  for (const im of images) {
    if (im.kind === 'pixel-values') {
      out.push(im.tensor);
      continue;
    }
    const t = await preprocessImage(gpu, im.raw, { size });
    try {
      out.push({ name: im.path, shape: [...t.shape], data: await readPixelValues(gpu, t) });
    } finally {
      t.buffer.destroy();
    }
  }
  return out;
}

/** The parsed preprocessor_config.json of a checkpoint folder, or undefined where it has none. */
export function readPreprocessorConfig(dir: string): unknown {
  let text: string;
  try {
    text = readFileSync(join(dir, 'preprocessor_config.json'), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read ${join(dir, 'preprocessor_config.json')}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${join(dir, 'preprocessor_config.json')} is not valid JSON`);
  }
}
