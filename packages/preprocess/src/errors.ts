import { G3nError } from '@g3n/gpu/errors';

/** A tokenizer file that cannot be used, or a value the tokenizer cannot encode or decode. */
export class TokenizerError extends G3nError {
  /** Kept as a literal so that it survives minification. */
  override name = 'TokenizerError';
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('BAD_INPUT', message, details);
  }
}

/** Chat messages the Gemma chat format cannot express (roles out of order, unknown content parts). */
export class ChatFormatError extends G3nError {
  /** Kept as a literal so that it survives minification. */
  override name = 'ChatFormatError';
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('BAD_INPUT', message, details);
  }
}

/** Why audio was refused: the `reason` detail of an AudioError. */
export type AudioErrorReason = 'empty' | 'too-short' | 'too-long' | 'not-finite' | 'sample-rate' | 'not-wav' | 'wav-format' | 'truncated' | 'config';

/**
 * Audio the feature extractor cannot use: an empty clip, audio shorter than one frame or longer than one
 * clip (split it with splitClips), NaN or infinite samples, a sample rate other than the extractor's, a
 * file that is not a PCM or float WAV, or extractor settings it does not support. `details.reason` says
 * which.
 */
export class AudioError extends G3nError {
  /** Kept as a literal so that it survives minification. */
  override name = 'AudioError';
  constructor(reason: AudioErrorReason, message: string, details: Record<string, unknown> = {}) {
    super(reason === 'config' ? 'UNSUPPORTED_CONFIG' : 'BAD_INPUT', message, { reason, ...details });
  }
}

export { ImageError } from './image-errors.ts';
export type { ImageErrorReason } from './image-errors.ts';
