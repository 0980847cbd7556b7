/**
 * The one table of text-side weights: HF tensor name -> shape, role, layer, stage, how the text loader
 * stores it and where it puts it, and how a MatFormer slice cuts it. Allocation, loading, checkpoint
 * validation, memory accounting, the converter's layout rules and the slicer all enumerate it (DESIGN.md
 * rule 9); no other source file names a text tensor.
 */
import { numel, scaleBytes, ShapeError, storageBytes, type DType, type Tensor } from '@g3n/gpu';
import { CheckpointError } from '@g3n/weights/errors';
import type { SliceCut, StoragePolicy, TensorRole } from '@g3n/weights';
import type { ModelConfig, MultimodalEmbedderConfig } from './config.ts';
import type { MatrixWeight } from './gpu-weights.ts';

/** A text tensor's storage class: the converter's roles (@g3n/weights TensorRole) but `other`, which no text tensor is. */
export type WeightRole = Exclude<TensorRole, 'other'>;
export type WeightStage = 'text' | 'embed_vision' | 'embed_audio';

/**
 * How the text loader stores a tensor: `matrix` in the requested weight format (lossless by default);
 * `f32-matrix` always f32; `coefs` f32 clamped to +-altup_coef_clip (as HF does at run time); `vector` f32.
 */
export type WeightLoad = 'matrix' | 'f32-matrix' | 'coefs' | 'vector';

/**
 * How a MatFormer slice cuts a tensor (see matformer/reader.ts): `ffn-rows` keeps the first w_l rows,
 * `ffn-cols` the first w_l columns (w_l the sliced layer's FFN width), `ple-table` the kept layers'
 * column chunks of every row, `ple-projection` the kept layers' row blocks; `whole` keeps it as it is.
 */
export type SliceRule = 'whole' | 'ffn-rows' | 'ffn-cols' | 'ple-table' | 'ple-projection';

export interface LayerWeights {
  qProj: MatrixWeight;
  kProj: MatrixWeight | null;
  vProj: MatrixWeight | null;
  oProj: MatrixWeight;
  qNorm: Tensor;
  kNorm: Tensor | null;
  inputLayernorm: Tensor;
  postAttentionLayernorm: Tensor;
  preFeedforwardLayernorm: Tensor;
  postFeedforwardLayernorm: Tensor;
  gateProj: MatrixWeight;
  upProj: MatrixWeight;
  downProj: MatrixWeight;
  altupCorrectOutputScale: Tensor;
  altupRouterNorm: Tensor;
  altupModalityRouter: MatrixWeight;
  altupPredictionCoefs: MatrixWeight;
  altupCorrectionCoefs: MatrixWeight;
  laurelLeft: MatrixWeight;
  laurelRight: MatrixWeight;
  laurelPostNorm: Tensor;
  perLayerInputGate: MatrixWeight;
  perLayerProjection: MatrixWeight;
  postPerLayerInputNorm: Tensor;
}

export interface MultimodalHardWeights {
  embedding: MatrixWeight;
  hardEmbeddingNorm: Tensor;
  embeddingProjection: MatrixWeight;
}

export interface TextWeights {
  embedTokens: MatrixWeight;
  embedTokensPerLayer: MatrixWeight;
  perLayerModelProjection: MatrixWeight;
  perLayerProjectionNorm: Tensor;
  altupProjections: MatrixWeight[];
  altupUnembedProjections: MatrixWeight[];
  norm: Tensor;
  layers: LayerWeights[];
  embedVision: MultimodalHardWeights | null;
  embedAudio: MultimodalHardWeights | null;
}

/** Where the text loader puts a tensor in `TextWeights`. */
export type WeightSlot =
  | { in: 'model'; field: 'embedTokens' | 'embedTokensPerLayer' | 'perLayerModelProjection' | 'perLayerProjectionNorm' | 'norm' }
  | { in: 'list'; field: 'altupProjections' | 'altupUnembedProjections'; index: number }
  | { in: 'layer'; field: keyof LayerWeights }
  | { in: 'embedder'; field: keyof MultimodalHardWeights };

