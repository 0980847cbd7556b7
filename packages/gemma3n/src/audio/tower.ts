/**
 * The Gemma 3n audio tower on the GPU (spec §5.3–5.7): SSCP (two strided convs, causal cumulative
 * group norm, ReLU, projection), conformer blocks, time reduction, and the embed_audio soft path to
 * the soft tokens that replace the prompt's audio placeholders. One encode is one flat dispatch list,
 * recorded once and submitted once.
 */
import { createTensor, numel, Plan, readBytes, submitPlans, writeTensor, type Dispatch, type Gpu, type Tensor } from '@g3n/gpu';
import { copy, fillMaskedRows, gatherRows, linear, rmsNorm } from '@g3n/kernels';
import { captureSize, type CaptureSheet } from '../capture.ts';
import type { ModelConfig } from '../config.ts';
import { audioFrameCounts, type AudioConfig } from './config.ts';
import { conformerBlock, sscp, type ClipWorkspace } from './blocks.ts';
import { AudioInputError } from './errors.ts';
import { destroyAudioWeights, loadAudioWeights, type AudioTensorReader, type AudioWeights } from './weights.ts';

/** Frames of one clip after the SSCP (`frames`) and after time reduction (`reduced`). */
export interface AudioCaptureSizes {
  frames: number;
  reduced: number;
}

/** The audio tower's capturable intermediates (the golden names), f32 elements per clip. */
export const AUDIO_CAPTURES: CaptureSheet<AudioConfig, AudioCaptureSizes> = [
  { pattern: /^audio_encoder\.sscp_out$/, elements: (c, s) => s.frames * c.hiddenSize },
  { pattern: /^audio_encoder\.conformer\.(\d+)\.output$/, elements: (c, s, m) => (Number(m[1]) < c.numLayers ? s.frames * c.hiddenSize : null) },
  { pattern: /^audio_encoder\.last_hidden_state$/, elements: (c, s) => s.reduced * c.hiddenSize },
  { pattern: /^audio_encoder\.mask_valid$/, elements: (_, s) => s.reduced },
  { pattern: /^audio_soft_tokens$/, elements: (c) => c.softTokens * c.textHiddenSize },
];

export interface EncodeAudioOptions {
  /**
   * Intermediates to read back: `audio_encoder.sscp_out`, `audio_encoder.conformer.<l>.output`,
   * `audio_encoder.last_hidden_state`, `audio_encoder.mask_valid` (1 or 0 per frame), `audio_soft_tokens`
   * (f32, per clip; with more than one clip
   * the names get the clip's index as a suffix, `.0`, `.1`, ..).
   */
  capture?: string[];
}

export interface AudioEncoding {
  /** Encoder frames per clip after time reduction. */
  frames: number;
  /** Per clip, 1 where the reduced frame is a real one (`audio_encoder.mask_valid`). */
  valid: Uint8Array[];
  /** f32 [clips, frames, hidden], padded frames zero. */
  hidden: Tensor;
  /** Per clip, f32 [audio_soft_tokens_per_image, text hidden]: the rows for the clip's placeholders. */
  softTokens: Tensor[];
  captures: Map<string, Float32Array>;
  /** Free the GPU buffers of this result. */
  destroy(): void;
}

export class AudioTower {
  private constructor(
    readonly gpu: Gpu,
    readonly config: AudioConfig,
    readonly weights: AudioWeights,
    /** Bytes of weights on the GPU. */
    readonly bytes: number,
    private readonly pad: Tensor,
  ) {}

