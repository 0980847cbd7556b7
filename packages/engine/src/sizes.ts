/**
 * Which MatFormer sizes a model can load, and what each costs: the answer a page needs to offer a size
 * picker without importing a model package. Pure and synchronous (configs and arithmetic, no GPU, no
 * fetch), so a page calls it in its own thread; the figures come from the model's weight table (the
 * slice's bytes per storage format) and its KV caches at the load's context.
 */
import {
  E4B_CONFIG,
  parseConfig,
  parseSliceJson,
  planSlice,
  publishedSlices,
  runtimeBytes,
  SliceError,
  sliceStats,
  type ModelConfig,
  type SliceConfig,
  type StorageFormat,
} from '@g3n/gemma3n';
import type { MatformerCandidate, WeightFormat } from './types.ts';

/** Tokens of context and per prefill pass that size the KV caches (the engine's load defaults). */
export const DEFAULT_MAX_CONTEXT = 4096;
export const DEFAULT_MAX_CHUNK = 128;

/** A MatFormer parent: Gemma 3n E4B (its 16 published configurations) or a config.json with its own slicing configurations. */
export type MatformerModel = 'gemma-3n-e4b' | { config: unknown; slices: readonly unknown[] };

export interface MatformerSize {
  slice: SliceConfig;
  /** Published names that also find it (e.g. 'E2B'). */
  aliases: string[];
  numLayers: number;
  /** Non-embedding text-decoder parameters. */
  effectiveParams: number;
  /** Published MMLU (PT) accuracy in percent; null where none is published. */
  mmlu: number | null;
  /** What load() takes as `matformer`: a published configuration by name, any other as the configuration itself. */
  request: string | SliceConfig;
  /** Weight bytes of the slice per storage format (on the GPU in that format; in the checkpoint's, what a load reads). */
  bytes: Record<StorageFormat, number>;
  /** KV caches at the context the sizes were asked for. */
  kvCacheBytes: number;
}

export interface MatformerSizes {
  /** The checkpoint's storage format: what a load downloads (the engine converts to the GPU format on the device). */
  stored: StorageFormat;
  /** The parent's shape, for describing it. */
  parent: { numLayers: number; hiddenSize: number; vocabSize: number; ffnWidth: number };
  /** Every configuration that fits the parent, largest first (effective parameters, then published quality). */
  sizes: MatformerSize[];
  /** What load()'s matformer 'auto' chooses among when not the published configurations (`matformerCandidates`); null for E4B. */
  candidates: MatformerCandidate[] | null;
}

/** The figures of one size once a GPU format is chosen. */
export interface SizeFigures {
  /** Weight bytes the load reads, in the checkpoint's storage format. */
  downloadBytes: number;
  /** Weight bytes on the GPU in `format`. */
  weightBytes: number;
  kvCacheBytes: number;
  /** weightBytes + kvCacheBytes. */
  gpuBytes: number;
  format: StorageFormat;
}

function storedFormat(raw: unknown): StorageFormat {
  const dtype = (raw as { torch_dtype?: unknown } | null)?.torch_dtype;
  return dtype === 'float32' ? 'f32' : dtype === 'float16' ? 'f16' : 'bf16';
}

/** `slice` with its figures when it fits `parent`; null when it does not (a SliceError). */
function size(parent: ModelConfig, slice: SliceConfig, context: number, chunk: number, rest: Pick<MatformerSize, 'aliases' | 'mmlu' | 'request'>): MatformerSize | null {
  try {
    const text = planSlice(parent, slice).config.text;
    const stats = sliceStats(parent, slice);
    return { slice, numLayers: text.numLayers, effectiveParams: stats.effectiveParams, bytes: stats.bytes, kvCacheBytes: runtimeBytes(text, context, chunk).kvCache, ...rest };
  } catch (e) {
    if (e instanceof SliceError) return null;
    throw e;
  }
}

/**
 * The sizes `model` can load with `maxContext` / `maxChunk` as load() would be given them. Throws
 * the model package's typed errors for a config.json or slicing configuration that does not parse.
 */
export function matformerSizes(model: MatformerModel, options: { maxContext?: number; maxChunk?: number } = {}): MatformerSizes {
  const context = options.maxContext ?? DEFAULT_MAX_CONTEXT;
  const chunk = options.maxChunk ?? DEFAULT_MAX_CHUNK;
  const raw = model === 'gemma-3n-e4b' ? E4B_CONFIG : model.config;
  const parent = parseConfig(raw);
  let sizes: Array<MatformerSize | null>;
  let candidates: MatformerCandidate[] | null = null;
  if (model === 'gemma-3n-e4b') {
    sizes = publishedSlices.map((p) => size(parent, p, context, chunk, { aliases: p.aliases, mmlu: p.mmlu, request: p.name }));
  } else {
    const slices = model.slices.map(parseSliceJson);
    sizes = slices.map((s) => size(parent, s, context, chunk, { aliases: [], mmlu: null, request: s }));
    candidates = slices;
  }
  const kept = sizes.filter((o): o is MatformerSize => o !== null);
  kept.sort((a, b) => b.effectiveParams - a.effectiveParams || (b.mmlu ?? -1) - (a.mmlu ?? -1));
  const t = parent.text;
  return { stored: storedFormat(raw), parent: { numLayers: t.numLayers, hiddenSize: t.hiddenSize, vocabSize: t.vocabSize, ffnWidth: Math.max(...t.intermediateSize) }, sizes: kept, candidates };
}

/** A size's figures when the weights take `format` on the GPU (`auto` keeps the checkpoint's). */
export function sizeFigures(sizes: Pick<MatformerSizes, 'stored'>, s: MatformerSize, format: WeightFormat): SizeFigures {
  const f = format === 'auto' ? sizes.stored : format;
  return { downloadBytes: s.bytes[sizes.stored], weightBytes: s.bytes[f], kvCacheBytes: s.kvCacheBytes, gpuBytes: s.bytes[f] + s.kvCacheBytes, format: f };
}
