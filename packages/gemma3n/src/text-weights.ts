import type { Gpu, Tensor } from '@g3n/gpu';
import { tensorDataToF32 } from '@g3n/weights';
import type { ModelConfig } from './config.ts';
import { destroyMatrix, storageDtype, transposeMatrix, uploadMatrix, uploadVector, type MatrixWeight, type TensorData, type WeightFormat } from './gpu-weights.ts';
import { NumericError } from './errors.ts';
import { assertFiniteWeights } from './finite-weights.ts';
import { uploadMatrixBlocks, type OpenBlocks } from './upload-blocks.ts';

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

/** Reads one tensor of the (possibly sliced) checkpoint by its HF name, already shaped as the model needs it. */
export type TensorReader = (name: string) => Promise<TensorData>;
export type TensorExists = (name: string) => boolean;
/** The blocks of a tensor too large to read whole (see upload-blocks.ts); null for one read whole. */
export type TensorBlockReader = (name: string) => OpenBlocks | null;

const LM = 'model.language_model.';

/**
 * Upload every text-decoder weight the forward pass uses. Linear and embedding matrices go in
 * `format` (lossless by default), block by block where `blocks` has them; norms, scales and AltUp
 * coefficients stay f32, coefficients clamped to +-altup_coef_clip as HF does at run time. Weights
 * holding NaN or infinity are refused (NumericError naming the tensor), checked on the GPU.
 */
