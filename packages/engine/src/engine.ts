/**
 * The Engine, run in this thread: in Node, in tests, and inside the Worker that createEngine starts.
 * Requests run one at a time in arrival order (a promise-chain queue); load and unload queue too.
 * A lost device turns every later call into a DeviceLostError until load() builds a new device and
 * reads the model again, from the IndexedDB weights cache by default (files.ts).
 */
import { requestGpu, type DeviceLostError, type Gpu } from '@g3n/gpu';
import type { FileSource } from '@g3n/weights';
import { Channel } from './channel.ts';
import { NotLoadedError, OutOfMemoryError } from './errors.ts';
import { modelFiles, type FileSourceRequest } from './files.ts';
import { DecoderSession, generate, type GenerationJob, type GenerationResult } from './generate.ts';
import { loadModel, type LoadedModel } from './load.ts';
import { LoadTracker } from './progress.ts';
import { prepareJob } from './request.ts';
import { ReadRouter } from './towers.ts';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  ChatCompletions,
  Engine,
  EngineCapabilities,
  LoadOptions,
  LoadProgress,
  ModelInfo,
} from './types.ts';

export interface InThreadEngineOptions {
  /** Where the device comes from (default: requestGpu(), i.e. navigator.gpu). In Node: () => requestNodeGpu(). */
  requestGpu?: () => Promise<Gpu>;
  /**
   * How a model URL becomes files for one load (default: modelFiles, the IndexedDB weights cache
   * where IndexedDB exists, else HTTP Range reads). The source should report each read through
   * `request.onRead`, which drives the download / cache progress.
   */
  files?: (model: string, request: FileSourceRequest) => FileSource;
}

/** How long a failed GPU call waits for device.lost to say whether the device is gone. */
const LOST_GRACE_MS = 200;

export class InThreadEngine implements Engine {
  readonly chat: { readonly completions: ChatCompletions };
  private gpu: Promise<Gpu> | null = null;
  private loaded: LoadedModel | null = null;
  private session: DecoderSession | null = null;
  private lost: DeviceLostError | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private running: AbortController | null = null;
  private requests = 0;

  constructor(private readonly options: InThreadEngineOptions = {}) {
    this.chat = { completions: { create: ((request: ChatCompletionRequest) => this.create(request)) as ChatCompletions['create'] } };
  }

  load(options: LoadOptions): Promise<ModelInfo> {
    return this.enqueue(async () => {
      // The model that is loaded stays usable until the new one's weights start to upload (after its
      // config, tokenizer and headers are read and, for an artifact through the weights cache, every
      // piece it reads is downloaded, checked and cached), so a load that fails before then, a damaged
      // piece included, leaves it in place; two models never share GPU memory.
      const gpu = await this.device();
      const tracker = new LoadTracker((p: LoadProgress) => {
        if (options.onProgress) void Promise.resolve(options.onProgress(p)).catch(() => undefined);
      });
      const router = new ReadRouter();
      router.target = tracker;
      const files = (this.options.files ?? modelFiles)(options.model, { onRead: router.onRead, cache: options.cache ?? true });
      const loaded = await this.outOfMemoryAs(gpu, options.model, () => this.guardLoss(gpu, () => loadModel(gpu, files, options, tracker, router, () => this.dropModel())));
      router.target = null;
      this.dropModel();
      this.loaded = loaded;
      this.session = new DecoderSession(loaded.model, loaded.tokenizer, loaded.towers);
      return loaded.info;
    });
  }

  unload(): Promise<void> {
    return this.enqueue(async () => {
      this.dropModel();
      const gpu = this.gpu;
      this.gpu = null;
      this.lost = null;
      (await gpu?.catch(() => null))?.destroy();
    });
  }

  async capabilities(): Promise<EngineCapabilities> {
    if (this.lost) throw this.lost;
    const { caps } = await this.device();
    const model = this.loaded?.info ?? null;
    const budget = model?.memory.budgetBytes ?? null;
    return {
      adapter: caps.adapter,
      features: caps.features,
      limits: caps.limits,
      isSoftware: caps.isSoftware,
      model,
      fits: model && budget !== null ? model.memory.totalBytes <= budget : null,
    };
  }

  async interrupt(): Promise<void> {
    this.running?.abort();
  }

