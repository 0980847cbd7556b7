import type { Gpu, Tensor } from '@g3n/gpu';
import { tensorDataToF32 } from '@g3n/weights';
import type { ModelConfig } from './config.ts';
import { destroyMatrix, storageDtype, transposeMatrix, uploadMatrix, uploadVector, type MatrixWeight, type TensorData, type WeightFormat } from './gpu-weights.ts';
import { NumericError } from './errors.ts';
import { assertFiniteWeights } from './finite-weights.ts';
import { uploadMatrixBlocks, type OpenBlocks } from './upload-blocks.ts';
import { textWeightTable, type TextWeights, type WeightSpec } from './weight-table.ts';

export type { LayerWeights, MultimodalHardWeights, TextWeights } from './weight-table.ts';

/** Reads one tensor of the (possibly sliced) checkpoint by its HF name, already shaped as the model needs it. */
export type TensorReader = (name: string) => Promise<TensorData>;
export type TensorExists = (name: string) => boolean;
/** The blocks of a tensor too large to read whole (see upload-blocks.ts); null for one read whole. */
export type TensorBlockReader = (name: string) => OpenBlocks | null;

/**
 * Upload every text-decoder weight the forward pass uses: the tensors of the weight table that have a
 * slot (an embedder's when the checkpoint has it), each as the table says. Matrices go in `format`
 * (lossless by default), block by block where `blocks` has them; norms, scales and AltUp coefficients
 * stay f32, coefficients clamped to +-altup_coef_clip as HF does at run time. Weights holding NaN or
 * infinity are refused (NumericError naming the tensor), checked on the GPU.
 */
export async function loadTextWeights(gpu: Gpu, cfg: ModelConfig, read: TensorReader, has: TensorExists, format: WeightFormat = 'auto', blocks?: TensorBlockReader, offGpu?: (s: WeightSpec) => MatrixWeight | null): Promise<TextWeights> {
  const t = cfg.text;
  const upload = async (s: WeightSpec): Promise<MatrixWeight | Tensor> => {
    const name = s.name;
    // A matrix kept off the GPU (the PLE table with `ple: 'host'`): its description, no parts.
    const off = offGpu?.(s);
    if (off) return off;
    if (s.load === 'vector') return uploadVector(gpu, name, tensorDataToF32(await read(name), name));
    const [rows, cols] = s.shape;
    if (s.load === 'matrix') {
      const open = blocks?.(name);
      const m = open
        ? await uploadMatrixBlocks(gpu, name, open, rows, cols, (source) => storageDtype(format, source, cols, s.quantizable))
        : await read(name).then((data) => uploadMatrix(gpu, name, data, rows, cols, storageDtype(format, data.dtype, cols, s.quantizable)));
      return s.transposed ? transposeMatrix(gpu, m) : m;
    }
    const values = tensorDataToF32(await read(name), name);
    // Checked before the clamp, which would turn an infinity into +-clip.
    if (!values.every(Number.isFinite)) throw NumericError.inWeight(name);
    if (s.load === 'coefs') {
      const clip = t.altupCoefClip;
      if (clip !== null) for (let i = 0; i < values.length; i++) values[i] = Math.min(clip, Math.max(-clip, values[i]));
    }
    return uploadMatrix(gpu, name, { dtype: 'F32', bytes: new Uint8Array(values.buffer) }, rows, cols, 'f32');
  };

  const table = textWeightTable(cfg);
  const embedders = new Set(table.filter((s) => s.stage !== 'text' && s.slot?.field === 'embedding' && has(s.name)).map((s) => s.stage));
  const model: Record<string, unknown> = { altupProjections: [], altupUnembedProjections: [], embedVision: null, embedAudio: null };
  const layers: Array<Record<string, unknown>> = Array.from({ length: t.numLayers }, () => ({ kProj: null, vProj: null, kNorm: null }));
  const loaded: Array<MatrixWeight | Tensor> = [];
  try {
    for (const s of table) {
      if (!s.slot || !(s.stage === 'text' || embedders.has(s.stage))) continue;
      const w = await upload(s);
      loaded.push(w);
      const slot = s.slot;
      if (slot.in === 'model') model[slot.field] = w;
      else if (slot.in === 'list') (model[slot.field] as unknown[])[slot.index] = w;
      else if (slot.in === 'layer') layers[s.layer as number][slot.field] = w;
      else {
        const key = s.stage === 'embed_vision' ? 'embedVision' : 'embedAudio';
        model[key] = { ...(model[key] as object | null), [slot.field]: w };
      }
    }
  } catch (e) {
    for (const w of loaded) destroyWeight(w);
    throw e;
  }
  const weights = { ...model, layers } as unknown as TextWeights;
  try {
    await assertFiniteWeights(gpu, eachWeight(weights));
  } catch (e) {
    destroyTextWeights(weights);
    throw e;
  }
  return weights;
}

function isWeight(v: unknown): v is MatrixWeight | Tensor {
  return typeof v === 'object' && v !== null && ('parts' in v || 'buffer' in v);
}

function destroyWeight(x: MatrixWeight | Tensor): void {
  if ('parts' in x) destroyMatrix(x);
  else x.buffer.destroy();
}

/** Every matrix and vector of the model, for memory accounting and teardown: whatever the loader put in its slots. */
export function* eachWeight(w: TextWeights): Generator<MatrixWeight | Tensor> {
  const walk = function* (v: unknown): Generator<MatrixWeight | Tensor> {
    if (isWeight(v)) yield v;
    else if (Array.isArray(v)) for (const x of v) yield* walk(x);
    else if (typeof v === 'object' && v !== null) for (const x of Object.values(v)) yield* walk(x);
  };
  yield* walk(w);
}

export function destroyTextWeights(w: TextWeights): void {
  for (const x of eachWeight(w)) destroyWeight(x);
}