export async function loadTextWeights(gpu: Gpu, cfg: ModelConfig, read: TensorReader, has: TensorExists, format: WeightFormat = 'auto', blocks?: TensorBlockReader): Promise<TextWeights> {
  const t = cfg.text;
  const matrix = async (name: string, rows: number, cols: number, quantizable = true): Promise<MatrixWeight> => {
    const open = blocks?.(name);
    if (open) return uploadMatrixBlocks(gpu, name, open, rows, cols, (source) => storageDtype(format, source, cols, quantizable));
    const data = await read(name);
    return uploadMatrix(gpu, name, data, rows, cols, storageDtype(format, data.dtype, cols, quantizable));
  };
  const f32Matrix = async (name: string, rows: number, cols: number, clip: number | null): Promise<MatrixWeight> => {
    const values = tensorDataToF32(await read(name), name);
    // Checked before the clamp, which would turn an infinity into +-clip.
    if (!values.every(Number.isFinite)) throw NumericError.inWeight(name);
    if (clip !== null) for (let i = 0; i < values.length; i++) values[i] = Math.min(clip, Math.max(-clip, values[i]));
    return uploadMatrix(gpu, name, { dtype: 'F32', bytes: new Uint8Array(values.buffer) }, rows, cols, 'f32');
  };
  const vector = async (name: string): Promise<Tensor> => uploadVector(gpu, name, tensorDataToF32(await read(name), name));

  const D = t.hiddenSize;
  const L = t.numLayers;
  const P = t.hiddenSizePerLayerInput;
  const n = t.altupNumInputs;
  const qDim = t.numHeads * t.headDim;
  const kvDim = t.numKvHeads * t.headDim;
  const layers: LayerWeights[] = [];
  for (let l = 0; l < L; l++) {
    const p = `${LM}layers.${l}.`;
    const owner = t.kvSource[l] === l;
    const I = t.intermediateSize[l];
    layers.push({
      qProj: await matrix(`${p}self_attn.q_proj.weight`, qDim, D),
      kProj: owner ? await matrix(`${p}self_attn.k_proj.weight`, kvDim, D) : null,
      vProj: owner ? await matrix(`${p}self_attn.v_proj.weight`, kvDim, D) : null,
      oProj: await matrix(`${p}self_attn.o_proj.weight`, D, qDim),
      qNorm: await vector(`${p}self_attn.q_norm.weight`),
      kNorm: owner ? await vector(`${p}self_attn.k_norm.weight`) : null,
      inputLayernorm: await vector(`${p}input_layernorm.weight`),
      postAttentionLayernorm: await vector(`${p}post_attention_layernorm.weight`),
      preFeedforwardLayernorm: await vector(`${p}pre_feedforward_layernorm.weight`),
      postFeedforwardLayernorm: await vector(`${p}post_feedforward_layernorm.weight`),
      gateProj: await matrix(`${p}mlp.gate_proj.weight`, I, D),
      upProj: await matrix(`${p}mlp.up_proj.weight`, I, D),
      // Sparse layers keep down_proj transposed: one token reads only the rows of its nonzero activations.
      downProj: t.activationSparsity[l] > 0 ? await transposeMatrix(gpu, await matrix(`${p}mlp.down_proj.weight`, D, I)) : await matrix(`${p}mlp.down_proj.weight`, D, I),
      altupCorrectOutputScale: await vector(`${p}altup.correct_output_scale`),
      altupRouterNorm: await vector(`${p}altup.router_norm.weight`),
      altupModalityRouter: await f32Matrix(`${p}altup.modality_router.weight`, n, D, null),
      altupPredictionCoefs: await f32Matrix(`${p}altup.prediction_coefs.weight`, n * n, n, t.altupCoefClip),
      altupCorrectionCoefs: await f32Matrix(`${p}altup.correction_coefs.weight`, n, n, t.altupCoefClip),
      laurelLeft: await matrix(`${p}laurel.linear_left.weight`, t.laurelRank, D),
      laurelRight: await matrix(`${p}laurel.linear_right.weight`, D, t.laurelRank),
      laurelPostNorm: await vector(`${p}laurel.post_laurel_norm.weight`),
      perLayerInputGate: await matrix(`${p}per_layer_input_gate.weight`, P, D),
      perLayerProjection: await matrix(`${p}per_layer_projection.weight`, D, P),
      postPerLayerInputNorm: await vector(`${p}post_per_layer_input_norm.weight`),
    });
  }
  const hard = async (key: 'embed_vision' | 'embed_audio', c: ModelConfig['vision']): Promise<MultimodalHardWeights | null> => {
    const p = `model.${key}.`;
    if (!c || !has(`${p}embedding.weight`)) return null;
    return {
      embedding: await matrix(`${p}embedding.weight`, c.vocabSize, c.hiddenSize),
      hardEmbeddingNorm: await vector(`${p}hard_embedding_norm.weight`),
      embeddingProjection: await matrix(`${p}embedding_projection.weight`, D, c.hiddenSize),
    };
  };
  const altup = async (kind: string) => {
    const out: MatrixWeight[] = [];
    for (let k = 0; k < n - 1; k++) out.push(await matrix(`${LM}${kind}.${k}.weight`, D, D));
    return out;
  };
  const weights: TextWeights = {
    embedTokens: await matrix(`${LM}embed_tokens.weight`, t.vocabSize, D),
    embedTokensPerLayer: await matrix(`${LM}embed_tokens_per_layer.weight`, t.vocabSizePerLayerInput, L * P),
    perLayerModelProjection: await matrix(`${LM}per_layer_model_projection.weight`, L * P, D),
    perLayerProjectionNorm: await vector(`${LM}per_layer_projection_norm.weight`),
    altupProjections: await altup('altup_projections'),
    altupUnembedProjections: await altup('altup_unembed_projections'),
    norm: await vector(`${LM}norm.weight`),
    layers,
    embedVision: await hard('embed_vision', cfg.vision),
    embedAudio: await hard('embed_audio', cfg.audio),
  };
  try {
    await assertFiniteWeights(gpu, eachWeight(weights));
  } catch (e) {
    destroyTextWeights(weights);
    throw e;
  }
  return weights;
}

/** Every matrix and vector of the model, for memory accounting and teardown. */
export function* eachWeight(w: TextWeights): Generator<MatrixWeight | Tensor> {
  yield w.embedTokens;
  yield w.embedTokensPerLayer;
  yield w.perLayerModelProjection;
  yield w.perLayerProjectionNorm;
  yield* w.altupProjections;
  yield* w.altupUnembedProjections;
  yield w.norm;
  for (const layer of w.layers) for (const v of Object.values(layer)) if (v) yield v;
  for (const mm of [w.embedVision, w.embedAudio]) if (mm) yield* Object.values(mm);
}

export function destroyTextWeights(w: TextWeights): void {
  for (const x of eachWeight(w)) {
    if ('parts' in x) destroyMatrix(x);
    else x.buffer.destroy();
  }
}
