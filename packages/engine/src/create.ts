/**
 * The main-thread Engine: a dedicated module Worker hosts the InThreadEngine (worker.ts) and
 * Comlink carries the calls; callbacks go over as proxies and streams come back as async iterables
 * pulled chunk by chunk. G3nErrors keep their class and code across (registerErrorTransfer).
 */
import { proxy, releaseProxy, transfer, wrap, type Endpoint, type Remote } from 'comlink';
import { registerErrorTransfer } from './errors.ts';
import type { EngineHost, RequestHandle } from './host.ts';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChatCompletions, Engine, LoadOptions } from './types.ts';

export interface WorkerEngine extends Engine {
  /** Stop the Worker (the device and the model go with it). */
  terminate(): void;
}

export interface CreateEngineOptions {
  /** A Worker already running worker.ts (default: a new module Worker). */
  worker?: Worker;
}

/** URLs are resolved here: inside the Worker a relative URL would resolve against the Worker script. */
function absolute(url: string): string {
  const base = (globalThis as { location?: { href: string } }).location?.href;
  return base ? new URL(url, base).href : url;
}

/**
 * The request as it crosses to the Worker: relative image URLs resolved here, and ImageBitmaps and
 * VideoFrames transferred, not copied (the page's copies are closed by the transfer).
 */
function wireMessages<T extends { messages?: unknown }>(request: T): { wire: T; transferables: Transferable[] } {
  const transferables: Transferable[] = [];
  if (!Array.isArray(request.messages)) return { wire: request, transferables };
  const messages = request.messages.map((m: unknown) => {
    const content = (m as { content?: unknown })?.content;
    if (!Array.isArray(content)) return m;
    const parts = content.map((part: unknown) => {
      const p = part as { type?: unknown; image_url?: { url?: unknown }; image?: unknown };
      if (p?.type === 'image_url' && typeof p.image_url?.url === 'string' && !/^(data|blob):/.test(p.image_url.url)) {
        return { ...p, image_url: { ...p.image_url, url: absolute(p.image_url.url) } };
      }
      if (p?.type === 'image') {
        const isBitmap = typeof ImageBitmap !== 'undefined' && p.image instanceof ImageBitmap;
        const isFrame = typeof VideoFrame !== 'undefined' && p.image instanceof VideoFrame;
        if (isBitmap || isFrame) transferables.push(p.image as Transferable);
      }
      return part;
    });
    return { ...(m as object), content: parts };
  });
  return { wire: { ...request, messages }, transferables };
}

function iterate(handle: Remote<RequestHandle>, release: () => void): AsyncIterable<ChatCompletionChunk> {
  let finished = false;
  const finish = () => {
    if (!finished) (finished = true), release();
  };
  return {
    [Symbol.asyncIterator]: () => ({
      async next() {
        if (finished) return { value: undefined, done: true };
        try {
          const r = await handle.next();
          if (r.done) finish();
          return r;
        } catch (e) {
          finish();
          throw e;
        }
      },
      async return() {
        if (!finished) {
          await handle.cancel();
          finish();
        }
        return { value: undefined, done: true };
      },
    }),
  };
}

/** An Engine over any Comlink endpoint whose other side exposes engineHost(...) (a Worker, a MessagePort). */
export function wrapEngine(endpoint: Endpoint, onTerminate: () => void = () => undefined): WorkerEngine {
  registerErrorTransfer();
  const host = wrap<EngineHost>(endpoint);
  async function create(request: ChatCompletionRequest): Promise<AsyncIterable<ChatCompletionChunk> | ChatCompletion> {
    const { signal, ...rest } = request;
    const { wire, transferables } = wireMessages(rest);
    const handle = await host.create(transferables.length ? transfer(wire, transferables) : wire);
    const abort = () => void handle.abort().catch(() => undefined);
    signal?.addEventListener('abort', abort, { once: true });
    if (signal?.aborted) abort();
    const release = () => {
      signal?.removeEventListener('abort', abort);
      handle[releaseProxy]();
    };
    if (request.stream) return iterate(handle, release);
    try {
      return await handle.result();
    } finally {
      release();
    }
  }
  return {
    load({ onProgress, ...options }: LoadOptions) {
      const tokenizer = typeof options.tokenizer === 'string' ? absolute(options.tokenizer) : options.tokenizer;
      return host.load({ ...options, model: absolute(options.model), tokenizer }, onProgress ? proxy(onProgress) : undefined);
    },
    unload: () => host.unload(),
    capabilities: () => host.capabilities(),
    interrupt: () => host.interrupt(),
    chat: { completions: { create: create as ChatCompletions['create'] } },
    terminate() {
      host[releaseProxy]();
      onTerminate();
    },
  };
}

/** Start the engine in a dedicated module Worker. */
export function createEngine(options: CreateEngineOptions = {}): WorkerEngine {
  const worker = options.worker ?? new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'g3n-engine' });
  return wrapEngine(worker, () => worker.terminate());
}
