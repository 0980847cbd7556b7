/**
 * Gemma 3n's audio features on the GPU, as Gemma3nAudioFeatureExtractor computes them: clips right-padded
 * together to a multiple of 128 samples, frames of frame_length + 1 samples every hop, HTK pre-emphasis,
 * periodic Hann window, |rFFT| (logmel `spectrum` kernel), 128 HTK mel filters, ln(max(mel, mel_floor))
 * and optional per-bin normalisation (logmel `melLog` kernel). Frame t of a clip
 * is valid when sample t * hop is one of its own samples (padded frames are computed, as in the
 * reference, and masked).
 * Output layout (consumed by the audio encoder): features [B, T, feature_size] f32 row-major on the GPU,
 * mask [B * T] (1 = valid frame).
 */
import { createTensor, readF32, runOnce, tensorFromF32, writeTensor, type Dispatch, type Gpu, type Tensor } from '@g3n/gpu';
import { fftTwiddles, frameCount, MAX_FFT_LENGTH, melBands, melFilterbank, melLog, melStats, melWeights, periodicHann, spectrum } from '@g3n/kernels';
import { AudioError } from '../errors.ts';
import { MAX_CLIP_SAMPLES } from './clips.ts';

/** Feature-extractor settings (preprocessor_config.json), with Gemma 3n's values as defaults. */
export interface AudioFeatureConfig {
  featureSize: number;
  samplingRate: number;
  /** Window length in samples (frame_length_ms); frames read one sample more. */
  frameLength: number;
  hop: number;
  fftLength: number;
  minFrequency: number;
  maxFrequency: number;
  melFloor: number;
  preemphasis: number;
  preemphasisHtk: boolean;
  inputScale: number;
  paddingValue: number;
  perBinMean: number[] | null;
  perBinStddev: number[] | null;
  padToMultipleOf: number;
  /** Longest clip in samples (30 s); longer audio must be split (splitClips). */
  maxLength: number;
}

/** Python's round(): halves to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function num(json: Record<string, unknown>, key: string, fallback: number): number {
  const v = json[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new AudioError('config', `preprocessor_config.json: ${key} must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function bins(json: Record<string, unknown>, key: string, n: number): number[] | null {
  const v = json[key];
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v) || v.length !== n || v.some((x) => typeof x !== 'number' || !Number.isFinite(x))) {
    throw new AudioError('config', `preprocessor_config.json: ${key} must be ${n} numbers`);
  }
  if (key === 'per_bin_stddev' && v.some((x) => x === 0)) throw new AudioError('config', 'preprocessor_config.json: per_bin_stddev has a zero');
  return v as number[];
}

/** Settings from a parsed preprocessor_config.json (or none: the Gemma 3n defaults). */
export function audioFeatureConfig(json: Record<string, unknown> = {}): AudioFeatureConfig {
  const samplingRate = num(json, 'sampling_rate', 16000);
  const featureSize = num(json, 'feature_size', 128);
  const frameLength = roundHalfEven((samplingRate * num(json, 'frame_length_ms', 32)) / 1000);
  const hop = roundHalfEven((samplingRate * num(json, 'hop_length_ms', 10)) / 1000);
  const pow2 = 2 ** Math.ceil(Math.log2(Math.max(frameLength, 1)));
  const overdrive = json.fft_overdrive === undefined ? true : Boolean(json.fft_overdrive);
  const fftLength = overdrive ? 2 * pow2 : pow2;
  if (num(json, 'dither', 0) !== 0) throw new AudioError('config', 'dither > 0 adds random noise; g3n computes features with dither 0');
  if (json.padding_side !== undefined && json.padding_side !== 'right') throw new AudioError('config', `padding_side '${String(json.padding_side)}' is not supported (right padding only)`);
  if (!Number.isInteger(featureSize) || featureSize < 1 || !Number.isInteger(samplingRate) || samplingRate < 1 || frameLength < 1 || hop < 1) {
    throw new AudioError('config', 'feature_size, sampling_rate, frame_length_ms and hop_length_ms must give positive sizes');
  }
  if (fftLength > MAX_FFT_LENGTH) throw new AudioError('config', `an FFT of ${fftLength} points exceeds the kernel's ${MAX_FFT_LENGTH}`);
  const cfg: AudioFeatureConfig = {
    featureSize, samplingRate, frameLength, hop, fftLength,
    minFrequency: num(json, 'min_frequency', 125),
    maxFrequency: num(json, 'max_frequency', 7600),
    melFloor: num(json, 'mel_floor', 1e-5),
    preemphasis: num(json, 'preemphasis', 0.97),
    preemphasisHtk: json.preemphasis_htk_flavor === undefined ? true : Boolean(json.preemphasis_htk_flavor),
    inputScale: num(json, 'input_scale_factor', 1),
    paddingValue: num(json, 'padding_value', 0),
    perBinMean: bins(json, 'per_bin_mean', featureSize),
    perBinStddev: bins(json, 'per_bin_stddev', featureSize),
    padToMultipleOf: num(json, 'pad_to_multiple_of', 128),
    maxLength: num(json, 'max_length', MAX_CLIP_SAMPLES),
  };
  if (!(cfg.melFloor > 0)) throw new AudioError('config', 'mel_floor must be > 0');
  return cfg;
}

