/**
 * `matformer: 'auto'`: the largest published MatFormer configuration whose GPU memory fits the
 * device. A configuration's memory is its weights in the storage format (sliceStats: what the loader
 * uploads, PLE table included) plus the KV caches at the requested context and the activation
 * workspaces (prefill chunk and decode step, sized as model.ts allocates them). It fits when every
 * single buffer is within the adapter's buffer limits and the total within the memory budget
 * (WebGPU reports no free memory; callers pass an estimate such as navigator.deviceMemory / 2).
 * Larger means more effective parameters, then the higher published MMLU.
 */
import { G3nError, type Capabilities } from '@g3n/gpu';
import type { ModelConfig, TextConfig } from '../config.ts';
import { publishedSlices, sliceStats, type PublishedSlice, type StorageFormat } from './published.ts';
import { planSlice, SliceError } from './slice.ts';
import { textWorkspaceBytes } from '../workspace.ts';
import { tableBytes, textWeightTable } from '../weight-table.ts';
import type { SliceConfig } from './slice.ts';

export interface AutoSliceOptions {
  /** The storage format the weights are loaded in. */
  format: StorageFormat;
  /** The device's limits (gpu.caps.limits). */
  limits: Pick<Capabilities['limits'], 'maxBufferSize' | 'maxStorageBufferBindingSize'>;
  /** Bytes of GPU memory the model may take; null when the platform gives no estimate (limits alone decide). */
  budgetBytes: number | null;
  /** Where the budget comes from, for the reason (e.g. "navigator.deviceMemory 8 GiB / 2"). */
  budgetSource?: string;
  /** Context the KV caches are sized for (default min(max_position_embeddings, 4096), as the model loads). */
  maxContext?: number;
  /** Tokens per prefill pass (default 128). */
  maxChunk?: number;
  /** Where the PLE table lives (default 'gpu'): 'host' leaves it out of the GPU memory, adding its staging rows. */
  ple?: 'gpu' | 'host';
  /** Configurations to choose from (default: the 16 published ones); an `mmlu` of NaN means not known, and the reason leaves it out. */
  candidates?: readonly PublishedSlice[];
}

export interface SliceMemory {
  weights: number;
  kvCache: number;
  activations: number;
  total: number;
  /** The largest single buffer (a KV cache, an activation buffer or a weight row block). */
  largestBuffer: number;
}

export interface AutoSliceCandidate {
  slice: PublishedSlice;
  memory: SliceMemory;
  fits: boolean;
  /** Why it does not fit (empty when it does). */
  why: string;
}

export interface AutoSliceChoice {
  slice: PublishedSlice;
  memory: SliceMemory;
  budgetBytes: number | null;
  /** One human-readable sentence: what was chosen, what it needs, what the next larger one needs. */
  reason: string;
  /** Every applicable configuration, largest first, with its memory and verdict. */
  candidates: AutoSliceCandidate[];
}

const F32 = 4;

/**
 * KV caches and activation workspaces of a text model (f32, as model.ts allocates them; the activations from
 * workspace.ts's table). `pleRowBytes`: with the PLE table on the host, the stored bytes of one of its rows
 * (the staging tensors hold maxChunk + 1 rows, and maxChunk u32 row indices).
 */
export function runtimeBytes(t: TextConfig, maxContext: number, maxChunk: number, pleRowBytes = 0): { kvCache: number; activations: number; largestBuffer: number } {
  const context = Math.min(maxContext, t.maxPositionEmbeddings);
  const chunk = Math.min(maxChunk, context);
  let kvCache = 0;
  let largest = 0;
  t.kvSource.forEach((src, l) => {
    if (src !== l) return;
    const cap = t.layerTypes[l] === 'full' ? context : t.slidingWindow + chunk - 1;
    const one = t.numKvHeads * cap * t.headDim * F32;
    kvCache += 2 * one;
    largest = Math.max(largest, one);
  });
  const pleStaging = pleRowBytes > 0 ? (chunk + 1) * pleRowBytes + 4 * chunk : 0;
  const activations = textWorkspaceBytes(t, chunk, chunk) + textWorkspaceBytes(t, 1, 1) + pleStaging;
  const I = Math.max(...t.intermediateSize);
  largest = Math.max(largest, chunk * t.vocabSize * F32, chunk * I * F32, chunk * t.numLayers * t.hiddenSizePerLayerInput * F32);
  return { kvCache, activations, largestBuffer: largest };
}

const gb = (n: number): string => `${(n / 1e9).toFixed(2)} GB`;
const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;

/** GPU bytes of the PLE table of `cfg` in `format` (data and scales). */
export function pleTableBytes(cfg: ModelConfig, format: StorageFormat): number {
  return tableBytes(textWeightTable(cfg), format, (s) => s.role === 'ple');
}

/**
 * GPU memory of the text model of `slice` cut from `parent` (weights in `format`, KV caches at the
 * context, activations), with the PLE table on the GPU or on the host: what 'auto' choices and the
 * benchmark's memory table count.
 */
