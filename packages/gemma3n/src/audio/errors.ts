import { G3nError } from '@g3n/gpu/errors';

/** The checkpoint has no audio tower (or config.json no audio_config): audio input cannot be used with it. */
export class AudioTowerMissingError extends G3nError {
  /** Kept as a literal so that it survives minification. */
  override name = 'AudioTowerMissingError';
  constructor(what: string) {
    super('BAD_CHECKPOINT', `This checkpoint has no audio tower (${what}). Use a Gemma 3n checkpoint that includes model.audio_tower, or send text only.`, { what });
  }
}

export type AudioInputReason = 'feature-shape' | 'mask-shape' | 'too-long' | 'placeholder-count';

/** Audio input that does not fit the tower: features of the wrong shape, a bad mask, too many frames, or a prompt whose audio placeholders do not match. */
export class AudioInputError extends G3nError {
  /** Kept as a literal so that it survives minification. */
  override name = 'AudioInputError';
  readonly reason: AudioInputReason;
  constructor(reason: AudioInputReason, message: string, details: Record<string, unknown> = {}) {
    super('BAD_INPUT', message, { reason, ...details });
    this.reason = reason;
  }
}
