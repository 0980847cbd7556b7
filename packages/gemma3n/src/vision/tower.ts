/**
 * The Gemma 3n vision tower on the GPU: MobileNet-V5 encoder + embed_vision soft path, from
 * pixel_values [3, H, W] (CHW, values in [0, 1]) to soft tokens [tokensPerImage, text hidden].
 * Loaded on its own (`loadVisionTower`), only when images are used.
 */
import { createTensor, numel, readF32, runOnce, writeTensor, type Gpu, type Tensor } from '@g3n/gpu';
import { captureSize, type CaptureSheet } from '../capture.ts';
import type { ModelConfig } from '../config.ts';
import { parseVisionConfig, type VisionConfig } from './config.ts';
import { VisionInputError, VisionTowerMissingError } from './errors.ts';
import { recordVisionTower, VISION_CAPTURES, type Slots } from './forward.ts';
import { loadVisionWeights, visionWeightTable, type VisionWeights, type VisionWeightSource } from './weights.ts';

/** One preprocessed image: f32 pixel values [3, height, width] in CHW order. */
export interface PixelValues {
  data: Float32Array;
  /** [3, height, width]. */
  shape: readonly number[];
}

/** One image's feature maps as recorded (height, width, channels by capture name) and its soft tokens. */
export interface VisionCaptureSizes {
  maps: ReadonlyMap<string, { h: number; w: number; c: number }>;
  tokens: number;
}

const mapElements = (s: VisionCaptureSizes, name: string, channels = Infinity): number => {
  const g = s.maps.get(name);
  if (!g) throw new Error(`${name} was not recorded`);
  return g.h * g.w * Math.min(g.c, channels);
};

/**
 * The vision tower's capturable intermediates (the golden names), f32 elements per image. The maps'
 * channels come from the checkpoint's weights, so their sizes are those the recorded pass reports.
 */
export const VISION_CAPTURE_SHEET: CaptureSheet<VisionConfig, VisionCaptureSizes> = [
  { pattern: /^vision_tower\.(stem|stage[0-3]|last_hidden_state)$/, elements: (_, s, m) => mapElements(s, m[0]) },
  { pattern: /^vision_tower\.stem_first4ch$/, elements: (_, s) => mapElements(s, 'vision_tower.stem', 4) },
  { pattern: /^vision_soft_tokens$/, elements: (c, s) => s.tokens * c.textHidden },
];

/** The intermediate a capture name reads from the recorded pass (stem_first4ch is the stem's first channels). */
const recordedName = (name: string) => (name === 'vision_tower.stem_first4ch' ? 'vision_tower.stem' : name);

export interface EncodeOptions {
  /**
   * Intermediates to read back, as the golden names: `vision_tower.stem_first4ch`,
   * `vision_tower.stage0` .. `stage3`, `vision_tower.last_hidden_state` (all CHW) and
   * `vision_soft_tokens` ([tokens, text hidden]).
   */
  capture?: readonly string[];
}

export interface EncodedImage {
  /** f32 [tokensPerImage, text hidden] on the GPU; the caller destroys it (softTokens.buffer.destroy()). */
  softTokens: Tensor;
  captures: Map<string, { shape: number[]; data: Float32Array }>;
}

/** Smallest input side: the stem and three stride-2 stages must leave at least one pixel. */
const MIN_SIDE = 32;

function badPixels(message: string): VisionInputError {
  return new VisionInputError('pixel-shape', `pixel_values: ${message}. Pass one preprocessed image as f32 [3, height, width].`);
}

/** Placeholder buffers for the measuring run; each slot records the most elements any view asks of it. */
class MeasureSlots implements Slots {
  readonly size = new Map<string, number>();
  private readonly fake = new Map<string, GPUBuffer>();
  view(slot: string, shape: number[]): Tensor {
    const n = numel(shape);
    this.size.set(slot, Math.max(this.size.get(slot) ?? 0, n));
    let buffer = this.fake.get(slot);
    if (!buffer) {
      buffer = { label: slot } as unknown as GPUBuffer;
      this.fake.set(slot, buffer);
    }
    return { label: slot, dtype: 'f32', shape, buffer, offset: 0, byteLength: 4 * n };
  }
}

/** One buffer per slot, sized by a measuring run; views of it with any shape that fits. */
class BufferSlots implements Slots {
  readonly tensors = new Map<string, Tensor>();
  constructor(gpu: Gpu, sizes: ReadonlyMap<string, number>) {
    try {
      for (const [slot, n] of sizes) this.tensors.set(slot, createTensor(gpu, `vision.${slot}`, 'f32', [n]));
    } catch (e) {
      this.destroy();
      throw e;
    }
  }
  view(slot: string, shape: number[]): Tensor {
    const t = this.tensors.get(slot);
    if (!t || numel(t.shape) < numel(shape)) throw new Error(`vision workspace slot ${slot} cannot hold [${shape.join(', ')}]`);
    return { ...t, shape, byteLength: 4 * numel(shape) };
  }
  destroy(): void {
    for (const t of this.tensors.values()) t.buffer.destroy();
    this.tensors.clear();
  }
}

/** [h * w, c] channels-last -> [c, h, w] (the goldens' CHW), keeping the first `keepC` channels. */
function toChw(hwc: Float32Array, h: number, w: number, c: number, keepC = c): Float32Array {
  const out = new Float32Array(keepC * h * w);
  for (let p = 0; p < h * w; p++) for (let ch = 0; ch < keepC; ch++) out[ch * h * w + p] = hwc[p * c + ch];
  return out;
}

