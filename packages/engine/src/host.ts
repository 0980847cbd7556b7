/**
 * The Worker side of the Comlink boundary: the Engine as calls that cross it. A request becomes a
 * proxied handle, so the main thread can pull stream chunks (next), wait for a whole completion
 * (result) and abort, without a hand-written message protocol. Callbacks arrive as Comlink proxies.
 */
import { proxy, type ProxyMarked } from 'comlink';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, Engine, EngineCapabilities, LoadOptions, LoadProgress, ModelInfo } from './types.ts';

/** A request as it crosses the boundary: everything but the AbortSignal, which cannot be cloned. */
export type WireRequest = Omit<ChatCompletionRequest, 'signal'>;

export interface RequestHandle {
  /** The next stream chunk (stream: true). */
  next(): Promise<IteratorResult<ChatCompletionChunk, undefined>>;
  /** Stop reading the stream: generation is aborted and the queue moves on. */
  cancel(): Promise<void>;
  /** The whole completion (stream: false). */
  result(): Promise<ChatCompletion>;
  abort(): void;
}

export interface EngineHost {
  load(options: Omit<LoadOptions, 'onProgress'>, onProgress?: (p: LoadProgress) => void): Promise<ModelInfo>;
  unload(): Promise<void>;
  capabilities(): Promise<EngineCapabilities>;
  interrupt(): Promise<void>;
  /** Starts a request; rejects (before any GPU work) when the request is invalid. */
  create(request: WireRequest): Promise<RequestHandle & ProxyMarked>;
}

const notStreaming = (): never => {
  throw new TypeError('this request was made with stream: false; use result()');
};

export function engineHost(engine: Engine): EngineHost {
  return {
    load: (options, onProgress) => engine.load({ ...options, onProgress }),
    unload: () => engine.unload(),
    capabilities: () => engine.capabilities(),
    interrupt: () => engine.interrupt(),
    async create(request) {
      const controller = new AbortController();
      const abort = () => controller.abort();
      if (request.stream) {
        const stream = await engine.chat.completions.create({ ...request, stream: true, signal: controller.signal });
        const it = stream[Symbol.asyncIterator]();
        return proxy({
          next: () => it.next(),
          cancel: async () => void (await it.return?.()),
          result: () => Promise.reject(new TypeError('this request was made with stream: true; use next()')),
          abort,
        });
      }
      const pending = engine.chat.completions.create({ ...request, stream: false, signal: controller.signal });
      pending.catch(() => undefined);
      return proxy({ next: notStreaming, cancel: async () => abort(), result: () => pending, abort });
    },
  };
}