export interface WeightSpec {
  /** Full HF tensor name. */
  name: string;
  shape: number[];
  role: WeightRole;
  layer: number | null;
  stage: WeightStage;
  /**
   * False for tensors a checkpoint may omit: the unused k_proj / v_proj / k_norm of KV-consumer
   * layers, and a multimodal embedder as a whole (all of its tensors or none).
   */
  required: boolean;
  /** Linear, embedding and PLE matrices whose last dim is a multiple of the 32-element quant group. */
  quantizable: boolean;
  load: WeightLoad;
  /** Its place in TextWeights; null for a tensor the text decoder does not read (an embedder's soft norm, which its tower reads). */
  slot: WeightSlot | null;
  /** Kept transposed on the GPU: the sparse layers' down_proj, whose one-token product reads only the rows of its nonzero inputs. */
  transposed: boolean;
  slice: SliceRule;
}

export const TEXT_PREFIX = 'model.language_model.';
/** The token embedding (also the tied LM head): its stored dtype says what a checkpoint's floats are. */
export const EMBED_TOKENS = `${TEXT_PREFIX}embed_tokens.weight`;

const QUANT_GROUP = 32;
const MATRIX_ROLES: ReadonlySet<WeightRole> = new Set(['embedding', 'ple', 'linear']);
/** Stored dtypes the loader accepts: checkpoint floats, and the kernels' Q8/Q4 formats of a g3n artifact. */
const WEIGHT_DTYPES: ReadonlySet<string> = new Set(['F32', 'F16', 'BF16', 'Q8', 'Q4']);

interface SpecOptions {
  layer?: number | null;
  stage?: WeightStage;
  required?: boolean;
  load?: WeightLoad;
  transposed?: boolean;
  slice?: SliceRule;
}

function spec(name: string, shape: number[], role: WeightRole, slot: WeightSlot | null, o: SpecOptions = {}): WeightSpec {
  const quantizable = MATRIX_ROLES.has(role) && shape[shape.length - 1] % QUANT_GROUP === 0;
  const load = o.load ?? (shape.length === 1 ? 'vector' : 'matrix');
  return { name, shape, role, layer: o.layer ?? null, stage: o.stage ?? 'text', required: o.required ?? true, quantizable, load, slot, transposed: o.transposed ?? false, slice: o.slice ?? 'whole' };
}

const model = (field: Extract<WeightSlot, { in: 'model' }>['field']): WeightSlot => ({ in: 'model', field });
const inLayer = (field: keyof LayerWeights): WeightSlot => ({ in: 'layer', field });

function layerSpecs(cfg: ModelConfig, l: number): WeightSpec[] {
  const t = cfg.text;
  const p = `${TEXT_PREFIX}layers.${l}.`;
  const D = t.hiddenSize;
  const I = t.intermediateSize[l];
  const P = t.hiddenSizePerLayerInput;
  const n = t.altupNumInputs;
  const q = t.numHeads * t.headDim;
  const kv = t.numKvHeads * t.headDim;
  const layer = { layer: l };
  // KV-sharing layers read their source's cache: their own k/v projections and k_norm may be absent, and are never loaded.
  const kvOwn = { layer: l, required: t.kvSource[l] === l };
  const lw = (field: keyof LayerWeights) => (t.kvSource[l] === l ? inLayer(field) : null);
  return [
    spec(`${p}self_attn.q_proj.weight`, [q, D], 'linear', inLayer('qProj'), layer), // [H*hd, D]
    spec(`${p}self_attn.k_proj.weight`, [kv, D], 'linear', lw('kProj'), kvOwn), // [Hkv*hd, D]
    spec(`${p}self_attn.v_proj.weight`, [kv, D], 'linear', lw('vProj'), kvOwn),
    spec(`${p}self_attn.o_proj.weight`, [D, q], 'linear', inLayer('oProj'), layer),
    spec(`${p}self_attn.q_norm.weight`, [t.headDim], 'norm', inLayer('qNorm'), layer),
    spec(`${p}self_attn.k_norm.weight`, [t.headDim], 'norm', lw('kNorm'), kvOwn),
    spec(`${p}input_layernorm.weight`, [D], 'norm', inLayer('inputLayernorm'), layer),
    spec(`${p}post_attention_layernorm.weight`, [D], 'norm', inLayer('postAttentionLayernorm'), layer),
    spec(`${p}pre_feedforward_layernorm.weight`, [D], 'norm', inLayer('preFeedforwardLayernorm'), layer),
    spec(`${p}post_feedforward_layernorm.weight`, [D], 'norm', inLayer('postFeedforwardLayernorm'), layer),
    spec(`${p}mlp.gate_proj.weight`, [I, D], 'linear', inLayer('gateProj'), { layer: l, slice: 'ffn-rows' }), // [I_l, D]
    spec(`${p}mlp.up_proj.weight`, [I, D], 'linear', inLayer('upProj'), { layer: l, slice: 'ffn-rows' }),
    spec(`${p}mlp.down_proj.weight`, [D, I], 'linear', inLayer('downProj'), { layer: l, slice: 'ffn-cols', transposed: t.activationSparsity[l] > 0 }),
    spec(`${p}altup.correct_output_scale`, [D], 'vector', inLayer('altupCorrectOutputScale'), layer),
    spec(`${p}altup.correction_coefs.weight`, [n, n], 'coefs', inLayer('altupCorrectionCoefs'), { layer: l, load: 'coefs' }),
    spec(`${p}altup.prediction_coefs.weight`, [n * n, n], 'coefs', inLayer('altupPredictionCoefs'), { layer: l, load: 'coefs' }),
    spec(`${p}altup.modality_router.weight`, [n, D], 'linear', inLayer('altupModalityRouter'), { layer: l, load: 'f32-matrix' }),
    spec(`${p}altup.router_norm.weight`, [D], 'norm', inLayer('altupRouterNorm'), layer),
    spec(`${p}laurel.linear_left.weight`, [t.laurelRank, D], 'linear', inLayer('laurelLeft'), layer),
    spec(`${p}laurel.linear_right.weight`, [D, t.laurelRank], 'linear', inLayer('laurelRight'), layer),
    spec(`${p}laurel.post_laurel_norm.weight`, [D], 'norm', inLayer('laurelPostNorm'), layer),
    spec(`${p}per_layer_input_gate.weight`, [P, D], 'linear', inLayer('perLayerInputGate'), layer),
    spec(`${p}per_layer_projection.weight`, [D, P], 'linear', inLayer('perLayerProjection'), layer),
    spec(`${p}post_per_layer_input_norm.weight`, [D], 'norm', inLayer('postPerLayerInputNorm'), layer),
  ];
}