export function textModelMemory(parent: ModelConfig, slice: SliceConfig | null, o: Pick<AutoSliceOptions, 'format' | 'ple' | 'maxContext' | 'maxChunk'>): SliceMemory {
  const config = slice ? planSlice(parent, slice).config : parent;
  const text = config.text;
  const ple = pleTableBytes(config, o.format);
  const host = o.ple === 'host';
  const all = slice ? sliceStats(parent, slice).bytes[o.format] : loadedBytes(config, o.format);
  const weights = all - (host ? ple : 0);
  const rowBytes = host ? ple / text.vocabSizePerLayerInput : 0;
  const rt = runtimeBytes(text, o.maxContext ?? Math.min(text.maxPositionEmbeddings, 4096), o.maxChunk ?? 128, rowBytes);
  return { weights, kvCache: rt.kvCache, activations: rt.activations, total: weights + rt.kvCache + rt.activations, largestBuffer: rt.largestBuffer };
}

/** GPU bytes of the text weights the loader uploads for `cfg` in `format` (f32 where it keeps f32; bf16 for rows that are not whole quantization groups). */
function loadedBytes(cfg: ModelConfig, format: StorageFormat): number {
  const dtype = (s: { load: string; quantizable: boolean }) => (s.load !== 'matrix' ? 'f32' : (format === 'q8' || format === 'q4') && !s.quantizable ? 'bf16' : format);
  return tableBytes(textWeightTable(cfg), dtype, (s) => s.stage === 'text' && s.slot !== null);
}

function memoryOf(parent: ModelConfig, slice: PublishedSlice, o: AutoSliceOptions): SliceMemory {
  return textModelMemory(parent, slice, o);
}

function describe(c: { slice: PublishedSlice; memory: SliceMemory }, format: StorageFormat): string {
  const m = c.memory;
  const mmlu = Number.isFinite(c.slice.mmlu) ? `, MMLU ${c.slice.mmlu}%` : '';
  return `"${c.slice.name}" (${c.slice.effectiveParamsB.toFixed(2)}B effective parameters${mmlu}) needs ${gb(m.total)} (${format} weights ${gb(m.weights)} + KV cache ${gb(m.kvCache)} + activations ${gb(m.activations)})`;
}

/**
 * Choose the largest configuration of `parent` that fits (see the module comment). Throws a
 * G3nError 'OUT_OF_MEMORY' when none does, and 'UNSUPPORTED_CONFIG' when no candidate applies to
 * this parent (published configurations are slices of E4B: 35 layers, FFN 16384).
 */
export function chooseSlice(parent: ModelConfig, o: AutoSliceOptions): AutoSliceChoice {
  const limit = Math.min(o.limits.maxBufferSize, o.limits.maxStorageBufferBindingSize);
  const applicable: AutoSliceCandidate[] = [];
  for (const slice of o.candidates ?? publishedSlices) {
    let memory: SliceMemory;
    try {
      memory = memoryOf(parent, slice, o);
    } catch (e) {
      if (e instanceof SliceError) continue;
      throw e;
    }
    const why =
      memory.largestBuffer > limit
        ? `over the adapter's ${mb(limit)} buffer limit with a ${mb(memory.largestBuffer)} buffer`
        : o.budgetBytes !== null && memory.total > o.budgetBytes
          ? `over the ${gb(o.budgetBytes)} budget`
          : '';
    applicable.push({ slice, memory, fits: why === '', why });
  }
  if (applicable.length === 0) {
    throw new G3nError('UNSUPPORTED_CONFIG', `No MatFormer configuration applies to this model (${parent.text.numLayers} layers): 'auto' chooses among slices of Gemma 3n E4B. Load it without matformer, or name a slice config.`);
  }
  applicable.sort((a, b) => b.slice.effectiveParamsB - a.slice.effectiveParamsB || b.slice.mmlu - a.slice.mmlu || a.memory.total - b.memory.total);
  const budget =
    o.budgetBytes === null ? `the adapter's ${mb(limit)} buffer limit (the platform gives no memory estimate, so only limits apply)` : `a budget of ${gb(o.budgetBytes)}${o.budgetSource ? ` (${o.budgetSource})` : ''}`;
  const index = applicable.findIndex((c) => c.fits);
  if (index < 0) {
    const smallest = applicable.reduce((a, b) => (b.memory.total < a.memory.total ? b : a));
    throw new G3nError(
      'OUT_OF_MEMORY',
      `No MatFormer configuration fits ${budget}: the smallest, ${describe(smallest, o.format)}: ${smallest.why}. Load a smaller quantization (q4), a shorter context or prefill chunk, or free GPU memory.`,
      { budgetBytes: o.budgetBytes, neededBytes: smallest.memory.total },
    );
  }
  const chosen = applicable[index];
  const larger = applicable.slice(0, index).filter((c) => c.slice.effectiveParamsB > chosen.slice.effectiveParamsB);
  const next = larger[larger.length - 1];
  const tail = next ? `; the next larger, ${describe(next, o.format)}: ${next.why}` : index === 0 ? '; it is the largest configuration' : '';
  return {
    slice: chosen.slice,
    memory: chosen.memory,
    budgetBytes: o.budgetBytes,
    reason: `Chose ${describe(chosen, o.format)}, within ${budget}${tail}.`,
    candidates: applicable,
  };
}

/** A budget from navigator.deviceMemory (GiB, capped by browsers), half of it for the GPU; null where it is not reported. */
export function deviceMemoryBudget(): { bytes: number; source: string } | null {
  const gib = (globalThis.navigator as { deviceMemory?: number } | undefined)?.deviceMemory;
  return typeof gib === 'number' && gib > 0 ? { bytes: (gib * 2 ** 30) / 2, source: `navigator.deviceMemory ${gib} GiB / 2` } : null;
}
