/**
 * The MatFormer configurations the demo offers per model and what each costs. Gemma 3n E4B offers
 * the 16 published configurations (spec §8) against E4B's built-in config (E4B_CONFIG of @g3n/gemma3n); the bundled
 * tiny MatFormer parent offers its fixture's slicing configurations, read at build time. E2B, the tiny model and
 * custom URLs offer none. Figures come from the MatFormer code of @g3n/gemma3n: the slice's weight
 * bytes per storage format (sliceStats) and its KV caches at the demo's context (runtimeBytes).
 */
import { E4B_CONFIG, parseConfig, parseSliceJson, planSlice, publishedSlices, runtimeBytes, SliceError, sliceStats, type ModelConfig, type SliceConfig, type StorageFormat } from '@g3n/gemma3n';
import type { MatformerCandidate, WeightQuant } from '@g3n/engine';
import tinyMatformer from 'virtual:g3n-tiny-matformer';
import type { ModelChoice } from './models.ts';

/** Tokens of context the demo loads every model with (the engine's default), which sizes the KV caches. */
export const DEMO_CONTEXT = 4096;
/** Tokens per prefill pass (the engine's default); the sliding-window KV caches hold a window plus one pass. */
const DEMO_CHUNK = 128;

export interface SizeOption {
  slice: SliceConfig;
  /** Published names that also find it (e.g. 'E2B'). */
  aliases: string[];
  numLayers: number;
  effectiveParams: number;
  /** Published MMLU (PT) accuracy in percent; null where none is published. */
  mmlu: number | null;
  /** What engine.load takes as `matformer`: a published configuration by name, any other as the configuration itself. */
  request: string | SliceConfig;
}

export interface MatformerFamily {
  parent: ModelConfig;
  /** The checkpoint's storage format: what a load downloads (the engine converts to the GPU format on the device). */
  stored: StorageFormat;
  /** Largest first (effective parameters, then published quality). */
  options: SizeOption[];
  /** What matformer 'auto' chooses among when it is not the published configurations (the engine's default). */
  candidates: MatformerCandidate[] | null;
}

export interface SizeFigures {
  /** Weight bytes the load reads, in the checkpoint's storage format. */
  downloadBytes: number;
  /** Weight bytes on the GPU in the chosen format. */
  weightBytes: number;
  /** KV caches at DEMO_CONTEXT tokens. */
  kvCacheBytes: number;
  /** weightBytes + kvCacheBytes. */
  gpuBytes: number;
  format: StorageFormat;
}

/** `option` when its configuration fits `parent`; null when it does not (a SliceError). */
function valid(parent: ModelConfig, slice: SliceConfig, rest: Omit<SizeOption, 'slice' | 'numLayers' | 'effectiveParams'>): SizeOption | null {
  try {
    const numLayers = planSlice(parent, slice).config.text.numLayers;
    return { slice, numLayers, effectiveParams: sliceStats(parent, slice).effectiveParams, ...rest };
  } catch (e) {
    if (e instanceof SliceError) return null;
    throw e;
  }
}

function family(parent: ModelConfig, stored: StorageFormat, options: Array<SizeOption | null>, candidates: MatformerCandidate[] | null): MatformerFamily {
  const kept = options.filter((o): o is SizeOption => o !== null);
  kept.sort((a, b) => b.effectiveParams - a.effectiveParams || (b.mmlu ?? -1) - (a.mmlu ?? -1));
  return { parent, stored, options: kept, candidates };
}

function e4bFamily(): MatformerFamily {
  const parent = parseConfig(E4B_CONFIG);
  return family(
    parent,
    storedFormat(E4B_CONFIG),
    publishedSlices.map((p) => valid(parent, p, { aliases: p.aliases, mmlu: p.mmlu, request: p.name })),
    null,
  );
}

function storedFormat(raw: unknown): StorageFormat {
  const dtype = (raw as { torch_dtype?: unknown } | null)?.torch_dtype;
  return dtype === 'float32' ? 'f32' : dtype === 'float16' ? 'f16' : 'bf16';
}

function tinyFamily(): MatformerFamily | null {
  if (!tinyMatformer) return null;
  const parent = parseConfig(tinyMatformer.config);
  const slices = tinyMatformer.slices.map(parseSliceJson);
  return family(
    parent,
    storedFormat(tinyMatformer.config),
    slices.map((s) => valid(parent, s, { aliases: [], mmlu: null, request: s })),
    slices,
  );
}

const families = new Map<ModelChoice, MatformerFamily | null>();

/** The configurations `choice` offers; null for a model that is not a MatFormer parent the demo knows. */
export function matformerFamily(choice: ModelChoice): MatformerFamily | null {
  if (choice !== 'e4b' && choice !== 'tiny-matformer') return null;
  if (!families.has(choice)) families.set(choice, choice === 'e4b' ? e4bFamily() : tinyFamily());
  return families.get(choice) ?? null;
}

/** The format the weights take on the GPU: `auto` keeps the checkpoint's. */
export function gpuFormat(family: MatformerFamily, quant: WeightQuant): StorageFormat {
  return quant === 'auto' ? family.stored : quant;
}

export function sizeFigures(family: MatformerFamily, option: SizeOption, quant: WeightQuant): SizeFigures {
  const stats = sliceStats(family.parent, option.slice);
  const text = planSlice(family.parent, option.slice).config.text;
  const format = gpuFormat(family, quant);
  const kvCacheBytes = runtimeBytes(text, DEMO_CONTEXT, DEMO_CHUNK).kvCache;
  return { downloadBytes: stats.bytes[family.stored], weightBytes: stats.bytes[format], kvCacheBytes, gpuBytes: stats.bytes[format] + kvCacheBytes, format };
}

/** One line about the bundled tiny MatFormer parent; null when this build does not bundle it. */
export function describeTinyMatformer(): string | null {
  const parent = matformerFamily('tiny-matformer')?.parent.text;
  if (!parent) return null;
  return `gemma3n-tiny-matformer: a MatFormer parent of ${parent.numLayers} layers (FFN width ${Math.max(...parent.intermediateSize)}), hidden size ${parent.hiddenSize}, vocabulary ${parent.vocabSize}; choose a size below. Random weights: its answers are gibberish tokens, which is expected.`;
}

const fold = (s: string): string => s.replaceAll('"', '').trim().toLowerCase();

/** The option named `name` (its name or an alias, ignoring case and double quotes). */
export function findOption(family: MatformerFamily, name: string): SizeOption | undefined {
  const key = fold(name);
  return family.options.find((o) => fold(o.slice.name) === key || o.aliases.some((a) => fold(a) === key));
}
