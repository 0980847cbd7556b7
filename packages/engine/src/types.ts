/**
 * The public API of g3n: one `Engine`, hosted in a Web Worker (createEngine) or run in this thread
 * (InThreadEngine: Node, tests, or inside the Worker itself). Requests and responses follow the
 * OpenAI chat-completions shapes; fields beyond OpenAI's are marked as g3n extensions.
 */
import type { SliceConfig, WeightFormat } from '@g3n/gemma3n';
import type { Capabilities } from '@g3n/gpu';

/** How weights are stored on the GPU: `auto` keeps the checkpoint's float type (lossless); the model package's type, one for both. */
export type { WeightFormat };

/**
 * Where a load is: `config` (config.json, the tensor index or manifest), `tokenizer`, then the
 * weights, read by read: `download` (bytes from the network) or `cache` (bytes from the IndexedDB
 * weights cache), each followed by `upload` (those bytes written into GPU buffers); then `compile`
 * (pipelines, built by a warm-up pass) and `ready`.
 */
export type LoadPhase = 'config' | 'tokenizer' | 'download' | 'cache' | 'upload' | 'compile' | 'ready';

/**
 * One progress event of load(). The weights' `download` / `cache` events and their `upload` alternate as
 * the loader reads; for a g3n artifact through the weights cache every `download` / `cache` event comes
 * first (its pieces are fetched and checked before the model loaded until then is released), then the
 * `upload` from the cache.
 */
export interface LoadProgress {
  phase: LoadPhase;
  /**
   * Weight bytes obtained so far, from the network and the cache together (download, cache and
   * every later phase), or written to the GPU so far (upload).
   */
  loadedBytes: number;
  /** Stored bytes of the weights this load reads (0 until the weights start). */
  totalBytes: number;
  /** This phase's bytes per second since the weights started (download: network, cache: IndexedDB, upload: GPU writes); 0 in the other phases. */
  bytesPerSecond: number;
  /** Seconds until this phase reaches totalBytes at that rate: 0 once it has; null while there is no rate or for the phases not measured in bytes. */
  etaSeconds: number | null;
  /** Whether every weight byte read so far came from the IndexedDB cache (false before the first one). */
  fromCache: boolean;
  /**
   * Whether the weights are checked as they are read: true for a g3n artifact (every piece against its
   * sha256, a damaged one is an INTEGRITY error), false for a Hugging Face checkpoint (it lists no
   * hashes); absent until the weights are opened.
   */
  verified?: boolean;
  /** Progress within the phase: bytes for download, cache and upload (as loadedBytes); steps for config, tokenizer, compile (3 warm-up passes) and ready. */
  loaded: number;
  total: number;
  /**
   * Set while a tower loads: the first image (vision) or audio clip (audio) of a session reads its
   * tower then, with the same phases; absent for the model's own load.
   */
  tower?: 'vision' | 'audio';
}

export interface LoadOptions {
  /** Base URL of a Hugging Face-layout checkpoint folder (config.json + *.safetensors) or of a g3n artifact (manifest.json + shards). */
  model: string;
  quant?: WeightFormat;
  /** Called as loading advances; across a Worker it is proxied, so keep it cheap. */
  onProgress?: (progress: LoadProgress) => void;
  /**
   * Keep the model's files in the IndexedDB weights cache and read them from there next time
   * (default true; only where IndexedDB exists). A reload after a device loss then downloads nothing.
   */
  cache?: boolean;
  /**
   * Load a MatFormer slice of the checkpoint: a slice config, a configuration's name (one of
   * matformerCandidates, or a published one such as 'E2B'), or 'auto': the largest configuration
   * whose GPU memory fits the adapter's buffer limits and the memory budget (ModelInfo.matformer says
   * which and why).
   */
  matformer?: 'auto' | (string & {}) | SliceConfig;
  /** The configurations matformer names and 'auto' choose among (default: the 16 published slices of Gemma 3n E4B), e.g. the rows of a configs.csv (parseConfigsCsv). */
  matformerCandidates?: readonly MatformerCandidate[];
  /** For matformer 'auto': GPU memory the model may take, in bytes (default: navigator.deviceMemory / 2 where the platform reports it, else only the limits decide). */
  memoryBudgetBytes?: number;
  /** tokenizer.json as a URL or its parsed JSON (default: `<model>/tokenizer.json`). */
  tokenizer?: string | object;
  /** Longest conversation (prompt + answer) in tokens (default: min(max_position_embeddings, 4096)). */
  maxContext?: number;
  /** Tokens per prefill pass (default 128). */
  maxChunk?: number;
  /**
   * Debugging: read back every stage output of every forward pass (slow), so that a NUMERIC error from
   * load's warm-up or from a request names the first layer with a non-finite output. Without it,
   * non-finite logits still raise NUMERIC, naming only the step.
   */
  checkNumerics?: boolean;
  /**
   * Where the per-layer embedding (PLE) table lives: 'gpu' (default), 'host' (not uploaded: the rows
   * each step needs are read from the weights, through the weights cache, and written before its one
   * submit; about 1.1 GB less GPU memory for E2B at q4, the same tokens), or 'auto' (the host when the
   * model would not fit memoryBudgetBytes / navigator.deviceMemory / 2 otherwise, or the device is small).
   */
  ple?: 'gpu' | 'host' | 'auto';
}

