export type * from './types.ts';
export { createEngine, wrapEngine, type CreateEngineOptions, type WorkerEngine } from './create.ts';
export { InThreadEngine, type InThreadEngineOptions } from './engine.ts';
export { modelFiles, type FileSourceRequest } from './files.ts';
export { DEFAULT_MAX_CHUNK, DEFAULT_MAX_CONTEXT, matformerSizes, sizeFigures, type MatformerModel, type MatformerSize, type MatformerSizes, type SizeFigures } from './sizes.ts';
export { engineHost, type EngineHost, type RequestHandle, type WireRequest } from './host.ts';
export { AudioDecodeError, BadRequestError, NotLoadedError, OutOfMemoryError, UnsupportedInputError, deserializeError, registerErrorTransfer, serializeError, type SerializedError } from './errors.ts';