export interface AudioFeatures {
  /** f32 [B, T, featureSize] log-mel features on the GPU (the caller destroys its buffer). */
  features: Tensor;
  /** [B * T]: 1 where frame t of clip b holds the clip's own audio. */
  mask: Uint8Array;
  /** Valid frames per clip. */
  frames: number[];
  batch: number;
  /** Frames per clip including padding. */
  T: number;
  featureSize: number;
}

export interface AudioFeatureOptions {
  /** The rate of the given samples; refused unless it is the extractor's (resample first). */
  sampleRate?: number;
  /** Magnitude rows per dispatch pair (default: up to 4096, within the binding limit). */
  chunkRows?: number;
}

function checkWaves(waves: readonly Float32Array[], cfg: AudioFeatureConfig): void {
  if (waves.length === 0) throw new AudioError('empty', 'no audio clips given');
  waves.forEach((w, b) => {
    if (w.length === 0) throw new AudioError('empty', `audio clip ${b} has no samples`, { clip: b });
    if (w.length > cfg.maxLength) {
      throw new AudioError('too-long', `audio clip ${b} has ${w.length} samples, more than one clip of ${cfg.maxLength}; split it with splitClips`, { clip: b, samples: w.length });
    }
    for (let i = 0; i < w.length; i++) {
      if (!Number.isFinite(w[i])) throw new AudioError('not-finite', `audio clip ${b} has a non-finite sample (${w[i]}) at index ${i}`, { clip: b, index: i });
    }
  });
}

