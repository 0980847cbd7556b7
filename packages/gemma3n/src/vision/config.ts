/**
 * The vision tower's configuration: config.json's `vision_config` (architecture, eps, hidden size) and
 * the block sequence of the named timm architecture (spec §4.3). Channel counts are not here: they are
 * read from the checkpoint's tensor shapes (vision/weights.ts), so channel-scaled checkpoints
 * (timm `channel_multiplier` in `vision_config.model_args`) load as they are.
 */
import { ConfigError, UnsupportedConfigError, type ModelConfig } from '../config.ts';

/** EdgeResidual (fused MBConv): conv_exp k x k with the block stride, then a 1x1 projection. */
export interface EdgeResidualBlock {
  type: 'er';
  kernel: number;
  stride: number;
}

/** Universal inverted residual: optional depthwise start (kernel `start`), 1x1 expand, optional depthwise mid (kernel `mid`, the block stride), 1x1 project. */
export interface UirBlock {
  type: 'uir';
  /** Kernel of dw_start, 0 when absent. */
  start: number;
  /** Kernel of dw_mid, 0 when absent. */
  mid: number;
  stride: number;
}

/** Mobile multi-query attention: `heads` query heads of `keyDim` over one shared K/V head, K/V downsampled by a depthwise `kvKernel` conv of stride `kvStride` when kvStride > 1. */
export interface MqaBlock {
  type: 'mqa';
  heads: number;
  keyDim: number;
  kvStride: number;
  kvKernel: number;
}

export type VisionBlock = EdgeResidualBlock | UirBlock | MqaBlock;

export interface VisionConfig {
  architecture: string;
  /** Blocks per stage; block j of stage i has the weight prefix `blocks.i.j.`. */
  stages: VisionBlock[][];
  /** Channels of the fusion adapter's output (msfa) and so of each soft token before projection. */
  hiddenSize: number;
  eps: number;
  /** Soft tokens per image: the fusion adapter's output is sqrt(tokens) x sqrt(tokens). */
  tokensPerImage: number;
  /** Side of the fusion adapter's square output. */
  outputResolution: number;
  /** The text decoder's hidden size (the soft tokens' width). */
  textHidden: number;
  imageTokenId: number | null;
}

const er = (stride: number): EdgeResidualBlock => ({ type: 'er', kernel: 3, stride });
const uir = (start: number, mid: number, stride = 1): UirBlock => ({ type: 'uir', start, mid, stride });
const mqa = (heads: number, keyDim: number, kvStride: number): MqaBlock => ({ type: 'mqa', heads, keyDim, kvStride, kvKernel: 3 });
const repeat = <T>(n: number, f: () => T[]): T[] => Array.from({ length: n }, f).flat();

/** timm `mobilenetv5_300m_enc` (spec §4.3): stages of 3, 5, 37 and 39 blocks. */
const MOBILENETV5_300M: VisionBlock[][] = [
  [er(2), er(1), er(1)],
  [uir(3, 5, 2), uir(5, 0), uir(3, 0), uir(5, 0), uir(3, 0)],
  [uir(5, 5, 2), ...repeat(7, () => [uir(5, 0)]), uir(0, 0), ...repeat(14, () => [mqa(12, 64, 2), uir(0, 0)])],
  [uir(5, 5, 2), ...repeat(19, () => [mqa(16, 96, 1), uir(0, 0)])],
];

export const VISION_ARCHITECTURES: Readonly<Record<string, VisionBlock[][]>> = { mobilenetv5_300m_enc: MOBILENETV5_300M };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The vision tower's configuration, or null when config.json has no `vision_config`. */
export function parseVisionConfig(cfg: ModelConfig): VisionConfig | null {
  const raw = isRecord(cfg.raw) ? cfg.raw : {};
  const vc = raw.vision_config;
  if (vc === undefined || vc === null || !cfg.vision) return null;
  if (!isRecord(vc)) throw new ConfigError('vision_config', 'must be an object');
  const architecture = vc.architecture ?? 'mobilenetv5_300m_enc';
  if (typeof architecture !== 'string' || !(architecture in VISION_ARCHITECTURES)) {
    throw new UnsupportedConfigError('vision_config.architecture', architecture, `supported: ${Object.keys(VISION_ARCHITECTURES).join(', ')}`);
  }
  const tokens = raw.vision_soft_tokens_per_image ?? 256;
  if (typeof tokens !== 'number' || !Number.isInteger(tokens) || tokens < 1 || !Number.isInteger(Math.sqrt(tokens))) {
    throw new ConfigError('vision_soft_tokens_per_image', `must be a square number of tokens, got ${JSON.stringify(tokens)}`);
  }
  return {
    architecture,
    stages: VISION_ARCHITECTURES[architecture],
    hiddenSize: cfg.vision.hiddenSize,
    eps: cfg.vision.rmsNormEps,
    tokensPerImage: tokens,
    outputResolution: Math.sqrt(tokens),
    textHidden: cfg.text.hiddenSize,
    imageTokenId: cfg.imageTokenId,
  };
}
