/**
 * Loading a model for the engine: the weights (a Hugging Face checkpoint or a g3n artifact, read
 * through the engine's FileSource), optionally a MatFormer slice (named, given, or chosen by 'auto'
 * for this device), the tokenizer, generation defaults, the GPU upload with byte progress, a warm-up
 * pass that builds the pipelines, and the memory estimate.
 */
import {
  artifactSliceTensors,
  choosePle,
  chooseSlice,
  deviceMemoryBudget,
  EMBED_TOKENS,
  GREEDY,
  isSelectable,
  loadTextModel,
  parentTensorName,
  parseConfigReport,
  planSlice,
  resolveSlice,
  SliceError,
  sliceStats,
  storageDtype,
  tableBytes,
  textWeightTable,
  type Gemma3nTextModel,
  type ModelConfig,
  type PublishedSlice,
  type SelectableWeights,
  type SliceConfig,
  type SlicePlan,
  type StorageFormat,
  type WeightSpec,
} from '@g3n/gemma3n';
import { numel, type Gpu } from '@g3n/gpu';
import { Tokenizer } from '@g3n/preprocess';
import { CheckpointError, NetworkError, openModelDir, readJsonFile, type Artifact, type FileSource, type ModelWeights, type ReadAhead, type TensorData } from '@g3n/weights';
import type { LoadTracker } from './progress.ts';
import { opfsPleSource, type StoredDtype } from './ple-opfs.ts';
import { towerSupport, Towers, type ReadRouter, type TowerSupport } from './towers.ts';
import { samplingDefaults } from './sampling.ts';
import type { LoadOptions, MatformerCandidate, MemoryEstimate, ModelInfo } from './types.ts';

/**
 * A Hugging Face checkpoint or a g3n artifact (which reads by selection: MatFormer slices fetch only
 * their bytes; through the weights cache it can fetch what the load reads ahead of the reads).
 */
type Weights = ModelWeights & Partial<SelectableWeights> & Pick<Partial<Artifact>, 'readAhead'>;

export interface LoadedModel {
  model: Gemma3nTextModel;
  /** The towers the checkpoint holds (soft tokens per item), whether loaded yet or not. */
  media: TowerSupport;
  /** Loads the towers on first use and encodes images and clips; null when the checkpoint has neither. */
  towers: Towers | null;
  tokenizer: Tokenizer;
  /** The checkpoint's chat template (chat_template.jinja or tokenizer_config.json), if it ships one. */
  chatTemplate: string | undefined;
  eosIds: Set<number>;
  info: ModelInfo;
}

async function readText(files: FileSource, path: string): Promise<string | null> {
  const src = await files.open(path);
  if (!src) return null;
  return new TextDecoder().decode(await src.read(0, await src.size()));
}

/** A JSON file of the model folder, or null; one that does not parse is never served from the cache again (readJsonFile). */
async function readJson(files: FileSource, path: string): Promise<unknown> {
  const src = await files.open(path);
  if (!src) return null;
  return readJsonFile(src, `${files.base.replace(/\/?$/, '/')}${path}`);
}

async function fetchJson(url: string): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new NetworkError(url, 0, `fetching the tokenizer failed: ${(e as Error).message}`);
  }
  if (!res.ok) throw new NetworkError(url, res.status, 'fetching the tokenizer failed');
  return res.json();
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** tokenizer.json from the option (URL or parsed JSON) or the model folder, with tokenizer_config.json and the chat template. */
async function loadTokenizer(files: FileSource, option: LoadOptions['tokenizer']): Promise<{ tokenizer: Tokenizer; template: string | undefined }> {
  const config = await readJson(files, 'tokenizer_config.json');
  const tokConfig = isRecord(config) ? config : {};
  let json: unknown = option;
  if (typeof option === 'string') json = await fetchJson(option);
  else if (option === undefined) {
    json = await readJson(files, 'tokenizer.json');
    if (json === null) {
      throw new CheckpointError('missing-file', `${files.base}: tokenizer.json not found. Add the checkpoint's tokenizer.json to the folder, or pass load({ tokenizer }).`, { file: 'tokenizer.json' });
    }
  }
  const tokenizer = Tokenizer.fromJSON(json as object, tokConfig);
  const jinja = await readText(files, 'chat_template.jinja');
  const template = jinja ?? (typeof tokConfig.chat_template === 'string' ? tokConfig.chat_template : undefined);
  return { tokenizer, template };
}

