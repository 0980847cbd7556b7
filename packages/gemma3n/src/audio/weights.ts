/**
 * The audio tower's weights: one declared table of `model.audio_tower.*` and the embed_audio soft path
 * (name, shape, role), and the loader that uploads them (matrices and convolution kernels as stored in
 * the checkpoint, bf16/f16/f32; norms f32). Nothing here is read by a text-only load.
 */
import { createTensor, writeTensor, ShapeError, type Gpu, type Tensor } from '@g3n/gpu';
import type { ModelConfig } from '../config.ts';
import { tensorDataToF32 } from '@g3n/weights';
import { storageDtype, uploadMatrix, uploadVector, type TensorData } from '../gpu-weights.ts';
import { parseAudioConfig, type AudioConfig } from './config.ts';
import { AudioTowerMissingError } from './errors.ts';

export const AUDIO_PREFIX = 'model.audio_tower.';
export const EMBED_AUDIO_PREFIX = 'model.embed_audio.';

/** matrix: [out, in] for `linear`; vector: f32 norm or scale; conv: a convolution kernel; row: one embedding row. */
export type AudioWeightRole = 'matrix' | 'vector' | 'conv' | 'row';

export interface AudioWeightInfo {
  name: string;
  shape: number[];
  role: AudioWeightRole;
}

/** Every tensor the audio path reads, with its checkpoint shape (spec §7.3). */
export function audioWeightTable(c: AudioConfig): AudioWeightInfo[] {
  const D = c.hiddenSize;
  const [c0, c1] = c.sscpChannels;
  const [[kh0, kw0], [kh1, kw1]] = c.sscpKernels;
  const f2 = sscpFreqOut(c);
  const t: AudioWeightInfo[] = [];
  const add = (name: string, shape: number[], role: AudioWeightRole) => t.push({ name: AUDIO_PREFIX + name, shape, role });
  const s = 'subsample_conv_projection.';
  add(`${s}conv_0.conv.weight`, [c0, 1, kh0, kw0], 'conv');
  add(`${s}conv_0.norm.weight`, [c0], 'vector');
  add(`${s}conv_1.conv.weight`, [c1, c0, kh1, kw1], 'conv');
  add(`${s}conv_1.norm.weight`, [c1], 'vector');
  add(`${s}input_proj_linear.weight`, [D, f2 * c1], 'matrix');
  for (let l = 0; l < c.numLayers; l++) {
    const p = `conformer.${l}.`;
    for (const ffw of ['ffw_layer_start', 'ffw_layer_end']) {
      add(`${p}${ffw}.pre_layer_norm.weight`, [D], 'vector');
      add(`${p}${ffw}.ffw_layer_1.weight`, [c.ffnSize, D], 'matrix');
      add(`${p}${ffw}.ffw_layer_2.weight`, [D, c.ffnSize], 'matrix');
      add(`${p}${ffw}.post_layer_norm.weight`, [D], 'vector');
    }
    add(`${p}attention.pre_attn_norm.weight`, [D], 'vector');
    add(`${p}attention.attn.per_dim_scale`, [c.headDim], 'vector');
    add(`${p}attention.attn.relative_position_embedding.pos_proj.weight`, [D, D], 'matrix');
    for (const m of ['q_proj', 'k_proj', 'v_proj']) add(`${p}attention.attn.${m}.weight`, [D, D], 'matrix');
    add(`${p}attention.post.weight`, [D, D], 'matrix');
    add(`${p}attention.post_norm.weight`, [D], 'vector');
    add(`${p}lconv1d.pre_layer_norm.weight`, [D], 'vector');
    add(`${p}lconv1d.linear_start.weight`, [2 * D, D], 'matrix');
    add(`${p}lconv1d.depthwise_conv1d.weight`, [D, 1, c.convKernel], 'conv');
    add(`${p}lconv1d.conv_norm.weight`, [D], 'vector');
    add(`${p}lconv1d.linear_end.weight`, [D, D], 'matrix');
    add(`${p}norm.weight`, [D], 'vector');
  }
  const e = (name: string, shape: number[], role: AudioWeightRole) => t.push({ name: EMBED_AUDIO_PREFIX + name, shape, role });
  e('soft_embedding_norm.weight', [D], 'vector');
  e('hard_embedding_norm.weight', [D], 'vector');
  e('embedding_projection.weight', [c.textHiddenSize, D], 'matrix');
  e('embedding.weight', [c.vocabSize, D], 'row');
  return t;
}

function sscpFreqOut(c: AudioConfig): number {
  let f = c.inputFeatSize;
  for (let i = 0; i < 2; i++) f = Math.floor((f + 2 - c.sscpKernels[i][1]) / c.sscpStrides[i][1]) + 1;
  return f;
}

