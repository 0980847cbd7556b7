/**
 * The vision and audio towers of a loaded model, read from the model's files the first time an image
 * or a clip needs them (a text-only session never reads, uploads or compiles them), with the same
 * download / cache / upload progress events as the model's own load (`tower` names which).
 */
import { audioWeightTable, loadAudioTower, loadVisionTower, parseAudioConfig, parseVisionConfig, visionWeightTable, type AudioTower, type ModelConfig, type SoftTokens, type VisionTower } from '@g3n/gemma3n';
import { numel, readBytes, type Gpu } from '@g3n/gpu';
import { audioFeatureConfig, audioFeatures, MAX_CLIP_SAMPLES, imageSizeFromPreprocessorConfig, preprocessImage, readPixelValues, type AudioFeatureConfig, type ImageSize } from '@g3n/preprocess';
import { partBytes, type ModelWeights } from '@g3n/weights';
import type { MediaEncoder } from './generate.ts';
import type { Media } from './media.ts';
import { LoadTracker } from './progress.ts';
import type { LoadProgress } from './types.ts';

const VISION_STEM = 'model.vision_tower.timm_model.conv_stem.conv.weight';
const AUDIO_FIRST = 'model.audio_tower.subsample_conv_projection.conv_0.conv.weight';

/** Which towers the checkpoint holds and the soft tokens each item takes. */
export interface TowerSupport {
  imageTokens: number | null;
  audioTokens: number | null;
  /** Longest clip (16 kHz samples) whose encoder frames fit audioTokens, at most 30 s. */
  maxClipSamples?: number;
}

/**
 * The longest clip whose soft tokens fit `tokens`: the encoder keeps one frame in (SSCP time strides x
 * conf_reduction_factor) of the 10 ms log-mel frames (513-sample windows at a 160 hop).
 */
function maxClipSamples(raw: unknown, tokens: number): number {
  const audio = (raw as { audio_config?: Record<string, unknown> } | null)?.audio_config ?? {};
  const strides = Array.isArray(audio.sscp_conv_stride_size) ? (audio.sscp_conv_stride_size as unknown[]) : [[2, 2], [2, 2]];
  let factor = typeof audio.conf_reduction_factor === 'number' ? audio.conf_reduction_factor : 4;
  for (const s of strides) factor *= Array.isArray(s) && typeof s[0] === 'number' ? s[0] : 2;
  const frames = tokens * factor;
  return Math.min(MAX_CLIP_SAMPLES, (frames - 1) * 160 + 513);
}

function count(raw: unknown, key: string, fallback: number): number {
  const v = (raw as Record<string, unknown> | null)?.[key];
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : fallback;
}

export function towerSupport(config: ModelConfig, weights: Pick<ModelWeights, 'tensors'>): TowerSupport {
  const vision = config.vision !== null && config.imageTokenId !== null && weights.tensors.has(VISION_STEM);
  const audio = config.audio !== null && config.audioTokenId !== null && weights.tensors.has(AUDIO_FIRST);
  return {
    imageTokens: vision ? count(config.raw, 'vision_soft_tokens_per_image', 256) : null,
    audioTokens: audio ? count(config.raw, 'audio_soft_tokens_per_image', 188) : null,
    ...(audio ? { maxClipSamples: maxClipSamples(config.raw, count(config.raw, 'audio_soft_tokens_per_image', 188)) } : {}),
  };
}

/** Routes the model files' read reports to the tracker of whatever is loading now. */
export class ReadRouter {
  target: LoadTracker | null = null;
  readonly onRead = (bytes: number, fromCache: boolean): void => this.target?.onRead(bytes, fromCache);
}

export interface TowerOptions {
  gpu: Gpu;
  config: ModelConfig;
  weights: ModelWeights;
  support: TowerSupport;
  /** preprocessor_config.json of the checkpoint, if it has one (image size, log-mel settings). */
  preprocessor: unknown;
  router: ReadRouter;
  onProgress: ((p: LoadProgress) => void) | undefined;
  verified: boolean;
}

export class Towers implements MediaEncoder {
  private vision: Promise<VisionTower> | null = null;
  private audio: Promise<AudioTower> | null = null;
  private readonly imageSize: ImageSize;
  private readonly features: AudioFeatureConfig;