/** A configuration matformer 'auto' may choose; a missing effectiveParamsB is computed from the slice, a missing MMLU only ranks it last among equals. */
export type MatformerCandidate = SliceConfig & { effectiveParamsB?: number | null; mmlu?: number | null };

/** Sampling used when a request leaves a field out: the checkpoint's generation_config.json, else greedy. */
export interface SamplingDefaults {
  temperature: number;
  top_k: number;
  top_p: number;
}

export interface MemoryEstimate {
  /** Weights in their GPU storage format. */
  weightBytes: number;
  /** KV caches and activation workspaces. */
  cacheBytes: number;
  totalBytes: number;
  /** GPU memory the model may take: memoryBudgetBytes, else navigator.deviceMemory / 2; null when neither is known. */
  budgetBytes: number | null;
  /** Where the PLE table is (LoadOptions.ple): on the host its bytes are not in weightBytes. */
  ple: 'gpu' | 'host';
  /** With the table on the host, where its rows are read from: OPFS (a Worker's synchronous handle) or the weights (the cache). */
  pleRows: 'opfs' | 'weights' | null;
}

export interface ModelInfo {
  model: string;
  maxContext: number;
  vocabSize: number;
  numLayers: number;
  hiddenSize: number;
  eosTokenIds: number[];
  defaults: SamplingDefaults;
  memory: MemoryEstimate;
  /** The MatFormer slice loaded and why (the request, or the choice of 'auto'); null for the whole model. */
  matformer: { name: string; reason: string } | null;
  /**
   * What the model reads besides text: an image or audio input works when the checkpoint holds that
   * tower (it is downloaded on first use); false says why the input is unavailable (no tower).
   */
  inputs: { image: boolean; audio: boolean };
  /** Fields of the text config that config.json leaves out and that took Hugging Face's Gemma3nTextConfig default, each once (dotted paths). */
  configDefaults: string[];
}

export interface EngineCapabilities {
  adapter: Capabilities['adapter'];
  features: Capabilities['features'];
  limits: Capabilities['limits'];
  isSoftware: boolean;
  /** The loaded model, or null. */
  model: ModelInfo | null;
  /** Whether the model's memory fits the budget; null without a model or without a reported budget. */
  fits: boolean | null;
}

export interface TextPart {
  type: 'text';
  text: string;
}

/**
 * An image: OpenAI's image_url form (data:, blob: or http(s): URL), or pixels. It is resized to the
 * vision tower's input on the GPU and takes vision_soft_tokens_per_image (256) prompt positions. Send
 * frames and bitmaps by transfer; an ImageBitmap or VideoFrame is encoded again on every turn, a
 * Blob, ImageData or URL only once while the conversation's cache holds it.
 */
export type ImagePart = { type: 'image_url'; image_url: { url: string } } | { type: 'image'; image: ImageBitmap | ImageData | Blob | VideoFrame };