function eosIds(config: ModelConfig, gen: unknown): Set<number> {
  const ids = new Set(config.text.eosTokenIds);
  const extra = isRecord(gen) ? gen.eos_token_id : undefined;
  for (const id of Array.isArray(extra) ? extra : [extra]) if (Number.isInteger(id)) ids.add(id as number);
  return ids;
}

function sourceDtype(weights: ModelWeights, name: string | undefined): TensorData['dtype'] {
  const d = name === undefined ? undefined : weights.tensors.get(name)?.dtype;
  return d === 'F32' || d === 'F16' || d === 'Q8' || d === 'Q4' ? d : 'BF16';
}

/** Whether the loader keeps a tensor in f32 whatever the format (norms, scales, AltUp coefficients and router). */
function isF32(s: WeightSpec): boolean {
  return s.load !== 'matrix';
}

/**
 * Whether the text model reads a tensor: every text tensor with a slot in the weight table and, of an
 * embedder the weights have, those with one (the tensors its hard-token table is built from; its soft
 * norm belongs to the vision and audio towers, which a text load leaves out).
 */
function isRead(s: WeightSpec, present: (s: WeightSpec) => boolean): boolean {
  return s.slot !== null && (s.stage === 'text' || present(s));
}

const FLOAT_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

/** The text weights the loader reads (of the slice's table where there is one). */
function readSpecs(parent: ModelConfig, plan: SlicePlan | null, weights: Weights): WeightSpec[] {
  const present = (s: WeightSpec) => {
    const p = plan ? parentTensorName(plan, s.name) : s.name;
    return p !== undefined && weights.tensors.has(p);
  };
  return textWeightTable(plan?.config ?? parent).filter((s) => isRead(s, present));
}

/**
 * For an artifact read through the weights cache: what the text load will read, to fetch ahead of
 * it (every piece downloaded, checked and stored before the working model is let go). The slice's
 * selections only; never a tower's tensors; not the PLE table where it stays on the host (its rows
 * are read when tokens need them). Null for a Hugging Face checkpoint or files without a cache.
 */
function readAhead(parent: ModelConfig, plan: SlicePlan | null, weights: Weights, options: LoadOptions, budget: Budget | null): ReadAhead | null {
  if (!weights.readAhead || !isSelectable(weights)) return null;
  const host = options.ple === 'host' || (options.ple === 'auto' && choosePle(parent, plan, weights, { ple: 'auto', format: options.quant ?? 'auto', maxContext: options.maxContext, maxChunk: options.maxChunk, memoryBudgetBytes: budget?.bytes }) === 'host');
  const names = new Set(readSpecs(parent, plan, weights).filter((s) => !(host && s.role === 'ple')).map((s) => s.name));
  const selections = artifactSliceTensors(parent, plan, weights.manifest).filter((t) => names.has(t.name));
  return weights.readAhead(selections.map((t) => ({ name: t.parent, selection: t.selection })));
}

/**
 * Bytes of the weights as read (progress: exactly what the loader reads, a MatFormer slice of an
 * artifact by selection, of a checkpoint whole parent tensors) and of their GPU copies (memory:
 * matrices in the load format, vectors in f32).
 */
function weightSizes(parent: ModelConfig, plan: SlicePlan | null, weights: Weights, quant: LoadOptions['quant']) {
  const parentName = (name: string) => (plan ? parentTensorName(plan, name) : name);
  const read = readSpecs(parent, plan, weights);
  let stored = 0;
  if (isSelectable(weights)) {
    const names = new Set(read.map((s) => s.name));
    for (const t of artifactSliceTensors(parent, plan, weights.manifest)) if (names.has(t.name)) stored += t.bytes;
  } else {
    for (const s of read) {
      const info = weights.tensors.get(parentName(s.name) ?? '');
      stored += info ? numel(info.shape) * (FLOAT_BYTES[info.dtype] ?? 0) : 0;
    }
  }
  const gpu = tableBytes(read, (s) => (isF32(s) ? 'f32' : storageDtype(quant ?? 'auto', sourceDtype(weights, parentName(s.name)), s.shape[s.shape.length - 1], s.quantizable)));
  return { stored, gpu };
}