/** Log-mel features of a batch of 16 kHz mono clips (each at most 30 s), computed on the GPU. */
export async function audioFeatures(gpu: Gpu, waves: readonly Float32Array[], config: AudioFeatureConfig = audioFeatureConfig(), options: AudioFeatureOptions = {}): Promise<AudioFeatures> {
  const cfg = config;
  if (options.sampleRate !== undefined && options.sampleRate !== cfg.samplingRate) {
    throw new AudioError('sample-rate', `audio at ${options.sampleRate} Hz given to a ${cfg.samplingRate} Hz feature extractor; resample it first`, { rate: options.sampleRate });
  }
  checkWaves(waves, cfg);
  const batch = waves.length;
  const longest = Math.max(...waves.map((w) => w.length));
  const m = cfg.padToMultipleOf;
  const n = m > 0 ? Math.ceil(longest / m) * m : longest;
  const T = frameCount(n, cfg.frameLength, cfg.hop);
  if (T === 0) {
    throw new AudioError('too-short', `audio of ${longest} samples (padded to ${n}) is shorter than one frame of ${cfg.frameLength + 1} samples`, { samples: longest });
  }
  const F = cfg.featureSize;
  const nBins = cfg.fftLength / 2 + 1;
  const binStride = Math.ceil(nBins / 4) * 4;
  const rows = batch * T;
  const limit = Math.min(gpu.caps.limits.maxStorageBufferBindingSize, gpu.caps.limits.maxBufferSize);
  const chunk = Math.max(1, Math.min(options.chunkRows ?? 4096, Math.floor(limit / (4 * binStride)), rows));

  const padded = new Float32Array(batch * n).fill(cfg.paddingValue);
  waves.forEach((w, b) => padded.set(w, b * n));
  const mask = new Uint8Array(rows);
  const frames = waves.map((w, b) => {
    let valid = 0;
    for (let t = 0; t < T; t++) if (t * cfg.hop < w.length) { mask[b * T + t] = 1; valid++; }
    return valid;
  });

  const filters = melFilterbank(nBins, cfg.minFrequency, cfg.maxFrequency, F, cfg.samplingRate, cfg.fftLength);
  const scratch: Tensor[] = [];
  const temp = (t: Tensor) => (scratch.push(t), t);
  let features: Tensor | null = null;
  try {
    const bands = temp(createTensor(gpu, 'audio.mel_bands', 'u32', [F, 2]));
    writeTensor(gpu, bands, melBands(filters, nBins, F));
    const wave = temp(tensorFromF32(gpu, 'audio.wave', [batch, n], padded));
    const window = temp(tensorFromF32(gpu, 'audio.window', [cfg.frameLength], periodicHann(cfg.frameLength)));
    const twiddle = temp(tensorFromF32(gpu, 'audio.fft_twiddle', [cfg.fftLength / 2, 4], fftTwiddles(cfg.fftLength)));
    const mel = temp(tensorFromF32(gpu, 'audio.mel_filters', [F, binStride], melWeights(filters, nBins, F, binStride)));
    const stats = temp(tensorFromF32(gpu, 'audio.mel_stats', [2, F], melStats(F, cfg.perBinMean, cfg.perBinStddev)));
    const mag = temp(createTensor(gpu, 'audio.spectrum', 'f32', [chunk, binStride]));
    const out = createTensor(gpu, 'audio.input_features', 'f32', [batch, T, F]);
    features = out;
    const mode = cfg.preemphasis > 0 ? (cfg.preemphasisHtk ? 'htk' : 'plain') : 'none';
    const dispatches: Dispatch[] = [];
    for (let row0 = 0; row0 < rows; row0 += chunk) {
      const r = Math.min(chunk, rows - row0);
      dispatches.push(spectrum(gpu, {
        wave, window, twiddle, mag, waveStride: n, frames: T, frame0: row0, rows: r, hop: cfg.hop, frameLength: cfg.frameLength,
        fftLength: cfg.fftLength, binStride, preemphasis: cfg.preemphasis, mode, inputScale: cfg.inputScale,
      }));
      dispatches.push(melLog(gpu, { mag, filters: mel, bands, stats, out, rows: r, frame0: row0, featureSize: F, binStride, melFloor: cfg.melFloor }));
    }
    await runOnce(gpu, 'audio_features', dispatches);
    return { features: out, mask, frames, batch, T, featureSize: F };
  } catch (e) {
    features?.buffer.destroy();
    throw e;
  } finally {
    for (const t of scratch) t.buffer.destroy();
  }
}

/** Read features back: f32 [B * T * featureSize] with the mask and sizes. */
export async function readAudioFeatures(gpu: Gpu, f: AudioFeatures): Promise<{ features: Float32Array; mask: Uint8Array; frames: number[]; batch: number; T: number; featureSize: number }> {
  return { features: await readF32(gpu, f.features), mask: f.mask, frames: f.frames, batch: f.batch, T: f.T, featureSize: f.featureSize };
}
