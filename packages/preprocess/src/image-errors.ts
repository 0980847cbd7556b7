import { G3nError } from '@g3n/gpu/errors';

/** Why an image was refused: the `reason` detail of an ImageError. */
export type ImageErrorReason = 'empty' | 'bad-size' | 'undecodable' | 'unsupported' | 'too-large' | 'config';

/**
 * An image the preprocessor cannot use: a zero-sized image or one whose pixel data does not match
 * its size, data the browser cannot decode, a source kind or texture format it does not take, an
 * image too large for the GPU's buffer limits (downscale it first), or a bad target size in
 * preprocessor_config.json. `details.reason` says which.
 */
export class ImageError extends G3nError {
  /** Kept as a literal so that it survives minification. */
  override name = 'ImageError';
  constructor(reason: ImageErrorReason, message: string, details: Record<string, unknown> = {}) {
    super(reason === 'config' ? 'BAD_CONFIG' : 'BAD_INPUT', message, { reason, ...details });
  }
}
