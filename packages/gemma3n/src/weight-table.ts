/**
 * The one table of text-side weights: HF tensor name -> shape, role, layer, stage. Allocation,
 * loading, checkpoint validation and memory accounting all enumerate it (DESIGN.md rule 9).
 */
import { numel, scaleBytes, ShapeError, storageBytes, type DType } from '@g3n/gpu';
import { CheckpointError } from '@g3n/weights';
import type { ModelConfig, MultimodalEmbedderConfig } from './config.ts';

export type WeightRole = 'embedding' | 'ple' | 'linear' | 'norm' | 'vector' | 'coefs';
export type WeightStage = 'text' | 'embed_vision' | 'embed_audio';

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
}

export const TEXT_PREFIX = 'model.language_model.';

const QUANT_GROUP = 32;
const MATRIX_ROLES: ReadonlySet<WeightRole> = new Set(['embedding', 'ple', 'linear']);
/** Stored dtypes the loader accepts: checkpoint floats, and the kernels' Q8/Q4 formats of a g3n artifact. */
const WEIGHT_DTYPES: ReadonlySet<string> = new Set(['F32', 'F16', 'BF16', 'Q8', 'Q4']);

function spec(name: string, shape: number[], role: WeightRole, layer: number | null, stage: WeightStage = 'text', required = true): WeightSpec {
  const quantizable = MATRIX_ROLES.has(role) && shape[shape.length - 1] % QUANT_GROUP === 0;
  return { name, shape, role, layer, stage, required, quantizable };
}

function layerSpecs(cfg: ModelConfig, l: number): WeightSpec[] {
  const t = cfg.text;
  const p = `${TEXT_PREFIX}layers.${l}.`;
  const D = t.hiddenSize;
  const I = t.intermediateSize[l];
  const P = t.hiddenSizePerLayerInput;
  const n = t.altupNumInputs;
  const q = t.numHeads * t.headDim;
  const kv = t.numKvHeads * t.headDim;
  const ownsKv = t.kvSource[l] === l;
  return [
    spec(`${p}self_attn.q_proj.weight`, [q, D], 'linear', l), // [H*hd, D]
    spec(`${p}self_attn.k_proj.weight`, [kv, D], 'linear', l, 'text', ownsKv), // [Hkv*hd, D]
    spec(`${p}self_attn.v_proj.weight`, [kv, D], 'linear', l, 'text', ownsKv),
    spec(`${p}self_attn.o_proj.weight`, [D, q], 'linear', l),
    spec(`${p}self_attn.q_norm.weight`, [t.headDim], 'norm', l),
    spec(`${p}self_attn.k_norm.weight`, [t.headDim], 'norm', l, 'text', ownsKv),
    spec(`${p}input_layernorm.weight`, [D], 'norm', l),
    spec(`${p}post_attention_layernorm.weight`, [D], 'norm', l),
    spec(`${p}pre_feedforward_layernorm.weight`, [D], 'norm', l),
    spec(`${p}post_feedforward_layernorm.weight`, [D], 'norm', l),
    spec(`${p}mlp.gate_proj.weight`, [I, D], 'linear', l), // [I_l, D]
    spec(`${p}mlp.up_proj.weight`, [I, D], 'linear', l),
    spec(`${p}mlp.down_proj.weight`, [D, I], 'linear', l),
    spec(`${p}altup.correct_output_scale`, [D], 'vector', l),
    spec(`${p}altup.correction_coefs.weight`, [n, n], 'coefs', l),
    spec(`${p}altup.prediction_coefs.weight`, [n * n, n], 'coefs', l),
    spec(`${p}altup.modality_router.weight`, [n, D], 'linear', l),
    spec(`${p}altup.router_norm.weight`, [D], 'norm', l),
    spec(`${p}laurel.linear_left.weight`, [t.laurelRank, D], 'linear', l),
    spec(`${p}laurel.linear_right.weight`, [D, t.laurelRank], 'linear', l),
    spec(`${p}laurel.post_laurel_norm.weight`, [D], 'norm', l),
    spec(`${p}per_layer_input_gate.weight`, [P, D], 'linear', l),
    spec(`${p}per_layer_projection.weight`, [D, P], 'linear', l),
    spec(`${p}post_per_layer_input_norm.weight`, [D], 'norm', l),
  ];
}

function embedderSpecs(stage: 'embed_vision' | 'embed_audio', mm: MultimodalEmbedderConfig, D: number): WeightSpec[] {
  const p = `model.${stage}.`;
  const h = mm.hiddenSize;
  return [
    spec(`${p}embedding.weight`, [mm.vocabSize, h], 'embedding', null, stage, false),
    spec(`${p}hard_embedding_norm.weight`, [h], 'norm', null, stage, false),
    spec(`${p}soft_embedding_norm.weight`, [h], 'norm', null, stage, false),
    spec(`${p}embedding_projection.weight`, [D, h], 'linear', null, stage, false),
  ];
}

/** Every tensor of the text decoder and of the embed_vision / embed_audio embedders (spec §7.1). */
export function textWeightTable(cfg: ModelConfig): WeightSpec[] {
  const t = cfg.text;
  const D = t.hiddenSize;
  const LP = t.numLayers * t.hiddenSizePerLayerInput;
  const table: WeightSpec[] = [
    spec(`${TEXT_PREFIX}embed_tokens.weight`, [t.vocabSize, D], 'embedding', null), // also the tied LM head
    spec(`${TEXT_PREFIX}embed_tokens_per_layer.weight`, [t.vocabSizePerLayerInput, LP], 'ple', null),
    spec(`${TEXT_PREFIX}per_layer_model_projection.weight`, [LP, D], 'linear', null),
    spec(`${TEXT_PREFIX}per_layer_projection_norm.weight`, [t.hiddenSizePerLayerInput], 'norm', null),
  ];
  for (let k = 0; k < t.altupNumInputs - 1; k++) table.push(spec(`${TEXT_PREFIX}altup_projections.${k}.weight`, [D, D], 'linear', null));
  for (let k = 0; k < t.altupNumInputs - 1; k++) table.push(spec(`${TEXT_PREFIX}altup_unembed_projections.${k}.weight`, [D, D], 'linear', null));
  table.push(spec(`${TEXT_PREFIX}norm.weight`, [D], 'norm', null));
  for (let l = 0; l < t.numLayers; l++) table.push(...layerSpecs(cfg, l));
  if (cfg.vision) table.push(...embedderSpecs('embed_vision', cfg.vision, D));
  if (cfg.audio) table.push(...embedderSpecs('embed_audio', cfg.audio, D));
  return table;
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