  private async create(request: ChatCompletionRequest): Promise<AsyncIterable<ChatCompletionChunk> | ChatCompletion> {
    const loaded = this.usable();
    const job = await prepareJob(request, loaded);
    const controller = new AbortController();
    const signal = request.signal;
    if (signal?.aborted) controller.abort();
    signal?.addEventListener('abort', () => controller.abort(), { once: true });
    const id = `chatcmpl-${++this.requests}`;
    const created = Math.floor(Date.now() / 1000);
    const head = { id, created, model: loaded.info.model };
    const run = (emit: (content: string, tokenIds: number[]) => void) =>
      this.enqueue(() => this.execute(loaded, { ...job, signal: controller.signal }, controller, (d) => emit(d.content, d.tokenIds)));
    if (!request.stream) {
      const r = await run(() => undefined);
      return {
        ...head,
        object: 'chat.completion',
        choices: [{ index: 0, message: { role: 'assistant', content: r.content }, finish_reason: r.finishReason, token_ids: r.tokenIds }],
        usage: r.usage,
        ...(job.notes.length ? { notes: [...job.notes] } : {}),
      };
    }
    const channel = new Channel<ChatCompletionChunk>(() => controller.abort());
    let first = true;
    const chunk = (delta: ChatCompletionChunk['choices'][0]['delta'], tokenIds: number[], finish: GenerationResult['finishReason'] | null): ChatCompletionChunk => ({
      ...head,
      object: 'chat.completion.chunk',
      choices: [{ index: 0, delta, finish_reason: finish, token_ids: tokenIds }],
    });
    run((content, tokenIds) => {
      channel.push(chunk(first ? { role: 'assistant', content } : { content }, tokenIds, null));
      first = false;
    }).then(
      (r) => {
        channel.push({ ...chunk({}, [], r.finishReason), usage: r.usage, ...(job.notes.length ? { notes: [...job.notes] } : {}) });
        channel.close();
      },
      (e) => channel.fail(e),
    );
    return channel;
  }

  /** Run a prepared job when its turn comes, if the engine can still serve it. */
  private async execute(loaded: LoadedModel, job: GenerationJob, controller: AbortController, emit: Parameters<typeof generate>[2]): Promise<GenerationResult> {
    if (this.lost) throw this.lost;
    if (this.loaded !== loaded || !this.session) throw new NotLoadedError();
    const session = this.session;
    const gpu = await this.device();
    this.running = controller;
    try {
      return await this.guardLoss(gpu, () => generate(session, job, emit));
    } catch (e) {
      if (this.session === session && !this.lost) session.forget();
      throw e;
    } finally {
      this.running = null;
    }
  }

  private usable(): LoadedModel {
    if (this.lost) throw this.lost;
    if (!this.loaded) throw new NotLoadedError();
    return this.loaded;
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** The current device, or a new one when there is none or it was lost. */
  private device(): Promise<Gpu> {
    if (this.gpu && !this.lost) return this.gpu;
    const request = this.options.requestGpu ?? (() => requestGpu());
    const gpu = request();
    this.gpu = gpu;
    this.lost = null;
    gpu.then(
      (g) => g.lost.then((err) => this.gpu === gpu && this.onLost(err)),
      () => this.gpu === gpu && (this.gpu = null),
    );
    return gpu;
  }

  private onLost(err: DeviceLostError): void {
    this.lost = err;
    this.running?.abort();
    this.loaded = null;
    this.session = null;
  }

  /** Run GPU work; when it fails because the device went away, throw the DeviceLostError instead. */
  private async guardLoss<T>(gpu: Gpu, work: () => Promise<T>): Promise<T> {
    try {
      const out = await work();
      if (this.lost) throw this.lost;
      return out;
    } catch (e) {
      if (this.lost) throw this.lost;
      const lost = await Promise.race([gpu.lost, new Promise<null>((r) => setTimeout(() => r(null), LOST_GRACE_MS))]);
      if (lost && this.lost) throw this.lost;
      throw e;
    }
  }

  /**
   * Run a load inside an out-of-memory error scope. An allocation that failed becomes an
   * OutOfMemoryError (OUT_OF_MEMORY): the model it left is destroyed, and so is the device, which
   * frees whatever else the load allocated; the next call gets a new device.
   */
  private async outOfMemoryAs(gpu: Gpu, model: string, load: () => Promise<LoadedModel>): Promise<LoadedModel> {
    gpu.device.pushErrorScope('out-of-memory');
    let loaded: LoadedModel | null = null;
    try {
      loaded = await load();
    } finally {
      const oom = await gpu.device.popErrorScope().catch(() => null);
      if (oom) {
        loaded?.model.destroy();
        this.dropModel();
        if (this.gpu && (await this.gpu.catch(() => null)) === gpu) this.gpu = null;
        gpu.destroy();
        throw new OutOfMemoryError(model, oom.message);
      }
    }
    return loaded;
  }

  private dropModel(): void {
    this.loaded?.towers?.destroy();
    this.loaded?.model.destroy();
    this.loaded = null;
    this.session = null;
  }
}
