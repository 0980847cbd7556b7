import type { Gpu } from '@g3n/gpu';
import { CheckpointError, DEFAULT_BLOCK_BYTES, partBytes, type ShardProgress, type ModelWeights, type PrefetchReport, type WeightInfo } from '@g3n/weights';
import { parseConfig, type ModelConfig } from './config.ts';
import type { FloatTensorData, TensorData, WeightFormat } from './gpu-weights.ts';
import { artifactSliceReader, isSelectable } from './matformer/artifact-slice.ts';
import { chooseSlice, deviceMemoryBudget, textModelMemory, type AutoSliceChoice } from './matformer/auto.ts';
import { findPublishedSlice, type StorageFormat } from './matformer/published.ts';
import { parentTensorName, sliceReader, sliceRuns } from './matformer/reader.ts';
import { planSlice, SliceError, type SliceConfig, type SlicePlan } from './matformer/slice.ts';
import { selectionRowSource, type PleRowSource } from './ple-host.ts';
import { Gemma3nTextModel, type TextModelOptions } from './model.ts';
import { checkWeights, EMBED_TOKENS, textWeightTable } from './weight-table.ts';

export interface LoadTextModelOptions extends TextModelOptions {
  /**
   * Load a MatFormer slice of the checkpoint: a slicing configuration, a published configuration's
   * name, or 'auto' (the largest published configuration that fits this GPU, see matformer/auto.ts).
   */
  matformer?: SliceConfig | string;
  /** For 'auto': GPU memory the model may take, in bytes (default: navigator.deviceMemory / 2 where reported). */
  memoryBudgetBytes?: number;
  /** For 'auto': told which configuration was chosen and why. */
  onMatformerChoice?: (choice: AutoSliceChoice) => void;
  /** Progress of fetching an artifact opened by ranges (openArtifactRanges). */
  onProgress?: (p: ShardProgress) => void;
  /** Told what fetching an artifact opened by ranges took (bytes needed, cached, fetched; requests). */
  onPrefetch?: (report: PrefetchReport) => void;
  /**
   * Stored bytes read at a time (default 16 MiB): a matrix larger than this (the embedding and PLE
   * tables) is read and uploaded block by block, never whole in JS memory.
   */
  blockBytes?: number;
  /** For `ple: 'auto'`: told where the PLE table went and why. */
  onPleChoice?: (choice: { ple: 'gpu' | 'host'; reason: string }) => void;
}

/** A budget at or below this (navigator.deviceMemory 4 GiB / 2: a phone) keeps the PLE table on the host. */
const LOW_MEMORY_BYTES = 2 * 2 ** 30;

/** Resolve a slice given by name (the 16 published configurations) or as a configuration object. */
export function resolveSlice(slice: SliceConfig | string): SliceConfig {
  if (typeof slice !== 'string') return slice;
  const found = findPublishedSlice(slice);
  if (!found) throw new SliceError('bad-format', `no published MatFormer configuration is named '${slice}'`);
  return found;
}

type Weights = Pick<ModelWeights, 'config' | 'tensors' | 'readTensorData'> & Partial<Pick<ModelWeights, 'readBlocks'>>;

/** Stored bytes of a whole tensor (data and, for Q8/Q4, scales). */
function storedBytes(info: WeightInfo | undefined): number {
  if (!info) return 0;
  const b = partBytes(info.dtype, info.shape.reduce((a, x) => a * x, 1), 1);
  return b.data + b.scales;
}

/** The storage format the weights will take on the GPU, for sizing 'auto'. */
function storageFormat(weights: Weights, format: WeightFormat | undefined): StorageFormat {
  if (format && format !== 'auto') return format;
  const manifest = (weights as { manifest?: { quant?: StorageFormat } }).manifest;
  if (manifest?.quant) return manifest.quant;
  const dtype = weights.tensors.get(EMBED_TOKENS)?.dtype;
  return dtype === 'F32' ? 'f32' : dtype === 'F16' ? 'f16' : 'bf16';
}

/**
 * Where the PLE table goes: as asked, or for 'auto' the host when the model with the table on the GPU
 * would not fit the memory budget (memoryBudgetBytes, else navigator.deviceMemory / 2) or the budget is
 * a small device's; the GPU when no budget is known or it fits.
 */
export function choosePle(parent: ModelConfig, plan: SlicePlan | null, weights: Weights, options: LoadTextModelOptions): 'gpu' | 'host' {
  if (options.ple !== 'auto') return options.ple === 'host' ? 'host' : 'gpu';
  const budget = options.memoryBudgetBytes ?? deviceMemoryBudget()?.bytes ?? null;
  const memory = textModelMemory(parent, plan ? plan.slice : null, { format: storageFormat(weights, options.format), ple: 'gpu', maxContext: options.maxContext, maxChunk: options.maxChunk });
  const gb = (n: number) => `${(n / 1e9).toFixed(2)} GB`;
  const choice: { ple: 'gpu' | 'host'; reason: string } =
    budget === null
      ? { ple: 'gpu', reason: 'no memory budget is known: the PLE table stays on the GPU' }
      : memory.total > budget
        ? { ple: 'host', reason: `the model needs ${gb(memory.total)} with the PLE table on the GPU, over the ${gb(budget)} budget` }
        : budget <= LOW_MEMORY_BYTES
          ? { ple: 'host', reason: `a budget of ${gb(budget)} is a small device's` }
          : { ple: 'gpu', reason: `the model fits the ${gb(budget)} budget with the PLE table on the GPU (${gb(memory.total)})` };
  options.onPleChoice?.(choice);
  return choice.ple;
}

