/**
 * The engine's own typed errors, and the Comlink transfer handler that carries every G3nError across
 * the Worker boundary with its class, `name`, `code`, `message` and `details` intact.
 */
import { transferHandlers, type TransferHandler } from 'comlink';
import { ContextOverflowError, ConfigError, NumericError, SliceError, UnsupportedConfigError } from '@g3n/gemma3n/errors';
import { DeviceLostError, G3nError, GpuUnavailableError, ShaderError, ShapeError } from '@g3n/gpu/errors';
import { ChatFormatError, TokenizerError } from '@g3n/preprocess/errors';
import { AbortedError, BadManifestError, CheckpointError, IntegrityError, NetworkError, QuotaError } from '@g3n/weights/errors';

/** A request with a field out of range or of the wrong type; `field` names it. */
export class BadRequestError extends G3nError {
  /** Kept as a literal so that it survives minification. */
  override name = 'BadRequestError';
  constructor(field: string, message: string) {
    super('BAD_INPUT', `${field}: ${message}`, { field });
  }
}

/** A call that needs a model came before load() finished (or after unload()). */
export class NotLoadedError extends G3nError {
  /** Kept as a literal so that it survives minification. */
  override name = 'NotLoadedError';
  constructor() {
    super('BAD_INPUT', 'No model is loaded: call engine.load({ model }) first.', { reason: 'not-loaded' });
  }
}

/** A message holds an image or audio part, and the loaded model has no tower to encode it. */
export class UnsupportedInputError extends G3nError {
  /** Kept as a literal so that it survives minification. */
  override name = 'UnsupportedInputError';
  constructor(part: string, message: number) {
    super('BAD_INPUT', `Message ${message} has a ${part} part, but this model was loaded without a ${part === 'image' ? 'vision' : 'audio'} tower. Send text only, or load a checkpoint that has one.`, { part, message });
  }
}

/** An audio part's bytes could not be decoded in the format it names (an MP3 with no frame mpg123 can read). */
export class AudioDecodeError extends G3nError {
  /** Kept as a literal so that it survives minification. */
  override name = 'AudioDecodeError';
  constructor(field: string, format: string, reason: string) {
    super('BAD_INPUT', `${field}: the audio could not be decoded as ${format.toUpperCase()} (${reason}). Send a valid ${format.toUpperCase()} or WAV file, or decoded samples as { type: 'audio', audio: Float32Array, sampleRate }.`, { field, format });
  }
}

/** A GPU allocation failed while loading (the device's out-of-memory error scope caught it). */
export class OutOfMemoryError extends G3nError {
  /** Kept as a literal so that it survives minification. */
  override name = 'OutOfMemoryError';
  constructor(model: string, reason: string) {
    super('OUT_OF_MEMORY', `The GPU ran out of memory while loading ${model} (${reason}). Load it with quant: 'q4' or a MatFormer slice, or close other tabs that use the GPU.`, { model });
  }
}

/**
 * Rebuilds errors by their `name` (a literal in every class, so it survives minification); unknown
 * names come back as G3nError with their name kept.
 */
const ERROR_CLASSES: Record<string, abstract new (...args: never[]) => G3nError> = {
  G3nError,
  ShapeError,
  GpuUnavailableError,
  ShaderError,
  DeviceLostError,
  CheckpointError,
  NetworkError,
  BadManifestError,
  IntegrityError,
  QuotaError,
  AbortedError,
  TokenizerError,
  ChatFormatError,
  ConfigError,
  UnsupportedConfigError,
  ContextOverflowError,
  SliceError,
  NumericError,
  BadRequestError,
  NotLoadedError,
  UnsupportedInputError,
  AudioDecodeError,
  OutOfMemoryError,
};

/** A G3nError as plain, structured-cloneable data. */
export interface SerializedError {
  name: string;
  code: G3nError['code'];
  message: string;
  details: Record<string, unknown>;
  stack: string | undefined;
  /** Own fields of subclasses (CheckpointError.kind, NetworkError.status). */
  fields: Record<string, string | number | boolean | null>;
}

const BASE_FIELDS = new Set(['name', 'code', 'message', 'details', 'stack']);

export function serializeError(e: G3nError): SerializedError {
  const fields: SerializedError['fields'] = {};
  for (const [k, v] of Object.entries(e)) {
    if (BASE_FIELDS.has(k)) continue;
    if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) fields[k] = v as string | number | boolean | null;
  }
  let details: Record<string, unknown> = {};
  try {
    details = structuredClone(e.details);
  } catch {
    details = JSON.parse(JSON.stringify(e.details)) as Record<string, unknown>;
  }
  return { name: e.name, code: e.code, message: e.message, details, stack: e.stack, fields };
}

/** An instance of the error's own class (instanceof works), built without calling its constructor. */
export function deserializeError(s: SerializedError): G3nError {
  const cls = ERROR_CLASSES[s.name] ?? G3nError;
  const e = Reflect.construct(Error, [s.message], cls) as G3nError;
  Object.assign(e, s.fields, { name: s.name, code: s.code, details: s.details });
  if (s.stack !== undefined) e.stack = s.stack;
  return e;
}

type Thrown = { value: unknown };
type WireThrow = { g3n: SerializedError } | { g3n?: undefined; base: unknown };

let registered = false;

/**
 * Replace Comlink's `throw` handler (which keeps only message, name and stack) with one that sends
 * G3nErrors whole; anything else goes through the original. Call on both sides of the boundary.
 */
export function registerErrorTransfer(): void {
  if (registered) return;
  registered = true;
  const base = transferHandlers.get('throw') as TransferHandler<Thrown, unknown>;
  const handler: TransferHandler<Thrown, WireThrow> = {
    canHandle: (value): value is Thrown => base.canHandle(value),
    serialize(thrown) {
      if (thrown.value instanceof G3nError) return [{ g3n: serializeError(thrown.value) }, []];
      const [wire, transfer] = base.serialize(thrown);
      return [{ base: wire }, transfer];
    },
    deserialize(wire) {
      if (wire.g3n) throw deserializeError(wire.g3n);
      return base.deserialize(wire.base);
    },
  };
  transferHandlers.set('throw', handler as TransferHandler<unknown, unknown>);
}