/** The format the weights take on the GPU, for sizing matformer 'auto'. */
function storageFormat(weights: Weights, quant: LoadOptions['quant']): StorageFormat {
  if (quant && quant !== 'auto') return quant;
  if (isSelectable(weights)) return weights.manifest.quant;
  const d = weights.tensors.get(EMBED_TOKENS)?.dtype;
  return d === 'F32' ? 'f32' : d === 'F16' ? 'f16' : 'bf16';
}

/** A candidate of 'auto' as chooseSlice takes it: its effective parameters computed where not given. */
function asPublished(parent: ModelConfig, c: MatformerCandidate): PublishedSlice {
  let params = c.effectiveParamsB ?? null;
  if (params === null) {
    try {
      params = sliceStats(parent, c).effectiveParams / 1e9;
    } catch (e) {
      if (!(e instanceof SliceError)) throw e;
      params = 0;
    }
  }
  return { ...c, numLayers: c.numLayers ?? c.ffnHiddenDims.length, aliases: [], effectiveParamsB: params, mmlu: c.mmlu ?? Number.NaN };
}

interface Budget {
  bytes: number;
  source: string;
}

/** GPU memory the model may take: the load option, else navigator.deviceMemory / 2, else unknown. */
function memoryBudget(options: LoadOptions): Budget | null {
  if (options.memoryBudgetBytes !== undefined) return { bytes: options.memoryBudgetBytes, source: 'memoryBudgetBytes' };
  return deviceMemoryBudget();
}

interface MatformerPick {
  slice: SliceConfig;
  plan: SlicePlan;
  reason: string;
}

/** The OPFS row store of the last load (its synchronous handle locks the file until closed). */
let pleStore: { close(): void } | null = null;

/**
 * With the PLE table on the host: its rows from OPFS (written there once from the weights, read by
 * synchronous handle in the Worker); undefined where OPFS has no synchronous handles or for a MatFormer
 * slice, and the loader reads the rows from the weights (through the weights cache).
 */
async function pleRowsInOpfs(files: FileSource, parent: ModelConfig, plan: SlicePlan | null, weights: Weights) {
  pleStore?.close();
  pleStore = null;
  const spec = textWeightTable(parent).find((s) => s.role === 'ple');
  const info = spec && weights.tensors.get(spec.name);
  if (plan || !spec || !info) return undefined;
  const revision = isSelectable(weights) ? `${weights.manifest.model.id}@${weights.manifest.model.revision}` : '';
  const [rows, cols] = spec.shape;
  const store = await opfsPleSource({ key: `${files.base}|${revision}|${info.dtype}|${rows}x${cols}`, dtype: info.dtype as StoredDtype, rows, cols, blocks: () => weights.readBlocks(spec.name, { wholeRows: true }) });
  pleStore = store;
  return store ?? undefined;
}

/**
 * The MatFormer slice to load: the one given, the one named (among matformerCandidates, then the
 * published configurations), or the one 'auto' chooses for this device; null for the whole model.
 */
function pickMatformer(gpu: Gpu, parent: ModelConfig, weights: Weights, options: LoadOptions, budget: Budget | null): MatformerPick | null {
  const m = options.matformer;
  if (m === undefined) return null;
  if (m !== 'auto') {
    const slice = typeof m === 'string' ? (options.matformerCandidates?.find((c) => c.name === m) ?? resolveSlice(m)) : m;
    const plan = planSlice(parent, slice);
    const asked = typeof m === 'string' ? `Requested by name ('${m}')` : 'Requested as a slice config';
    return { slice, plan, reason: `${asked}: "${slice.name}", ${plan.keptLayers.length} of ${parent.text.numLayers} layers.` };
  }
  const choice = chooseSlice(parent, {
    format: storageFormat(weights, options.quant),
    limits: gpu.caps.limits,
    budgetBytes: budget?.bytes ?? null,
    budgetSource: budget?.source,
    maxContext: options.maxContext,
    maxChunk: options.maxChunk,
    ple: options.ple === 'host' ? 'host' : 'gpu',
    candidates: options.matformerCandidates?.map((c) => asPublished(parent, c)),
  });
  return { slice: choice.slice, plan: planSlice(parent, choice.slice), reason: choice.reason };
}

/**
 * Load the model read through `files` onto `gpu`, reporting to `tracker`. `beforeWeights` is called
 * once the config, tokenizer and slice are settled and, for an artifact read through the weights
 * cache, every piece the text load reads is downloaded, checked and stored; right before the first
 * weight is read for the GPU (the engine releases the model it had loaded then). On any failure after
 * the model exists, it is destroyed before the error propagates.
 */
