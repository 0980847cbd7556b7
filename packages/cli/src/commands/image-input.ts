/** Image input of the CLI: pixel_values read with readTensorSpec, checked against the checkpoint's vision tower before any GPU work. */
import type { Gpu, Tensor } from '@g3n/gpu';
import { checkImagePlaceholders, loadVisionTower, parseVisionConfig, VisionInputError, VisionTowerMissingError, visionWeightTable, type ModelConfig, type VisionConfig } from '@g3n/gemma3n';
import type { ModelWeights } from '@g3n/weights';
import type { TensorFromFile } from './audio-input.ts';

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
