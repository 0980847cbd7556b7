/**
 * Synthetic Gemma 3n text models: the exact shapes of E4B, of E2B or of any published MatFormer
 * slice (optionally every width divided by `scale` for a software adapter), with random weights
 * written on the device. The loader is handed shape-only tensors (no bytes), so it allocates and
 * splits every matrix exactly as for a real checkpoint; a fill kernel then writes each part.
 */
import { runOnce, type Dispatch, type Gpu } from '@g3n/gpu';
import {
  eachWeight,
  findPublishedSlice,
  Gemma3nTextModel,
  parseConfig,
  planSlice,
  textWeightTable,
  type ModelConfig,
  type TensorData,
  type TextModelOptions,
  type WeightSpec,
} from '@g3n/gemma3n';
import { fillWeight, seedOf, weightAmplitude } from './fill.ts';

export type BenchFormat = 'q4' | 'q8' | 'bf16' | 'f16' | 'f32';
export const BENCH_FORMATS: readonly BenchFormat[] = ['q4', 'q8', 'bf16', 'f16', 'f32'];

/** Width divisors that keep every dimension whole (laurel rank 64 and head_dim 256 set the limit). */
export const SCALES = [1, 2, 4, 8, 16, 32] as const;

export const MATRIX_ROLES: ReadonlySet<WeightSpec['role']> = new Set(['embedding', 'ple', 'linear']);

/** The E4B parent (spec §1.1) with every width divided by `scale`; layer counts and head counts kept. */
export function parentConfig(scale = 1): ModelConfig {
  if (!(SCALES as readonly number[]).includes(scale)) throw new Error(`scale must be one of ${SCALES.join(', ')}, got ${scale}`);
  return parseConfig({
    model_type: 'gemma3n_text',
    hidden_size: 2048 / scale,
    num_hidden_layers: 35,
    intermediate_size: 16_384 / scale,
    num_attention_heads: 8,
    num_key_value_heads: 2,
    head_dim: 256 / scale,
    vocab_size: 262_400 / scale,
    vocab_size_per_layer_input: 262_144 / scale,
    hidden_size_per_layer_input: 256 / scale,
    sliding_window: 512 / scale,
    laurel_rank: 64 / scale,
    num_kv_shared_layers: 15,
    max_position_embeddings: 32_768,
  });
}

/** 'E2B', 'E4B' or any published MatFormer configuration's name, at 1/scale of every width. */
export function syntheticConfig(name: string, scale = 1): ModelConfig {
  const parent = parentConfig(scale);
  const slice = findPublishedSlice(name);
  if (!slice) throw new Error(`no published Gemma 3n configuration is named '${name}' (try E2B, E4B or a MatFormer slice name)`);
  return planSlice(parent, { ...slice, ffnHiddenDims: slice.ffnHiddenDims.map((w) => w / scale) }).config;
}

const EMPTY = new Uint8Array(0);

/**
 * A shape-only tensor (no bytes) whose dtype makes the loader store a matrix in `format`: q8/q4
 * where its rows are whole quant groups (`quantizable`), bf16 otherwise.
 */
export function shapeOnlyData(format: BenchFormat, quantizable: boolean): TensorData {
  if ((format === 'q4' || format === 'q8') && quantizable) return { dtype: format === 'q4' ? 'Q4' : 'Q8', bytes: EMPTY, scales: EMPTY };
  if (format === 'f32') return { dtype: 'F32', bytes: EMPTY };
  return { dtype: format === 'f16' ? 'F16' : 'BF16', bytes: EMPTY };
}

/** Small CPU values for the 1-D weights and AltUp coefficients: norms of one, coefficients near zero. */
function smallTensor(spec: WeightSpec): TensorData {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(n);
  if (spec.role === 'coefs') {
    let s = seedOf(spec.name);
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      values[i] = 0.1 * ((s >>> 8) / 16777216 - 0.5);
    }
  } else values.fill(1);
  return { dtype: 'F32', bytes: new Uint8Array(values.buffer) };
}

export interface SyntheticModel {
  model: Gemma3nTextModel;
  config: ModelConfig;
  format: BenchFormat;
  /** Wall time of allocation, upload of the small tensors and the device fill. */
  loadMs: number;
}

/** Load a synthetic model and fill every linear, embedding and PLE matrix with random values on the device. */
export async function loadSyntheticModel(gpu: Gpu, config: ModelConfig, format: BenchFormat, options: TextModelOptions = {}): Promise<SyntheticModel> {
  const t0 = performance.now();
  const table = new Map(textWeightTable(config).map((s) => [s.name, s]));
  const read = async (name: string): Promise<TensorData> => {
    const spec = table.get(name);
    if (!spec) throw new Error(`synthetic model has no tensor '${name}'`);
    return MATRIX_ROLES.has(spec.role) ? shapeOnlyData(format, spec.quantizable) : smallTensor(spec);
  };
  const model = await Gemma3nTextModel.load(gpu, config, read, (name) => table.has(name), { ...options, format });
  const fills: Dispatch[] = [];
  for (const w of eachWeight(model.weights)) {
    if (!('parts' in w) || !MATRIX_ROLES.has(table.get(w.label)?.role ?? 'norm')) continue;
    for (const p of w.parts) fills.push(...fillWeight(gpu, p.tensor, seedOf(w.label, p.row0), weightAmplitude(w.cols)));
  }
  await runOnce(gpu, 'synthetic.fill', fills);
  return { model, config, format, loadMs: performance.now() - t0 };
}
