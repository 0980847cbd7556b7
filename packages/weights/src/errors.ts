import { G3nError } from '@g3n/gpu/errors';

/** What exactly is wrong with a checkpoint; stable, so callers and tests can branch on it. */
export type CheckpointErrorKind =
  | 'truncated'
  | 'header-length'
  | 'header-json'
  | 'unknown-dtype'
  | 'bad-shape'
  | 'bad-offsets'
  | 'size-mismatch'
  | 'out-of-range'
  | 'overlap'
  | 'missing-file'
  | 'bad-json'
  | 'bad-index'
  | 'index-mismatch'
  | 'missing-tensor'
  | 'shape-mismatch'
  | 'bad-dtype';

/**
 * A checkpoint file is missing, malformed or disagrees with its config. `kind` says which check
 * failed; the message names the file (and tensor) and what to do about it.
 */
export class CheckpointError extends G3nError {
  /** Kept as a literal so that it survives minification. */
  override name = 'CheckpointError';
  readonly kind: CheckpointErrorKind;

  constructor(kind: CheckpointErrorKind, message: string, where: { file?: string; tensor?: string; origin?: string } = {}) {
    super('BAD_CHECKPOINT', message, { kind, ...where });
    this.kind = kind;
  }
}

/** An HTTP request for checkpoint bytes failed; `status` is 0 when no response arrived. */
export class NetworkError extends G3nError {
  /** Kept as a literal so that it survives minification. */
  override name = 'NetworkError';
  readonly status: number;

  constructor(url: string, status: number, message: string) {
    super('NETWORK', `${message} (${url}${status ? `, HTTP ${status}` : ''}). Check the URL and the connection, then retry.`, { url, status });
    this.status = status;
  }
}