export interface AudioLayerWeights {
  ffwStart: FfwWeights;
  ffwEnd: FfwWeights;
  preAttnNorm: Tensor;
  /** hd^-0.5 / ln 2 * softplus(per_dim_scale), f32 [head_dim]. */
  qScale: Tensor;
  posProj: Tensor;
  qProj: Tensor;
  kProj: Tensor;
  vProj: Tensor;
  post: Tensor;
  postNorm: Tensor;
  lconvPreNorm: Tensor;
  linearStart: Tensor;
  /** [D, 1, K, 1]: the depthwise causal conv over time as a conv2d kernel (width 1). */
  depthwise: Tensor;
  convNorm: Tensor;
  linearEnd: Tensor;
  norm: Tensor;
}

export interface FfwWeights {
  preNorm: Tensor;
  w1: Tensor;
  w2: Tensor;
  postNorm: Tensor;
}

export interface AudioWeights {
  conv0: Tensor;
  norm0: Tensor;
  conv1: Tensor;
  norm1: Tensor;
  inputProj: Tensor;
  layers: AudioLayerWeights[];
  softEmbeddingNorm: Tensor;
  hardEmbeddingNorm: Tensor;
  embeddingProjection: Tensor;
  /** The audio vocabulary's last embedding row (the padding id text_vocab_size - 1), f32 [1, D]. */
  padEmbeddingRow: Tensor;
  /** sin/cos of the relative distances max_past .. -max_future (spec §5.6), f32 [span, D]. */
  relPosSinusoid: Tensor;
}

/** Reads one checkpoint tensor by its HF name. */
export type AudioTensorReader = (name: string) => Promise<TensorData>;

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Upload the audio tower and the embed_audio soft path. `has` (when given) lets a checkpoint without
 * the tower fail with AudioTowerMissingError before any read; `shapeOf` checks each tensor's shape.
 */
