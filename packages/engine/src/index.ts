export type * from './types.ts';
export { createEngine, wrapEngine, type CreateEngineOptions, type WorkerEngine } from './create.ts';
export { InThreadEngine, type InThreadEngineOptions } from './engine.ts';
export { modelFiles, type FileSourceRequest } from './files.ts';
export { engineHost, type EngineHost, type RequestHandle, type WireRequest } from './host.ts';
export { AudioDecodeError, BadRequestError, NotLoadedError, OutOfMemoryError, UnsupportedInputError, deserializeError, registerErrorTransfer, serializeError, type SerializedError } from './errors.ts';
