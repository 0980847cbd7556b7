/**
 * audio_config of a Gemma 3n config.json (spec §1.4, §5), with the Hugging Face Gemma3nAudioConfig
 * defaults, and the top-level fields the audio path needs (soft-token count, placeholder id, text sizes).
 */
import { ConfigError, type ModelConfig } from '../config.ts';
import { AudioTowerMissingError } from './errors.ts';

export interface AudioConfig {
  hiddenSize: number;
  numHeads: number;
  headDim: number;
  numLayers: number;
  /** FFN width of the conformer's half-step modules (4 * hidden). */
  ffnSize: number;
  chunkSize: number;
  /** Keys a query sees before itself (context_left - 1) and after (context_right). */
  maxPast: number;
  maxFuture: number;
  logitCap: number;
  convKernel: number;
  reductionFactor: number;
  residualWeight: number;
  gradientClipping: number;
  rmsNormEps: number;
  inputFeatSize: number;
  sscpChannels: [number, number];
  sscpKernels: [[number, number], [number, number]];
  sscpStrides: [[number, number], [number, number]];
  sscpEps: number;
  vocabOffset: number;
  vocabSize: number;
  /** Soft tokens per clip in the prompt (audio_soft_tokens_per_image). */
  softTokens: number;
  audioTokenId: number;
  textVocabSize: number;
  textHiddenSize: number;
}

type Obj = Record<string, unknown>;
const show = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v));

function field(obj: Obj, prefix: string) {
  const get = (key: string, def: unknown) => (obj[key] === undefined || obj[key] === null ? def : obj[key]);
  return {
    int(key: string, def: number, min: number): number {
      const v = get(key, def);
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw new ConfigError(prefix + key, `must be an integer >= ${min}, got ${show(v)}`);
      return v;
    },
    num(key: string, def: number): number {
      const v = get(key, def);
      if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ConfigError(prefix + key, `must be a positive number, got ${show(v)}`);
      return v;
    },
    pair(key: string, def: [number, number]): [number, number] {
      const v = get(key, def);
      if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => Number.isSafeInteger(x) && x >= 1)) throw new ConfigError(prefix + key, `must be two positive integers, got ${show(v)}`);
      return [v[0], v[1]];
    },
    pairs(key: string, def: [number, number][]): [[number, number], [number, number]] {
      const v = get(key, def);
      const ok = Array.isArray(v) && v.length === 2 && v.every((p) => Array.isArray(p) && p.length === 2 && p.every((x) => Number.isSafeInteger(x) && x >= 1));
      if (!ok) throw new ConfigError(prefix + key, `must be two [height, width] pairs of positive integers, got ${show(v)}`);
      return [[v[0][0], v[0][1]], [v[1][0], v[1][1]]];
    },
  };
}

/** The audio tower's configuration; AudioTowerMissingError when config.json has no audio_config. */
export function parseAudioConfig(cfg: ModelConfig): AudioConfig {
  const raw = cfg.raw as Obj;
  const ac = raw?.audio_config;
  if (ac === undefined || ac === null || cfg.audio === null) throw new AudioTowerMissingError('config.json has no audio_config');
  if (typeof ac !== 'object' || Array.isArray(ac)) throw new ConfigError('audio_config', `must be an object, got ${show(ac)}`);
  const f = field(ac as Obj, 'audio_config.');
  const top = field(raw, '');
  const hiddenSize = f.int('hidden_size', 1536, 1);
  const numHeads = f.int('conf_num_attention_heads', 8, 1);
  if (hiddenSize % numHeads !== 0) throw new ConfigError('audio_config.hidden_size', `(${hiddenSize}) is not a multiple of conf_num_attention_heads (${numHeads})`);
  const contextLeft = f.int('conf_attention_context_left', 13, 0);
  const audioTokenId = cfg.audioTokenId;
  if (audioTokenId === null) throw new ConfigError('audio_token_id', 'is missing (the prompt cannot carry audio without it)');
  return {
    hiddenSize,
    numHeads,
    headDim: hiddenSize / numHeads,
    numLayers: f.int('conf_num_hidden_layers', 12, 1),
    ffnSize: 4 * hiddenSize,
    chunkSize: f.int('conf_attention_chunk_size', 12, 1),
    maxPast: Math.max(0, contextLeft - 1),
    maxFuture: f.int('conf_attention_context_right', 0, 0),
    logitCap: f.num('conf_attention_logit_cap', 50),
    convKernel: f.int('conf_conv_kernel_size', 5, 1),
    reductionFactor: f.int('conf_reduction_factor', 4, 1),
    residualWeight: f.num('conf_residual_weight', 0.5),
    gradientClipping: f.num('gradient_clipping', 1e10),
    rmsNormEps: f.num('rms_norm_eps', 1e-6),
    inputFeatSize: f.int('input_feat_size', 128, 1),
    sscpChannels: f.pair('sscp_conv_channel_size', [128, 32]),
    sscpKernels: f.pairs('sscp_conv_kernel_size', [[3, 3], [3, 3]]),
    sscpStrides: f.pairs('sscp_conv_stride_size', [[2, 2], [2, 2]]),
    sscpEps: f.num('sscp_conv_group_norm_eps', 1e-3),
    vocabOffset: cfg.audio.vocabOffset,
    vocabSize: cfg.audio.vocabSize,
    softTokens: top.int('audio_soft_tokens_per_image', 188, 1),
    audioTokenId,
    textVocabSize: cfg.text.vocabSize,
    textHiddenSize: cfg.text.hiddenSize,
  };
}

/** Frame counts through the tower for `frames` log-mel frames (spec §5.3, §5.7). */
export function audioFrameCounts(c: AudioConfig, frames: number): { sscp: [number, number]; freq: [number, number]; reduced: number } {
  const [[kh0, kw0], [kh1, kw1]] = c.sscpKernels;
  const [[sh0, sw0], [sh1, sw1]] = c.sscpStrides;
  // time: kernel - 1 zero rows after the input; frequency: one zero column on each side
  const out = (n: number, k: number, s: number, pad: number) => Math.floor((n + pad - k) / s) + 1;
  const t1 = out(frames, kh0, sh0, kh0 - 1);
  const t2 = out(t1, kh1, sh1, kh1 - 1);
  const f1 = out(c.inputFeatSize, kw0, sw0, 2);
  const f2 = out(f1, kw1, sw1, 2);
  return { sscp: [t1, t2], freq: [f1, f2], reduced: Math.ceil(t2 / c.reductionFactor) };
}