  constructor(private readonly o: TowerOptions) {
    this.imageSize = imageSizeFromPreprocessorConfig(o.preprocessor ?? undefined);
    this.features = audioFeatureConfig((o.preprocessor ?? {}) as Record<string, unknown>);
  }

  placeholder(kind: Media['kind']): { tokenId: number; count: number } {
    const { config, support } = this.o;
    if (kind === 'image') return { tokenId: config.imageTokenId!, count: support.imageTokens! };
    return { tokenId: config.audioTokenId!, count: support.audioTokens! };
  }

  async encode(media: Media): Promise<SoftTokens> {
    const { gpu } = this.o;
    const { tokenId, count } = this.placeholder(media.kind);
    if (media.kind === 'image') {
      const tower = await this.visionTower();
      const pixels = await preprocessImage(gpu, media.source, { size: this.imageSize });
      let data: Float32Array;
      try {
        data = await readPixelValues(gpu, pixels);
      } finally {
        pixels.buffer.destroy();
      }
      const [encoded] = await tower.encode([{ data, shape: pixels.shape }]);
      return { tokenId, embeds: encoded.softTokens, count };
    }
    const tower = await this.audioTower();
    const f = await audioFeatures(gpu, [media.samples], this.features);
    try {
      const enc = await tower.encode(f.features, [1, f.T, f.featureSize], f.mask);
      try {
        const rows = enc.softTokens[0];
        // keep the clip's rows, free the rest of the encoding
        const copy = await readF32Rows(gpu, rows);
        return { tokenId, embeds: copy, count };
      } finally {
        enc.destroy();
      }
    } finally {
      f.features.buffer.destroy();
    }
  }

  /**
   * Load a tower with progress: its bytes are those of the tensors its weight table lists (the
   * tower's own and the soft path of its embedder, some of which a text load may have read
   * already), and its reads go through the model's files (the weights cache where the load uses
   * it), reported as download or cache events like the model's own.
   */
  private track<T>(tower: 'vision' | 'audio', tensors: () => readonly string[], load: () => Promise<T>): Promise<T> {
    const { router, onProgress, weights, verified } = this.o;
    const emit = (p: LoadProgress) => {
      if (onProgress) void Promise.resolve(onProgress({ ...p, tower })).catch(() => undefined);
    };
    const tracker = new LoadTracker(emit);
    tracker.weightsVerified(verified);
    return (async () => {
      let bytes = 0;
      for (const name of tensors()) {
        const info = weights.tensors.get(name);
        if (!info) continue;
        const b = partBytes(info.dtype, numel(info.shape), 1);
        bytes += b.data + b.scales;
      }
      router.target = tracker;
      try {
        tracker.weightsStart(bytes);
        const out = await load();
        tracker.weightsDone();
        tracker.step('ready', 1, 1);
        return out;
      } finally {
        if (router.target === tracker) router.target = null;
      }
    })();
  }

  private visionTower(): Promise<VisionTower> {
    this.vision ??= this.track('vision', () => this.visionTensors(), () => loadVisionTower(this.o.gpu, this.o.config, this.o.weights));
    this.vision.catch(() => (this.vision = null));
    return this.vision;
  }

  private visionTensors(): string[] {
    const vc = parseVisionConfig(this.o.config);
    return vc ? visionWeightTable(vc, this.o.weights.tensors).map((w) => w.name) : [];
  }

  private audioTower(): Promise<AudioTower> {
    const { gpu, config, weights } = this.o;
    this.audio ??= this.track('audio', () => audioWeightTable(parseAudioConfig(config)).map((w) => w.name), () =>
      loadAudioTower(gpu, config, (name) => weights.readTensorData(name), (name) => weights.tensors.has(name), (name) => weights.tensors.get(name)?.shape.slice()),
    );
    this.audio.catch(() => (this.audio = null));
    return this.audio;
  }

  destroy(): void {
    void this.vision?.then((t) => t.destroy(), () => undefined);
    void this.audio?.then((t) => t.destroy(), () => undefined);
    this.vision = null;
    this.audio = null;
  }
}

async function readF32Rows(gpu: Gpu, t: { buffer: GPUBuffer; offset: number; byteLength: number }): Promise<Float32Array> {
  return new Float32Array(await readBytes(gpu, t.buffer, t.offset, t.byteLength));
}