  /**
   * Encode `clips` log-mel feature matrices [clips, frames, input_feat_size] (row-major f32; a single
   * clip may be given as [frames, input_feat_size]); `mask` [clips, frames] marks real frames with
   * nonzero (absent: every frame is real), as the feature extractor's input_features_mask.
   */
  async encode(features: Float32Array | Tensor, shape: readonly number[], mask?: ArrayLike<number> | null, options: EncodeAudioOptions = {}): Promise<AudioEncoding> {
    const c = this.config;
    const F = c.inputFeatSize;
    const [B, T] = shape.length === 2 ? [1, shape[0]] : [shape[0], shape[1]];
    const have = features instanceof Float32Array ? features.length : numel(features.shape);
    if ((shape.length !== 2 && shape.length !== 3) || shape[shape.length - 1] !== F || !shape.every((d) => Number.isInteger(d) && d >= 1) || have !== B * T * F) {
      throw new AudioInputError('feature-shape', `audio features must be [clips, frames, ${F}] (or [frames, ${F}]) with ${B * T * F} values; got shape [${shape.join(', ')}] holding ${have}`, { shape: [...shape] });
    }
    if (!(features instanceof Float32Array) && (features.dtype !== 'f32' || B !== 1)) {
      throw new AudioInputError('feature-shape', `features on the GPU must be one f32 clip, got ${B} clips of ${features.dtype}`);
    }
    if (mask && mask.length !== B * T) throw new AudioInputError('mask-shape', `the frame mask has ${mask.length} values, features have ${B} x ${T} frames`);
    const counts = audioFrameCounts(c, T);
    if (counts.sscp[0] < 1 || counts.freq[1] < 1 || T < 1) throw new AudioInputError('feature-shape', `${T} frames are too few for the tower`);
    const [T1, T2] = counts.sscp;
    const T3 = counts.reduced;
    if (T3 > c.softTokens) {
      throw new AudioInputError('too-long', `${T} frames make ${T3} audio tokens, more than the ${c.softTokens} soft tokens a clip may have; split the audio into shorter clips`, { frames: T, tokens: T3 });
    }

    const gpu = this.gpu;
    const D = c.hiddenSize;
    const Dt = c.textHiddenSize;
    const [C0, C1] = c.sscpChannels;
    const [F1, F2] = counts.freq;
    const owned: Tensor[] = [];
    const buf = (label: string, shapeOf: number[], dtype: 'f32' | 'u32' = 'f32') => {
      const t = createTensor(gpu, `audio.${label}`, dtype, shapeOf);
      owned.push(t);
      return t;
    };
    const ws: ClipWorkspace = {
      c0: buf('sscp.conv_0', [T1, F1, C0]),
      c1: buf('sscp.conv_1', [T2, F2, C1]),
      stats: buf('sscp.stats', [2 * T1]),
      x: buf('x', [T2, D]),
      h: buf('h', [T2, D]),
      mid: buf('mid', [T2, Math.max(c.ffnSize, 3 * D)]),
      att: buf('attn', [T2, D]),
      conv: buf('conv', [T2, D]),
      rel: buf('rel', [c.maxPast + 1 + c.maxFuture, D]),
      mask: buf('mask', [T2], 'u32'),
    };
    const hidden = createTensor(gpu, 'audio.last_hidden_state', 'f32', [B, T3, D]);
    const softTokens: Tensor[] = [];
    const result: AudioEncoding = {
      frames: T3,
      valid: [],
      hidden,
      softTokens,
      captures: new Map(),
      destroy: () => {
        hidden.buffer.destroy();
        for (const t of softTokens) t.buffer.destroy();
      },
    };
    const captures = new Map<string, Tensor>();
    const want = new Set(options.capture ?? []);
    const captureSizes: AudioCaptureSizes = { frames: T2, reduced: T3 };
    for (const name of want) captureSize(AUDIO_CAPTURES, c, name, captureSizes); // an unknown name is BAD_INPUT before any GPU work
    const plans: Plan[] = [];
    try {
      const strideT = c.sscpStrides[0][0] * c.sscpStrides[1][0];
      for (let b = 0; b < B; b++) {
        const suffix = B > 1 ? `.${b}` : '';
        const list: Dispatch[] = [];
        const capture = (name: string, src: Tensor) => {
          if (!want.has(name)) return;
          const n = captureSize(AUDIO_CAPTURES, c, name, captureSizes);
          const t = buf(`capture.${name}${suffix}`, [n]);
          captures.set(name + suffix, t);
          list.push(copy(gpu, { a: src, out: t, n }));
        };
        // masks: sscp frame t is real iff mel frame min(t * strideT, T - 1) is (spec §5.3); reduced frame i iff sscp frame i * r is
        const frameValid = (t: number) => (mask ? mask[b * T + Math.min(t * strideT, T - 1)] !== 0 : true);
        const m2 = Uint32Array.from({ length: T2 }, (_, t) => (frameValid(t) ? 1 : 0));
        const clipMask = b === 0 ? ws.mask : buf(`mask${suffix}`, [T2], 'u32');
        writeTensor(gpu, clipMask, m2);
        const valid = Uint8Array.from({ length: T3 }, (_, i) => m2[i * c.reductionFactor]);
        result.valid.push(valid);
        if (want.has('audio_encoder.mask_valid')) result.captures.set(`audio_encoder.mask_valid${suffix}`, Float32Array.from(valid));
        const softMask = buf(`soft_mask${suffix}`, [c.softTokens], 'u32');
        writeTensor(gpu, softMask, Uint32Array.from({ length: c.softTokens }, (_, i) => (i < T3 ? valid[i] : 0)));

        let input: Tensor;
        if (features instanceof Float32Array) {
          input = buf(`input_features${suffix}`, [T, F]);
          writeTensor(gpu, input, features.subarray(b * T * F, (b + 1) * T * F));
        } else input = features;

        list.push(...sscp(gpu, c, this.weights, ws, input, T, counts));
        capture('audio_encoder.sscp_out', ws.x);
        for (let l = 0; l < c.numLayers; l++) {
          list.push(...conformerBlock(gpu, c, this.weights.layers[l], this.weights.relPosSinusoid, { ...ws, mask: clipMask }, T2));
          capture(`audio_encoder.conformer.${l}.output`, ws.x);
        }
        // time reduction: every r-th frame, padded frames zero (spec §5.7)
        const red = buf(`reduced${suffix}`, [T3, D]);
        list.push(gatherRows(gpu, { x: ws.x, mask: clipMask, out: red, rows: T3, cols: D, stride: c.reductionFactor }));
        list.push(copy(gpu, { a: red, out: hidden, n: T3 * D, outOffset: b * T3 * D }));
        capture('audio_encoder.last_hidden_state', red);
        // embed_audio soft path, then padded frames and the rest up to the soft-token count take the padding embedding
        const soft = createTensor(gpu, `audio_soft_tokens${suffix}`, 'f32', [c.softTokens, Dt]);
        softTokens.push(soft);
        list.push(rmsNorm(gpu, { x: red, out: ws.h, weight: this.weights.softEmbeddingNorm, rows: T3, cols: D, eps: c.rmsNormEps }));
        list.push(linear(gpu, { x: ws.h, w: this.weights.embeddingProjection, out: soft, rows: T3 }));
        list.push(rmsNorm(gpu, { x: soft, out: soft, rows: T3, cols: Dt, eps: c.rmsNormEps }));
        list.push(fillMaskedRows(gpu, { x: soft, mask: softMask, fill: this.pad, rows: c.softTokens, cols: Dt }));
        capture('audio_soft_tokens', soft);
        plans.push(await Plan.build(gpu, `audio_encoder${suffix}`, list));
      }
      submitPlans(gpu, plans);
      for (const [name, t] of captures) result.captures.set(name, new Float32Array(await readBytes(gpu, t.buffer, t.offset, 4 * numel(t.shape))));
      await gpu.device.queue.onSubmittedWorkDone();
      return result;
    } catch (e) {
      result.destroy();
      throw e;
    } finally {
      for (const p of plans) p.destroy();
      for (const t of owned) t.buffer.destroy();
    }
  }

