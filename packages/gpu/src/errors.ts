/**
 * Typed errors shared by every layer. `code` is stable (it survives the Worker boundary, where only
 * plain fields are kept), `name` says which class threw, and the message says what the user can do.
 */
export type G3nErrorCode =
  | 'NO_WEBGPU'
  | 'NO_ADAPTER'
  | 'MISSING_FEATURE'
  | 'LIMIT_TOO_SMALL'
  | 'DEVICE_LOST'
  | 'OUT_OF_MEMORY'
  | 'SHADER_COMPILE'
  | 'PIPELINE_CREATE'
  | 'BAD_SHAPE'
  | 'BAD_CHECKPOINT'
  | 'BAD_CONFIG'
  | 'UNSUPPORTED_CONFIG'
  | 'BAD_INPUT'
  | 'CONTEXT_OVERFLOW'
  | 'QUOTA_EXCEEDED'
  | 'INTEGRITY'
  | 'NETWORK'
  | 'ABORTED'
  | 'BAD_MANIFEST'
  | 'BAD_SLICE'
  | 'NUMERIC';

export class G3nError extends Error {
  readonly code: G3nErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: G3nErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'G3nError';
    this.code = code;
    this.details = details;
  }
}

/** A kernel was given tensors it cannot run on; thrown before any GPU work. */
export class ShapeError extends G3nError {
  /** Kept as a literal so that it survives minification. */
  override name = 'ShapeError';
  constructor(kernel: string, message: string) {
    super('BAD_SHAPE', `${kernel}: ${message}`, { kernel });
  }
}

export class GpuUnavailableError extends G3nError {
  /** Kept as a literal so that it survives minification. */
  override name = 'GpuUnavailableError';
}

export class ShaderError extends G3nError {
  /** Kept as a literal so that it survives minification. */
  override name = 'ShaderError';
}

export class DeviceLostError extends G3nError {
  /** Kept as a literal so that it survives minification. */
  override name = 'DeviceLostError';
  constructor(reason: string, message: string) {
    super('DEVICE_LOST', `The GPU device was lost (${reason}): ${message}. Load the model again to recover.`, { reason });
  }
}