export async function loadModel(gpu: Gpu, files: FileSource, options: LoadOptions, tracker: LoadTracker, router?: ReadRouter, beforeWeights?: () => void): Promise<LoadedModel> {
  tracker.step('config', 0, 1);
  const weights: Weights = await openModelDir(files);
  tracker.weightsVerified(weights.format === 'g3n-artifact');
  const { config: parent, defaulted } = parseConfigReport(weights.config);
  const gen = await readJson(files, 'generation_config.json');
  tracker.step('config', 1, 1);

  tracker.step('tokenizer', 0, 1);
  const { tokenizer, template } = await loadTokenizer(files, options.tokenizer);
  tracker.step('tokenizer', 1, 1);

  const budget = memoryBudget(options);
  const matformer = pickMatformer(gpu, parent, weights, options, budget);
  const plan = matformer?.plan ?? null;
  const config = plan?.config ?? parent;
  const sizes = weightSizes(parent, plan, weights, options.quant);
  // An artifact through the weights cache is downloaded and checked first: a damaged piece fails the
  // load while the model loaded before is still in place, and the loader then reads from the cache.
  const ahead = readAhead(parent, plan, weights, options, budget);
  if (ahead) {
    tracker.weightsAhead(ahead.bytes);
    await ahead.fetch(tracker.fetchedAhead);
    tracker.weightsLocal();
  }
  beforeWeights?.();
  if (!ahead) tracker.weightsStart(sizes.stored);
  const pleSource = options.ple === 'host' || options.ple === 'auto' ? await pleRowsInOpfs(files, parent, plan, weights) : undefined;
  const model = await loadTextModel(gpu, weights, { format: options.quant ?? 'auto', maxContext: options.maxContext, maxChunk: options.maxChunk, matformer: matformer?.slice, checkNumerics: options.checkNumerics, ple: options.ple, memoryBudgetBytes: budget?.bytes, pleSource });
  try {
    tracker.weightsDone();
    // Build every pipeline now: a prefill, a greedy and a sampled decode step, then forget them.
    tracker.step('compile', 0, 3);
    await model.prefillSample([config.text.bosTokenId], GREEDY, 0);
    tracker.step('compile', 1, 3);
    await model.decodeSample(GREEDY, 1);
    tracker.step('compile', 2, 3);
    await model.decodeSample({ ...GREEDY, temperature: 1 }, 2);
    model.reset(0);
    tracker.step('compile', 3, 3);
  } catch (e) {
    model.destroy();
    throw e;
  }

  const cache = model.memoryBytes();
  // With the PLE table on the host its bytes stay off the GPU (its staging rows are in the caches' count).
  const host = model.hostPle;
  const weightBytes = sizes.gpu - (host ? tableBytes(textWeightTable(config), host.dtype, (s) => s.role === 'ple') : 0);
  const memory: MemoryEstimate = { weightBytes, cacheBytes: cache, totalBytes: weightBytes + cache, budgetBytes: budget?.bytes ?? null, ple: host ? 'host' : 'gpu', pleRows: host ? (pleSource ? 'opfs' : 'weights') : null };
  const eos = eosIds(config, gen);
  const media = towerSupport(parent, weights);
  const info: ModelInfo = {
    model: files.base,
    maxContext: model.maxContext,
    vocabSize: config.text.vocabSize,
    numLayers: config.text.numLayers,
    hiddenSize: config.text.hiddenSize,
    eosTokenIds: [...eos],
    defaults: samplingDefaults(gen),
    memory,
    matformer: matformer ? { name: matformer.slice.name, reason: matformer.reason } : null,
    inputs: { image: media.imageTokens !== null && router !== undefined, audio: media.audioTokens !== null && router !== undefined },
    configDefaults: defaulted,
  };
  let towers: Towers | null = null;
  if (media.imageTokens !== null || media.audioTokens !== null) {
    const preprocessor = await readJson(files, 'preprocessor_config.json');
    towers = router ? new Towers({ gpu, config: parent, weights, support: media, preprocessor, router, onProgress: options.onProgress, verified: weights.format === 'g3n-artifact' }) : null;
  }
  tracker.step('ready', 1, 1);
  return { model, media: towers ? media : { imageTokens: null, audioTokens: null }, towers, tokenizer, chatTemplate: template, eosIds: eos, info };
}