  destroy(): void {
    destroyAudioWeights(this.weights);
    this.pad.buffer.destroy();
  }

  /**
   * Load the audio tower of a checkpoint (a separate load from the text model's: a text-only load reads
   * none of these bytes). `has` lets a checkpoint without the tower fail early with AudioTowerMissingError.
   */
  static async load(gpu: Gpu, cfg: ModelConfig, read: AudioTensorReader, has?: (name: string) => boolean, shapeOf?: (name: string) => number[] | undefined): Promise<AudioTower> {
    const { config, weights, bytes } = await loadAudioWeights(gpu, cfg, read, has, shapeOf);
    // The padding embedding (embed_audio hard path of id text_vocab_size - 1), computed once.
    const D = config.hiddenSize;
    const normed = createTensor(gpu, 'audio.pad.normed', 'f32', [1, D]);
    const pad = createTensor(gpu, 'audio.pad_embedding', 'f32', [1, config.textHiddenSize]);
    const plan = await Plan.build(gpu, 'audio.pad_embedding', [
      rmsNorm(gpu, { x: weights.padEmbeddingRow, out: normed, weight: weights.hardEmbeddingNorm, rows: 1, cols: D, eps: config.rmsNormEps }),
      linear(gpu, { x: normed, w: weights.embeddingProjection, out: pad, rows: 1 }),
      rmsNorm(gpu, { x: pad, out: pad, rows: 1, cols: config.textHiddenSize, eps: config.rmsNormEps }),
    ]);
    submitPlans(gpu, [plan]);
    await gpu.device.queue.onSubmittedWorkDone();
    plan.destroy();
    normed.buffer.destroy();
    return new AudioTower(gpu, config, weights, bytes, pad);
  }
}

/** Encode log-mel features [clips or 1, frames, input_feat_size] with their frame mask: see AudioTower.encode. */
export function encodeAudio(tower: AudioTower, features: Float32Array | Tensor, shape: readonly number[], mask?: ArrayLike<number> | null, options: EncodeAudioOptions = {}): Promise<AudioEncoding> {
  return tower.encode(features, shape, mask, options);
}

/** loadAudioTower(gpu, config, read): see AudioTower.load. */
export function loadAudioTower(gpu: Gpu, cfg: ModelConfig, read: AudioTensorReader, has?: (name: string) => boolean, shapeOf?: (name: string) => number[] | undefined): Promise<AudioTower> {
  return AudioTower.load(gpu, cfg, read, has, shapeOf);
}