/**
 * Audio: OpenAI's input_audio form (base64 WAV or MP3, decoded in the engine's thread), or mono PCM
 * at `sampleRate` (default 16 kHz; other rates are resampled). Each clip of at most 30 s takes audio_soft_tokens_per_image (188) prompt
 * positions; longer audio is split into consecutive clips and `notes` on the answer says so.
 */
export type AudioPart = { type: 'input_audio'; input_audio: { data: string; format: 'wav' | 'mp3' } } | { type: 'audio'; audio: Float32Array; sampleRate?: number };

export type ContentPart = TextPart | ImagePart | AudioPart;

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string | ContentPart[];
}

export interface ChatCompletionRequestBase {
  messages: ChatMessage[];
  /** Most tokens to generate (default: whatever room the context has left). */
  max_tokens?: number | null;
  /** 0 is greedy. Default: SamplingDefaults. */
  temperature?: number | null;
  /** Sample among the k most likely tokens (0: no limit). */
  top_k?: number | null;
  /** Sample among the most likely tokens whose probabilities add up to top_p. */
  top_p?: number | null;
  /** Same seed, same prompt, same model: same tokens. Default: a random seed. */
  seed?: number | null;
  /** Generation ends before any of these strings; they are not part of the answer. */
  stop?: string | string[] | null;
  signal?: AbortSignal;
  /** g3n extension: run these token ids as the prompt instead of formatting `messages` (tools, tests). */
  prompt_token_ids?: number[];
}

export interface ChatCompletionRequestStreaming extends ChatCompletionRequestBase {
  stream: true;
}

export interface ChatCompletionRequestNonStreaming extends ChatCompletionRequestBase {
  stream?: false | null;
}

export type ChatCompletionRequest = ChatCompletionRequestStreaming | ChatCompletionRequestNonStreaming;

/** stop: an end-of-sequence token or a stop string; length: max_tokens; abort: signal or interrupt(). */
export type FinishReason = 'stop' | 'length' | 'abort';

export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** From the moment the request started running (after the queue) to the first sampled token. */
  time_to_first_token_ms: number;
  prefill_tokens_per_s: number;
  decode_tokens_per_s: number;
  /** Prompt tokens actually prefilled: the prompt minus the prefix reused from the KV cache. */
  prefilled_tokens: number;
  prompt_tokens_details: {
    /** Prompt tokens whose keys and values were reused from the cache (prompt_tokens - prefilled_tokens). */
    cached_tokens: number;
    /** Prompt positions filled with image soft tokens (vision_soft_tokens_per_image per image). */
    image_tokens: number;
    /** Prompt positions filled with audio soft tokens (audio_soft_tokens_per_image per clip of at most 30 s). */
    audio_tokens: number;
  };
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: [
    {
      index: 0;
      message: { role: 'assistant'; content: string };
      finish_reason: FinishReason;
      /** g3n extension: every sampled token id, a final end-of-sequence id included. */
      token_ids: number[];
    },
  ];
  usage: CompletionUsage;
  /** g3n extension: what became of the request's inputs that the caller should know (audio longer than 30 s split into clips). */
  notes?: string[];
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: [
    {
      index: 0;
      delta: { role?: 'assistant'; content?: string };
      finish_reason: FinishReason | null;
      /** g3n extension: the token ids sampled since the previous chunk. */
      token_ids: number[];
    },
  ];
  /** On the last chunk only. */
  usage?: CompletionUsage;
  /** On the last chunk only: as ChatCompletion.notes. */
  notes?: string[];
}

export interface ChatCompletions {
  create(request: ChatCompletionRequestStreaming): Promise<AsyncIterable<ChatCompletionChunk>>;
  create(request: ChatCompletionRequestNonStreaming): Promise<ChatCompletion>;
  create(request: ChatCompletionRequest): Promise<AsyncIterable<ChatCompletionChunk> | ChatCompletion>;
}

export interface Engine {
  /** Load (or replace) the model; after a device loss this re-creates the device and reloads. */
  load(options: LoadOptions): Promise<ModelInfo>;
  /** Free the model and the device. */
  unload(): Promise<void>;
  capabilities(): Promise<EngineCapabilities>;
  readonly chat: { readonly completions: ChatCompletions };
  /** Stop the running request within one decode step (it finishes with finish_reason 'abort'). */
  interrupt(): Promise<void>;
}
