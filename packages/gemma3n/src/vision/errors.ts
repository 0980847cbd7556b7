import { G3nError } from '@g3n/gpu/errors';

/** The checkpoint has no vision tower (config.json lacks vision_config, or the weights lack model.vision_tower). */
export class VisionTowerMissingError extends G3nError {
  /** Kept as a literal so that it survives minification. */
  override name = 'VisionTowerMissingError';
  constructor(what: string) {
    super('BAD_CHECKPOINT', `This checkpoint has no vision tower (${what}). Use a Gemma 3n checkpoint that includes model.vision_tower, or send text only.`, { what });
  }
}

export type VisionInputReason = 'pixel-shape' | 'placeholder-count';

/** Image input that does not fit: pixel_values of the wrong shape, or a prompt whose image placeholders do not match the images. */
export class VisionInputError extends G3nError {
  /** Kept as a literal so that it survives minification. */
  override name = 'VisionInputError';
  readonly reason: VisionInputReason;
  constructor(reason: VisionInputReason, message: string, details: Record<string, unknown> = {}) {
    super('BAD_INPUT', message, { reason, ...details });
    this.reason = reason;
  }
}

/** Throw VisionInputError unless `ids` holds exactly `images` x `perImage` image placeholders (`imageTokenId`). */
export function checkImagePlaceholders(ids: ArrayLike<number>, imageTokenId: number, perImage: number, images: number): void {
  let have = 0;
  for (let i = 0; i < ids.length; i++) if (ids[i] === imageTokenId) have++;
  if (have !== images * perImage) {
    throw new VisionInputError(
      'placeholder-count',
      `the prompt holds ${have} image placeholders (id ${imageTokenId}) but ${images} image${images === 1 ? '' : 's'} need ${images * perImage} (${perImage} each)`,
      { placeholders: have, images },
    );
  }
}
