/**
 * The typed errors of @g3n/gemma3n, in a module with no other dependency than @g3n/gpu's errors, so
 * that code which only needs to recognize them (the engine's page side) does not pull in the model.
 */
import { G3nError } from '@g3n/gpu/errors';

const show = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v));

/** config.json is malformed or inconsistent; `field` is its dotted path. */
export class ConfigError extends G3nError {
  /** Kept as a literal so that it survives minification. */
  override name = 'ConfigError';
  readonly field: string;

  constructor(field: string, message: string) {
    super('BAD_CONFIG', `config.json: ${field} ${message}. Fix the config so that it describes the checkpoint.`, { field });
    this.field = field;
  }
}

/** config.json is valid but asks for something this runtime does not implement. */
export class UnsupportedConfigError extends G3nError {
  /** Kept as a literal so that it survives minification. */
  override name = 'UnsupportedConfigError';
  readonly field: string;

  constructor(field: string, value: unknown, supported: string) {
    super('UNSUPPORTED_CONFIG', `config.json: ${field} = ${show(value)} is not supported (${supported}). Use a standard Gemma 3n checkpoint.`, { field });
    this.field = field;
  }
}

export type SliceErrorReason =
  | 'bad-format'
  | 'bad-skip'
  | 'wrong-layer-count'
  | 'wrong-width-count'
  | 'width-too-large'
  | 'width-not-multiple-of-32'
  | 'skips-kv-producer'
  | 'no-kv-producer'
  | 'tensor-shape';

/** A slicing configuration is malformed or does not fit its parent; `reason` says which check failed. */
export class SliceError extends G3nError {
  /** Kept as a literal so that it survives minification. */
  override name = 'SliceError';
  readonly reason: SliceErrorReason;

  constructor(reason: SliceErrorReason, message: string, details: Record<string, unknown> = {}) {
    super('BAD_SLICE', message, { reason, ...details });
    this.reason = reason;
  }
}

/** Raised when a prompt and its continuation would not fit the context the model was loaded with. */
export class ContextOverflowError extends G3nError {
  /** Kept as a literal so that it survives minification. */
  override name = 'ContextOverflowError';
  constructor(needed: number, max: number) {
    super('CONTEXT_OVERFLOW', `The conversation needs ${needed} tokens but the model was loaded with a context of ${max}. Start a new chat or load with a larger context.`, { needed, max });
  }
}

/**
 * NaN or infinity where the model must produce finite numbers: in the logits of a step (`where`:
 * 'prefill' or 'decode step N'), or in a weight tensor as it is loaded (`tensor`). `layer` names the
 * first stage with a non-finite output when the model was loaded with checkNumerics.
 */
export class NumericError extends G3nError {
  /** Kept as a literal so that it survives minification. */
  override name = 'NumericError';

  constructor(message: string, details: { where?: string; tensor?: string; stage?: string; layer?: number } = {}) {
    super('NUMERIC', message, details);
  }

  /** A step's logits (or, with `stage`, that stage's output: the first non-finite one) held NaN or infinity. */
  static inLogits(where: string, stage?: string): NumericError {
    const layer = stage ? /^layers\.(\d+)\./.exec(stage)?.[1] : undefined;
    const found = stage
      ? ` at ${where}: the first stage with a non-finite output is ${stage}${layer === undefined ? '' : ` (layer ${layer})`}`
      : ` in the logits at ${where}; load the model with checkNumerics to find the first layer with a non-finite output`;
    return new NumericError(`non-finite values (NaN or infinity)${found}. The checkpoint's weights or the computation overflowed; check the checkpoint.`, { where, ...(stage ? { stage } : {}), ...(layer === undefined ? {} : { layer: Number(layer) }) });
  }

  /** A weight tensor holds NaN or infinity. */
  static inWeight(tensor: string): NumericError {
    return new NumericError(`tensor ${tensor} holds non-finite values (NaN or infinity); the checkpoint is damaged. Convert or download it again.`, { tensor });
  }
}
