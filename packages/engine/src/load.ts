/**
 * Loading a model for the engine: the weights (a Hugging Face checkpoint or a g3n artifact, read
 * through the engine's FileSource), optionally MatFormer-sliced at load, the tokenizer, generation
 * defaults, the GPU upload with byte progress, a warm-up pass that builds the pipelines, and the
 * memory estimate.
 */
import {
  GREEDY,
  loadTextModel,
  parentTensorName,
  parseConfig,
  planSlice,
  resolveSlice,
  storageDtype,
  tableBytes,
  textWeightTable,
  type Gemma3nTextModel,
  type ModelConfig,
  type WeightSpec,
} from '@g3n/gemma3n';
import type { DType, Gpu } from '@g3n/gpu';
import { Tokenizer } from '@g3n/preprocess';
import { CheckpointError, NetworkError, openModelDir, type FileSource, type ModelWeights, type TensorData } from '@g3n/weights';
import { samplingDefaults } from './sampling.ts';
import type { LoadOptions, LoadProgress, MemoryEstimate, ModelInfo } from './types.ts';

export interface LoadedModel {
  model: Gemma3nTextModel;
  tokenizer: Tokenizer;
  /** The checkpoint's chat template (chat_template.jinja or tokenizer_config.json), if it ships one. */
  chatTemplate: string | undefined;
  eosIds: Set<number>;
  info: ModelInfo;
}

type Report = (p: LoadProgress) => void;

async function readText(files: FileSource, path: string): Promise<string | null> {
  const src = await files.open(path);
  if (!src) return null;
  return new TextDecoder().decode(await src.read(0, await src.size()));
}

async function readJson(files: FileSource, path: string): Promise<unknown> {
  const text = await readText(files, path);
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CheckpointError('bad-json', `${files.base}: ${path} is not valid JSON (${(e as Error).message}); download it again.`, { file: path });
  }
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

function isVector(s: WeightSpec): boolean {
  return s.role === 'norm' || s.role === 'vector' || s.role === 'coefs';
}

/** Bytes of the stored weights (progress) and of the GPU copies (matrices in the load format, vectors in f32). */
function weightSizes(config: ModelConfig, weights: ModelWeights, parentName: (name: string) => string | undefined, quant: LoadOptions['quant']) {
  const present = (s: WeightSpec) => {
    const p = parentName(s.name);
    return p !== undefined && weights.tensors.has(p);
  };
  const table = textWeightTable(config);
  const stored = tableBytes(table, (s) => sourceDtype(weights, parentName(s.name)).toLowerCase() as DType, present);
  const gpu = tableBytes(
    table,
    (s) => (isVector(s) ? 'f32' : storageDtype(quant ?? 'auto', sourceDtype(weights, parentName(s.name)), s.shape[s.shape.length - 1], s.quantizable)),
    present,
  );
  return { stored, gpu };
}

/** Bytes of one tensor's data as read (quantized data words plus their scales). */
function dataBytes(d: TensorData): number {
  return d.bytes.length + ('scales' in d ? d.scales.length : 0);
}

/** Memory the platform reports (navigator.deviceMemory, in GiB, capped by browsers), half of it for the GPU. */
function memoryBudget(): number | null {
  const gib = (globalThis.navigator as { deviceMemory?: number } | undefined)?.deviceMemory;
  return typeof gib === 'number' && gib > 0 ? (gib * 2 ** 30) / 2 : null;
}

export async function loadModel(gpu: Gpu, files: FileSource, options: LoadOptions, report: Report): Promise<LoadedModel> {
  report({ phase: 'config', loaded: 0, total: 1 });
  const weights = await openModelDir(files);
  const parent = parseConfig(weights.config);
  const gen = await readJson(files, 'generation_config.json');
  report({ phase: 'config', loaded: 1, total: 1 });

  report({ phase: 'tokenizer', loaded: 0, total: 1 });
  const { tokenizer, template } = await loadTokenizer(files, options.tokenizer);
  report({ phase: 'tokenizer', loaded: 1, total: 1 });

  const plan = options.matformer === undefined ? null : planSlice(parent, resolveSlice(options.matformer));
  const config = plan?.config ?? parent;
  const sizes = weightSizes(config, weights, (name) => (plan ? parentTensorName(plan, name) : name), options.quant);
  let loaded = 0;
  const total = Math.max(sizes.stored, 1);
  report({ phase: 'weights', loaded, total });
  const counted = {
    config: weights.config,
    tensors: weights.tensors,
    async readTensorData(name: string) {
      const data = await weights.readTensorData(name);
      loaded = Math.min(total, loaded + dataBytes(data));
      report({ phase: 'weights', loaded, total });
      return data;
    },
  };
  const model = await loadTextModel(gpu, counted, { format: options.quant ?? 'auto', maxContext: options.maxContext, maxChunk: options.maxChunk, matformer: options.matformer });
  report({ phase: 'weights', loaded: total, total });

  // Build every pipeline now: a prefill, a greedy and a sampled decode step, then forget them.
  report({ phase: 'compile', loaded: 0, total: 3 });
  await model.prefillSample([config.text.bosTokenId], GREEDY, 0);
  report({ phase: 'compile', loaded: 1, total: 3 });
  await model.decodeSample(GREEDY, 1);
  report({ phase: 'compile', loaded: 2, total: 3 });
  await model.decodeSample({ ...GREEDY, temperature: 1 }, 2);
  model.reset(0);
  report({ phase: 'compile', loaded: 3, total: 3 });

  const cache = model.memoryBytes();
  const memory: MemoryEstimate = { weightBytes: sizes.gpu, cacheBytes: cache, totalBytes: sizes.gpu + cache, budgetBytes: memoryBudget() };
  const eos = eosIds(config, gen);
  const info: ModelInfo = {
    model: files.base,
    maxContext: model.maxContext,
    vocabSize: config.text.vocabSize,
    numLayers: config.text.numLayers,
    hiddenSize: config.text.hiddenSize,
    eosTokenIds: [...eos],
    defaults: samplingDefaults(gen),
    memory,
  };
  report({ phase: 'ready', loaded: 1, total: 1 });
  return { model, tokenizer, chatTemplate: template, eosIds: eos, info };
}