export async function loadAudioWeights(gpu: Gpu, cfg: ModelConfig, read: AudioTensorReader, has?: (name: string) => boolean, shapeOf?: (name: string) => number[] | undefined): Promise<{ config: AudioConfig; weights: AudioWeights; bytes: number }> {
  const c = parseAudioConfig(cfg);
  const table = audioWeightTable(c);
  if (has) {
    const missing = table.filter((w) => !has(w.name));
    if (missing.length > 0) throw new AudioTowerMissingError(`${missing.length} of its ${table.length} tensors are absent, e.g. ${missing[0].name}`);
  }
  if (shapeOf) {
    for (const w of table) {
      const s = shapeOf(w.name);
      if (s && !sameShape(s, w.shape)) throw new ShapeError(w.name, `checkpoint shape [${s.join(', ')}] differs from the config's [${w.shape.join(', ')}]`);
    }
  }
  const created: Tensor[] = [];
  let bytes = 0;
  const keep = (t: Tensor) => {
    created.push(t);
    bytes += t.byteLength;
    return t;
  };
  const info = new Map(table.map((w) => [w.name, w]));
  const load = async (name: string): Promise<Tensor> => {
    const w = info.get(name)!;
    const data = await read(name);
    if (data.dtype === 'Q8' || data.dtype === 'Q4') throw new ShapeError(name, `audio weights must be float (f32/f16/bf16), got ${data.dtype}`);
    if (w.role === 'vector') return keep(uploadVector(gpu, name, tensorDataToF32(data, name)));
    if (w.role === 'conv') {
      const dtype = storageDtype('auto', data.dtype, 1, false);
      const shape = w.shape.length === 3 ? [...w.shape, 1] : w.shape;
      const t = createTensor(gpu, name, dtype, shape);
      writeTensor(gpu, t, data.bytes);
      return keep(t);
    }
    const [rows, cols] = w.shape;
    const m = uploadMatrix(gpu, name, data, rows, cols, storageDtype('auto', data.dtype, cols, false));
    if (m.parts.length !== 1) throw new ShapeError(name, `[${rows}, ${cols}] does not fit one storage binding`);
    return keep(m.parts[0].tensor);
  };
  try {
    const A = AUDIO_PREFIX;
    const s = `${A}subsample_conv_projection.`;
    const ffw = async (p: string): Promise<FfwWeights> => ({
      preNorm: await load(`${p}pre_layer_norm.weight`),
      w1: await load(`${p}ffw_layer_1.weight`),
      w2: await load(`${p}ffw_layer_2.weight`),
      postNorm: await load(`${p}post_layer_norm.weight`),
    });
    const layers: AudioLayerWeights[] = [];
    for (let l = 0; l < c.numLayers; l++) {
      const p = `${A}conformer.${l}.`;
      const perDim = tensorDataToF32(await read(`${p}attention.attn.per_dim_scale`));
      layers.push({
        ffwStart: await ffw(`${p}ffw_layer_start.`),
        ffwEnd: await ffw(`${p}ffw_layer_end.`),
        preAttnNorm: await load(`${p}attention.pre_attn_norm.weight`),
        qScale: keep(uploadVector(gpu, `${p}attention.attn.q_scale`, queryScale(perDim, c.headDim))),
        posProj: await load(`${p}attention.attn.relative_position_embedding.pos_proj.weight`),
        qProj: await load(`${p}attention.attn.q_proj.weight`),
        kProj: await load(`${p}attention.attn.k_proj.weight`),
        vProj: await load(`${p}attention.attn.v_proj.weight`),
        post: await load(`${p}attention.post.weight`),
        postNorm: await load(`${p}attention.post_norm.weight`),
        lconvPreNorm: await load(`${p}lconv1d.pre_layer_norm.weight`),
        linearStart: await load(`${p}lconv1d.linear_start.weight`),
        depthwise: await load(`${p}lconv1d.depthwise_conv1d.weight`),
        convNorm: await load(`${p}lconv1d.conv_norm.weight`),
        linearEnd: await load(`${p}lconv1d.linear_end.weight`),
        norm: await load(`${p}norm.weight`),
      });
    }
    const E = EMBED_AUDIO_PREFIX;
    const table = tensorDataToF32(await read(`${E}embedding.weight`));
    const D = c.hiddenSize;
    const padRow = c.textVocabSize - 1 - c.vocabOffset;
    if (padRow < 0 || padRow >= c.vocabSize) throw new ShapeError(`${E}embedding.weight`, `padding id ${c.textVocabSize - 1} lies outside the audio vocabulary [${c.vocabOffset}, ${c.vocabOffset + c.vocabSize})`);
    const weights: AudioWeights = {
      conv0: await load(`${s}conv_0.conv.weight`),
      norm0: await load(`${s}conv_0.norm.weight`),
      conv1: await load(`${s}conv_1.conv.weight`),
      norm1: await load(`${s}conv_1.norm.weight`),
      inputProj: await load(`${s}input_proj_linear.weight`),
      layers,
      softEmbeddingNorm: await load(`${E}soft_embedding_norm.weight`),
      hardEmbeddingNorm: await load(`${E}hard_embedding_norm.weight`),
      embeddingProjection: await load(`${E}embedding_projection.weight`),
      padEmbeddingRow: keep(uploadVector(gpu, `${E}embedding.weight[${padRow}]`, table.slice(padRow * D, (padRow + 1) * D), [1, D])),
      relPosSinusoid: keep(uploadVector(gpu, 'audio.rel_pos_sinusoid', relPosSinusoid(c.maxPast, c.maxFuture, D), [c.maxPast + 1 + c.maxFuture, D])),
    };
    return { config: c, weights, bytes };
  } catch (e) {
    for (const t of created) t.buffer.destroy();
    throw e;
  }
}

/** hd^-0.5 / softplus(0) * softplus(per_dim_scale), in f64 (spec §5.6). */
export function queryScale(perDimScale: Float32Array, headDim: number): Float32Array {
  const softplus = (x: number) => Math.log1p(Math.exp(-Math.abs(x))) + Math.max(x, 0);
  const base = headDim ** -0.5 / Math.LN2;
  return Float32Array.from(perDimScale, (v) => base * softplus(v));
}

/**
 * The relative-position sinusoids (spec §5.6), in f64: row i is distance p = maxPast - i,
 * [sin(p * inv_ts), cos(p * inv_ts)] with inv_ts[k] = exp(-k * ln(10000) / max(width / 2 - 1, 1)).
 */
export function relPosSinusoid(maxPast: number, maxFuture: number, width: number): Float32Array {
  const half = Math.floor(width / 2);
  const inc = Math.log(1e4) / Math.max(half - 1, 1);
  const rows = maxPast + 1 + maxFuture;
  const out = new Float32Array(rows * width);
  for (let i = 0; i < rows; i++) {
    const p = maxPast - i;
    for (let k = 0; k < half; k++) {
      const a = p * Math.exp(-k * inc);
      out[i * width + k] = Math.sin(a);
      out[i * width + half + k] = Math.cos(a);
    }
  }
  return out;
}

export function destroyAudioWeights(w: AudioWeights): void {
  const seen = new Set<GPUBuffer>();
  const visit = (v: unknown) => {
    if (!v || typeof v !== 'object') return;
    if ('buffer' in v && 'dtype' in v) {
      const b = (v as Tensor).buffer;
      if (!seen.has(b)) {
        seen.add(b);
        b.destroy();
      }
      return;
    }
    for (const x of Object.values(v)) visit(x);
  };
  visit(w);
}