function toHwc(chw: Float32Array, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(c * h * w);
  for (let ch = 0; ch < c; ch++) for (let p = 0; p < h * w; p++) out[p * c + ch] = chw[ch * h * w + p];
  return out;
}

export class VisionTower {
  private constructor(
    readonly gpu: Gpu,
    readonly config: VisionConfig,
    private weights: VisionWeights,
  ) {}

  static async load(gpu: Gpu, cfg: ModelConfig, source: VisionWeightSource): Promise<VisionTower> {
    const vc = parseVisionConfig(cfg);
    if (!vc) throw new VisionTowerMissingError('config.json has no vision_config');
    const table = visionWeightTable(vc, source.tensors);
    return new VisionTower(gpu, vc, await loadVisionWeights(gpu, table, source));
  }

  /** Channels the stem expects (3 for RGB). */
  get inputChannels(): number {
    return this.weights.get('model.vision_tower.timm_model.conv_stem.conv.weight')!.shape[1];
  }

  private check(p: PixelValues): [number, number] {
    const s = p.shape;
    if (s.length !== 3 || s[0] !== this.inputChannels) throw badPixels(`shape [${s.join(', ')}] is not [${this.inputChannels}, height, width]`);
    if (s[1] < MIN_SIDE || s[2] < MIN_SIDE || !Number.isInteger(s[1]) || !Number.isInteger(s[2])) throw badPixels(`${s[1]} x ${s[2]} is smaller than ${MIN_SIDE} x ${MIN_SIDE}`);
    if (p.data.length !== s[0] * s[1] * s[2]) throw badPixels(`${p.data.length} values for shape [${s.join(', ')}]`);
    return [s[1], s[2]];
  }

  /**
   * Encode images in order: each image's soft tokens, [tokensPerImage, text hidden] f32 on the GPU. One
   * recorded dispatch list and one submit per image; the workspace is sized for the largest image and
   * freed before returning.
   */
  async encode(images: readonly PixelValues[], options: EncodeOptions = {}): Promise<EncodedImage[]> {
    const sizes = images.map((p) => this.check(p));
    const want = new Set(options.capture ?? []);
    // An unknown name is BAD_INPUT before any GPU work (sizes do not matter for the names' check).
    const anySize: VisionCaptureSizes = { maps: new Map(VISION_CAPTURES.map((n) => [n, { h: 1, w: 1, c: 1 }])), tokens: 1 };
    for (const name of want) captureSize(VISION_CAPTURE_SHEET, this.config, name, anySize);
    const internal = new Set([...want].map(recordedName));
    const measure = new MeasureSlots();
    for (const [h, w] of sizes) recordVisionTower(this.gpu, this.config, this.weights, measure, h, w, internal);
    const slots = new BufferSlots(this.gpu, measure.size);
    const results: EncodedImage[] = [];
    try {
      for (const [i, [h, w]] of sizes.entries()) {
        const rec = recordVisionTower(this.gpu, this.config, this.weights, slots, h, w, internal);
        writeTensor(this.gpu, slots.view('pixels', [h * w * this.inputChannels]), toHwc(images[i].data, this.inputChannels, h, w));
        await runOnce(this.gpu, 'vision_tower', rec.dispatches);
        const soft = createTensor(this.gpu, `vision_soft_tokens.${i}`, 'f32', [rec.tokens, this.config.textHidden]);
        results.push({ softTokens: soft, captures: new Map() });
        const enc = this.gpu.device.createCommandEncoder({ label: 'vision_soft_tokens' });
        enc.copyBufferToBuffer(slots.tensors.get('soft')!.buffer, 0, soft.buffer, 0, soft.byteLength);
        this.gpu.device.queue.submit([enc.finish()]);
        const captures = results[i].captures;
        const sizes: VisionCaptureSizes = { maps: rec.captures, tokens: rec.tokens };
        for (const [name, g] of rec.captures) {
          const hwc = await readF32(this.gpu, slots.view(`cap:${name}`, [captureSize(VISION_CAPTURE_SHEET, this.config, name, sizes)]));
          if (want.has(name)) captures.set(name, { shape: [g.c, g.h, g.w], data: toChw(hwc, g.h, g.w, g.c) });
          if (name === 'vision_tower.stem' && want.has('vision_tower.stem_first4ch')) {
            const k = Math.min(4, g.c);
            captures.set('vision_tower.stem_first4ch', { shape: [k, g.h, g.w], data: toChw(hwc, g.h, g.w, g.c, k) });
          }
        }
        if (want.has('vision_soft_tokens')) captures.set('vision_soft_tokens', { shape: [...soft.shape], data: await readF32(this.gpu, soft) });
      }
    } catch (e) {
      for (const r of results) r.softTokens.buffer.destroy();
      throw e;
    } finally {
      await this.gpu.device.queue.onSubmittedWorkDone();
      slots.destroy();
    }
    return results;
  }

  destroy(): void {
    for (const t of this.weights.values()) t.buffer.destroy();
    this.weights.clear();
  }
}

/** Load the vision tower (and the embed_vision soft path) of a checkpoint; a text-only load reads none of these tensors. */
export function loadVisionTower(gpu: Gpu, cfg: ModelConfig, source: VisionWeightSource): Promise<VisionTower> {
  return VisionTower.load(gpu, cfg, source);
}
