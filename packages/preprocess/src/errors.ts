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

export { ImageError } from './image-errors.ts';
export type { ImageErrorReason } from './image-errors.ts';