/** The PLE table's rows read from the weights by selection (random reads of whole rows; a slice's kept layers' columns). */
function weightsPleSource(parent: ModelConfig, plan: SlicePlan | null, weights: Weights): PleRowSource {
  const spec = textWeightTable(parent).find((s) => s.slot?.in === 'model' && s.slot.field === 'embedTokensPerLayer');
  const readBlocks = weights.readBlocks?.bind(weights);
  if (!spec || !readBlocks) throw new CheckpointError('missing-tensor', "ple: 'host' reads the PLE table's rows by selection, which these weights do not offer", { tensor: spec?.name ?? '' });
  const elements = plan ? sliceRuns(plan, spec.name, spec.shape).elements : undefined;
  const cols = elements ? elements.reduce((a, r) => a + r[1], 0) : spec.shape[1];
  return selectionRowSource((selection) => readBlocks(spec.name, { selection, wholeRows: true }), cols, elements);
}

/** The slice to load: a named or given configuration, or the one 'auto' chooses for this GPU. */
function pickSlice(gpu: Gpu, parent: ModelConfig, weights: Weights, options: LoadTextModelOptions): SliceConfig {
  const m = options.matformer as SliceConfig | string;
  if (m !== 'auto') return resolveSlice(m);
  const device = options.memoryBudgetBytes === undefined ? deviceMemoryBudget() : null;
  const choice = chooseSlice(parent, {
    format: storageFormat(weights, options.format),
    limits: gpu.caps.limits,
    budgetBytes: options.memoryBudgetBytes ?? device?.bytes ?? null,
    budgetSource: options.memoryBudgetBytes === undefined ? device?.source : 'memoryBudgetBytes',
    maxContext: options.maxContext,
    maxChunk: options.maxChunk,
    ple: options.ple === undefined || options.ple === 'gpu' ? 'gpu' : 'host',
  });
  options.onMatformerChoice?.(choice);
  return choice.slice;
}

/**
 * Validate weights (an HF checkpoint or a g3n artifact, see openModelDir) against their config.json
 * and load the text decoder onto the GPU, or a MatFormer slice of it, with no sliced copy written
 * anywhere. From a g3n artifact the slice is read in the artifact's stored layout (any storage format,
 * Q8/Q4 included): only its bytes are read, and an artifact opened by ranges fetches only those (see
 * matformer/artifact-slice.ts). From an HF checkpoint the float tensors are read and sliced on the
 * CPU. Either way a matrix of more than `blockBytes` stored bytes is read and uploaded in blocks.
 */
export async function loadTextModel(gpu: Gpu, weights: Weights, options: LoadTextModelOptions = {}): Promise<Gemma3nTextModel> {
  const parent: ModelConfig = parseConfig(weights.config);
  checkWeights(textWeightTable(parent), weights.tensors);
  const plan = options.matformer === undefined ? null : planSlice(parent, pickSlice(gpu, parent, weights, options));
  const ple = choosePle(parent, plan, weights, options);
  options = { ...options, ple, pleSource: ple === 'host' ? (options.pleSource ?? weightsPleSource(parent, plan, weights)) : undefined };
  const maxBytes = options.blockBytes ?? DEFAULT_BLOCK_BYTES;
  if (isSelectable(weights) && (plan || weights.prefetch)) {
    const sliced = artifactSliceReader(parent, plan, weights);
    const report = await sliced.prefetch(options.onProgress);
    if (report) options.onPrefetch?.(report);
    return Gemma3nTextModel.load(gpu, plan ? plan.config : parent, sliced.read, sliced.has, options, (name) => sliced.blocks(name, maxBytes));
  }
  const has = (name: string) => weights.tensors.has(name);
  const read = async (name: string): Promise<TensorData> => {
    if (!has(name)) throw new CheckpointError('missing-tensor', `tensor '${name}' is missing from the weights`, { tensor: name });
    return weights.readTensorData(name);
  };
  const readBlocks = weights.readBlocks?.bind(weights);
  const large = (name: string | undefined) => name !== undefined && storedBytes(weights.tensors.get(name)) > maxBytes;
  if (!plan) {
    const blocks = (name: string) => (readBlocks && large(name) ? (wholeRows: boolean) => readBlocks(name, { maxBytes, wholeRows }) : null);
    return Gemma3nTextModel.load(gpu, parent, read, has, options, blocks);
  }
  const sliced = sliceReader(plan, {
    has,
    readBlocks,
    shape: (name) => weights.tensors.get(name)?.shape,
    read: async (name): Promise<FloatTensorData> => {
      const data = await read(name);
      if (data.dtype !== 'F32' && data.dtype !== 'F16' && data.dtype !== 'BF16') {
        throw new SliceError('bad-format', `slicing ${data.dtype} weights on the CPU is not supported; slice a g3n artifact (read by selection) or a float checkpoint`);
      }
      return data;
    },
  });
  const blocks = (name: string) => (large(parentTensorName(plan, name)) ? sliced.blocks(name, maxBytes) : null);
  return Gemma3nTextModel.load(gpu, plan.config, sliced.read, sliced.has, options, blocks);
}