function embedderSpecs(stage: 'embed_vision' | 'embed_audio', mm: MultimodalEmbedderConfig, D: number): WeightSpec[] {
  const p = `model.${stage}.`;
  const h = mm.hiddenSize;
  const o = { stage, required: false };
  const slot = (field: keyof MultimodalHardWeights): WeightSlot => ({ in: 'embedder', field });
  return [
    spec(`${p}embedding.weight`, [mm.vocabSize, h], 'embedding', slot('embedding'), o),
    spec(`${p}hard_embedding_norm.weight`, [h], 'norm', slot('hardEmbeddingNorm'), o),
    spec(`${p}soft_embedding_norm.weight`, [h], 'norm', null, o),
    spec(`${p}embedding_projection.weight`, [D, h], 'linear', slot('embeddingProjection'), o),
  ];
}

/** Every tensor of the text decoder and of the embed_vision / embed_audio embedders (spec §7.1). */
export function textWeightTable(cfg: ModelConfig): WeightSpec[] {
  const t = cfg.text;
  const D = t.hiddenSize;
  const LP = t.numLayers * t.hiddenSizePerLayerInput;
  const table: WeightSpec[] = [
    spec(EMBED_TOKENS, [t.vocabSize, D], 'embedding', model('embedTokens')), // also the tied LM head
    spec(`${TEXT_PREFIX}embed_tokens_per_layer.weight`, [t.vocabSizePerLayerInput, LP], 'ple', model('embedTokensPerLayer'), { slice: 'ple-table' }),
    spec(`${TEXT_PREFIX}per_layer_model_projection.weight`, [LP, D], 'linear', model('perLayerModelProjection'), { slice: 'ple-projection' }),
    spec(`${TEXT_PREFIX}per_layer_projection_norm.weight`, [t.hiddenSizePerLayerInput], 'norm', model('perLayerProjectionNorm')),
  ];
  for (const field of ['altupProjections', 'altupUnembedProjections'] as const) {
    const kind = field === 'altupProjections' ? 'altup_projections' : 'altup_unembed_projections';
    for (let k = 0; k < t.altupNumInputs - 1; k++) table.push(spec(`${TEXT_PREFIX}${kind}.${k}.weight`, [D, D], 'linear', { in: 'list', field, index: k }));
  }
  table.push(spec(`${TEXT_PREFIX}norm.weight`, [D], 'norm', model('norm')));
  for (let l = 0; l < t.numLayers; l++) table.push(...layerSpecs(cfg, l));
  if (cfg.vision) table.push(...embedderSpecs('embed_vision', cfg.vision, D));
  if (cfg.audio) table.push(...embedderSpecs('embed_audio', cfg.audio, D));
  return table;
}

const TABLES = new WeakMap<ModelConfig, Map<string, WeightSpec>>();

/** The table's entry for a tensor name (undefined for a tensor outside the text table); the table is built once per config object. */
export function weightSpecOf(cfg: ModelConfig, name: string): WeightSpec | undefined {
  let byName = TABLES.get(cfg);
  if (!byName) {
    byName = new Map(textWeightTable(cfg).map((s) => [s.name, s]));
    TABLES.set(cfg, byName);
  }
  return byName.get(name);
}

/** The converter's cut for each slice rule: the stored layout that lets a slice read prefixes (@g3n/weights plan.ts). */
const SLICE_CUTS: Record<SliceRule, SliceCut> = { whole: 'none', 'ffn-rows': 'rows', 'ffn-cols': 'cols', 'ple-table': 'layer-columns', 'ple-projection': 'layer-rows' };

/**
 * The converter's rules for a checkpoint of this config, from the table: each tensor's role (its
 * storage class) and how slices cut it (its layout and piece grid). Tensors outside the text table
 * (the towers') get the converter's defaults.
 */
export function converterRules(cfg: ModelConfig, defaults: Required<Pick<StoragePolicy, 'roleOf' | 'cutOf'>>): Required<Pick<StoragePolicy, 'roleOf' | 'cutOf'>> {
  return {
    roleOf: (name, shape) => weightSpecOf(cfg, name)?.role ?? defaults.roleOf(name, shape),
    cutOf: (name) => {
      const s = weightSpecOf(cfg, name);
      return s ? SLICE_CUTS[s.slice] : defaults.cutOf(name);
    },
  };
}

/**
 * Check a checkpoint's tensors against the table: required tensors present, shapes as the config
 * implies, float dtypes. An embedder is all-or-nothing. Tensors not in the table are ignored.
 */
export function checkWeights(table: readonly WeightSpec[], tensors: ReadonlyMap<string, { dtype: string; shape: readonly number[]; file?: string }>): void {
  const stagesPresent = new Set(table.filter((s) => tensors.has(s.name)).map((s) => s.stage));
  for (const s of table) {
    const e = tensors.get(s.name);
    if (!e) {
      if (s.required || (s.stage !== 'text' && stagesPresent.has(s.stage))) {
        throw new CheckpointError('missing-tensor', `The checkpoint has no tensor "${s.name}", which config.json requires. Use the checkpoint that matches this config.json.`, { tensor: s.name });
      }
      continue;
    }
    if (e.shape.length !== s.shape.length || e.shape.some((d, i) => d !== s.shape[i])) {
      throw new CheckpointError('shape-mismatch', `${e.file ?? 'weights'}: "${s.name}" has shape [${e.shape.join(', ')}], config.json implies [${s.shape.join(', ')}]. The config and the weights do not belong together.`, { file: e.file, tensor: s.name });
    }
    if (!WEIGHT_DTYPES.has(e.dtype)) {
      throw new CheckpointError('bad-dtype', `${e.file ?? 'weights'}: "${s.name}" is ${e.dtype}; weights must be F32, F16, BF16 (or Q8/Q4 in a g3n artifact).`, { file: e.file, tensor: s.name });
    }
  }
}

export function specNumel(s: WeightSpec): number {
  return numel(s.shape);
}

/** Number of parameters in the table (or in the specs `select` keeps). */
export function paramCount(table: readonly WeightSpec[], select: (s: WeightSpec) => boolean = () => true): number {
  let n = 0;
  for (const s of table) if (select(s)) n += specNumel(s);
  return n;
}

/** Bytes one weight takes on the GPU in `dtype` (q8/q4 include their f16 group scales). */
export function weightBytes(s: WeightSpec, dtype: DType): number {
  const n = specNumel(s);
  if (dtype === 'q8' || dtype === 'q4') {
    if (!s.quantizable) throw new ShapeError('weightBytes', `${s.name} [${s.shape.join(', ')}] is not quantizable`);
    return storageBytes(dtype, n) + scaleBytes(n);
  }
  return storageBytes(dtype, n);
}

/** Total bytes of the table under a storage policy (one dtype, or a dtype per spec). */
export function tableBytes(table: readonly WeightSpec[], dtype: DType | ((s: WeightSpec) => DType), select: (s: WeightSpec) => boolean = () => true): number {
  let bytes = 0;
  for (const s of table) if (select(s)) bytes += weightBytes(s, typeof dtype === 'function' ? dtype(s) : dtype);
  return bytes;
}
