import { defineKernel, foldWorkgroups, ShapeError, type Dispatch, type Gpu, type Tensor } from '@g3n/gpu';
import source from '../../../shaders/logmel.wgsl?raw';
import { guardCount, guardF32, guardHolds, guardSeparate } from './norm.ts';

/**
 * The log-mel family (shaders/logmel.wgsl): `spectrum` frames, pre-emphasises, windows and takes the
 * |FFT| of every frame in workgroup memory; `melLog` projects onto the mel filters (summing only the
 * bins where each filter is nonzero) and takes ln(max(mel, floor)) with the optional per-bin
 * normalisation.
 *
 * FFT against a DFT GEMM, measured on the software adapter (SwiftShader, 2 shared cores, heavily loaded)
 * for the 197 frames of the tiny-audio fixture's 2 s wave: the DFT as a GEMM (`linear`, [197, 512] x
 * [1026, 512] cos/sin rows, before any magnitude pass) took 23 s per run; the double-f32 radix-2 FFT
 * 0.9-1.3 s with 32 threads per frame (8-10 s with 256, 1.6 s with 16), as a complex 1024-point
 * transform, before the real input was packed into 512 complex points (half the butterflies). The FFT
 * runs. Precision (numpy emulation against the golden, max abs log-mel error where golden >= -7,
 * tolerance 2e-3): plain f32 radix-2 FFT 2.7e-3, f32 DFT GEMM (blocked sgemm sums) 6.9e-4, double-f32
 * FFT 3e-7 on the same window (1.9e-4 with ours: see shaders/logmel.wgsl).
 */
/** mel_log: threads per workgroup. */
const WG = 256;
/** spectrum: threads per frame (8 butterflies each per stage at 1024 points; 8x faster than 256 on the software adapter). */
const SPECTRUM_WG = 32;
export const logmelKernels = {
  spectrum: defineKernel('logmel', source, 'spectrum', { WG: SPECTRUM_WG, MAX_FFT: 1024 }),
  melLog: defineKernel('logmel', source, 'mel_log', { WG }),
};

/** Pre-emphasis flavours: none, HTK (first sample times 1 - a, the frame's last sample unused), plain. */
export type PreemphasisMode = 'none' | 'htk' | 'plain';
const MODE_CODE: Record<PreemphasisMode, number> = { none: 0, htk: 1, plain: 2 };
/** The largest transform of the kernel variant (its (hi, lo) re and im arrays of 512 complex points: 8 KiB of workgroup memory). */
export const MAX_FFT_LENGTH = 1024;

const NO_PARAMS = {
  rows: 0, frame0: 0, frames: 0, wave_stride: 0, hop: 0, frame_length: 0, fft_length: 0, fft_log2: 0,
  bin_stride: 0, mode: 0, preemphasis: 0, input_scale: 0, n: 0, feature_size: 0, mel_floor: 0, one_minus_preemphasis: 0, opaque_zero: 0, _pad0: 0, _pad1: 0, _pad2: 0,
};

export interface SpectrumArgs {
  /** f32 samples of every clip, clip b at b * waveStride (zero padded to waveStride). */
  wave: Tensor;
  waveStride: number;
  /** f32 [frameLength] analysis window. */
  window: Tensor;
  /** f32 [fftLength / 2, 4]: fftTwiddles(fftLength). */
  twiddle: Tensor;
  /** f32 out: rows x binStride magnitudes (row 0 is frame `frame0`). */
  mag: Tensor;
  /** Frames per clip; row r of the whole batch is clip r / frames, frame r % frames. */
  frames: number;
  /** First row (of all clips' frames) and rows to compute. */
  frame0: number;
  rows: number;
  hop: number;
  frameLength: number;
  /** A power of two >= frameLength, at most MAX_FFT_LENGTH. */
  fftLength: number;
  /** Columns per magnitude row, >= fftLength / 2 + 1 (the extra columns are written 0). */
  binStride: number;
  preemphasis: number;
  mode: PreemphasisMode;
  /** Multiplies every sample first (the extractor's input_scale_factor); default 1. */
  inputScale?: number;
}

/** The samples a frame reads: frameLength + 1 (the pre-emphasis look-back of the HF extractor). */
export function frameSpan(frameLength: number): number {
  return frameLength + 1;
}

/** Frames of a padded clip of n samples, as the HF extractor counts them (0 when n is under one frame). */
export function frameCount(n: number, frameLength: number, hop: number): number {
  const span = frameSpan(frameLength);
  return n < span ? 0 : Math.floor((n - span) / hop) + 1;
}

/** |FFT| of pre-emphasised, windowed frames: mag[r, k] for rows frame0 .. frame0 + rows - 1. */
export function spectrum(gpu: Gpu, args: SpectrumArgs): Dispatch {
  const { wave, window, twiddle, mag, waveStride, frames, frame0, rows, hop, frameLength, fftLength, binStride, preemphasis, mode } = args;
  const inputScale = args.inputScale ?? 1;
  const op = 'spectrum';
  guardF32(op, wave, window, twiddle, mag);
  for (const [name, v] of [['waveStride', waveStride], ['frames', frames], ['rows', rows], ['hop', hop], ['frameLength', frameLength], ['binStride', binStride]] as const) guardCount(op, name, v);
  guardCount(op, 'frame0', frame0 + 1);
  if (!Number.isInteger(fftLength) || fftLength < 2 || (fftLength & (fftLength - 1)) !== 0 || fftLength > MAX_FFT_LENGTH) {
    throw new ShapeError(op, `fftLength ${fftLength} must be a power of two in [2, ${MAX_FFT_LENGTH}]`);
  }
  if (frameLength > fftLength) throw new ShapeError(op, `frameLength ${frameLength} exceeds fftLength ${fftLength}`);
  if (binStride < fftLength / 2 + 1) throw new ShapeError(op, `binStride ${binStride} holds fewer than the ${fftLength / 2 + 1} bins`);
  if (!(mode in MODE_CODE)) throw new ShapeError(op, `unknown pre-emphasis mode '${mode}'`);
  if (!Number.isFinite(preemphasis) || !Number.isFinite(inputScale)) throw new ShapeError(op, 'preemphasis and inputScale must be finite');
  const span = frameSpan(frameLength);
  if ((frames - 1) * hop + span > waveStride) throw new ShapeError(op, `${frames} frames of ${span} samples at hop ${hop} run past a clip of ${waveStride} samples`);
  const clips = Math.ceil((frame0 + rows) / frames);
  guardHolds(op, wave, (clips - 1) * waveStride + (frames - 1) * hop + span);
  guardHolds(op, window, frameLength);
  guardHolds(op, twiddle, 2 * fftLength);
  guardHolds(op, mag, rows * binStride);
  if (rows * binStride > 0xffffffff || clips * waveStride > 0xffffffff) throw new ShapeError(op, 'sizes exceed u32 indexing');
  guardSeparate(op, mag, wave, window, twiddle);

  return {
    kernel: logmelKernels.spectrum,
    bindings: { wave, window, twiddle, mag },
    params: {
      ...NO_PARAMS, rows, frame0, frames, wave_stride: waveStride, hop, frame_length: frameLength, fft_length: fftLength,
      fft_log2: Math.log2(fftLength), bin_stride: binStride, mode: MODE_CODE[mode], preemphasis, one_minus_preemphasis: 1 - preemphasis, input_scale: inputScale,
    },
    workgroups: foldWorkgroups(rows, gpu.caps.limits.maxComputeWorkgroupsPerDimension),
  };
}

export interface MelLogArgs {
  /** f32 magnitudes, rows x binStride (spectrum's output). */
  mag: Tensor;
  /** f32 [featureSize, binStride] mel filter weights (melWeights). */
  filters: Tensor;
  /** u32 [featureSize, 2]: first and end bin of each filter's nonzero weights (melBands). */
  bands: Tensor;
  /** f32 [2 * featureSize]: per-bin mean, then per-bin 1 / stddev (melStats). */
  stats: Tensor;
  /** f32 out: row r of this dispatch is written at row frame0 + r of [*, featureSize]. */
  out: Tensor;
  rows: number;
  frame0: number;
  featureSize: number;
  binStride: number;
  melFloor: number;
}

/** out[frame0 + r, m] = (ln(max(sum_k mag[r, k] filters[m, k], melFloor)) - mean[m]) / stddev[m]. */
export function melLog(gpu: Gpu, args: MelLogArgs): Dispatch {
  const { mag, filters, bands, stats, out, rows, frame0, featureSize, binStride, melFloor } = args;
  const op = 'mel_log';
  guardF32(op, mag, filters, stats, out);
  if (bands.dtype !== 'u32') throw new ShapeError(op, `${bands.label} must be u32, got ${bands.dtype}`);
  guardCount(op, 'rows', rows);
  guardCount(op, 'featureSize', featureSize);
  guardCount(op, 'binStride', binStride);
  guardCount(op, 'frame0', frame0 + 1);
  if ((frame0 + rows) * featureSize > 0xffffffff || rows * binStride > 0xffffffff) throw new ShapeError(op, 'sizes exceed u32 indexing');
  guardHolds(op, mag, rows * binStride);
  guardHolds(op, filters, featureSize * binStride);
  guardHolds(op, bands, 2 * featureSize);
  guardHolds(op, stats, 2 * featureSize);
  guardHolds(op, out, (frame0 + rows) * featureSize);
  if (!(melFloor > 0) || !Number.isFinite(melFloor)) throw new ShapeError(op, `melFloor ${melFloor} must be finite and > 0`);
  guardSeparate(op, out, mag, filters, bands, stats);
  const n = rows * featureSize;
  return {
    kernel: logmelKernels.melLog,
    bindings: { mag, filters, bands, stats, features: out },
    params: { ...NO_PARAMS, rows, frame0, bin_stride: binStride, n, feature_size: featureSize, mel_floor: melFloor },
    workgroups: foldWorkgroups(Math.ceil(n / WG), gpu.caps.limits.maxComputeWorkgroupsPerDimension),
  };
}

/** Periodic Hann window of n samples, evaluated step by step in f32 as the HF extractor does. */
export function periodicHann(n: number): Float32Array {
  const f = Math.fround;
  const twoPi = f(2 * Math.PI);
  const out = new Float32Array(n);
  for (let k = 0; k < n; k++) out[k] = f(0.5 * f(1 - f(Math.cos(f(f(twoPi * k) / n)))));
  return out;
}

/** FFT twiddles cos and -sin of 2 pi m / n for m < n / 2, computed in f64, as f32 (hi, lo) pairs: [n / 2, 4]. */
export function fftTwiddles(n: number): Float32Array {
  const out = new Float32Array(2 * n);
  for (let m = 0; m < n / 2; m++) {
    const a = (2 * Math.PI * m) / n;
    const c = Math.cos(a);
    const s = -Math.sin(a);
    out[4 * m] = c;
    out[4 * m + 1] = c - out[4 * m];
    out[4 * m + 2] = s;
    out[4 * m + 3] = s - out[4 * m + 2];
  }
  return out;
}

/**
 * Triangular HTK-mel filters without normalisation, [nFreqs, nMels] in f64 (row-major), with the
 * bin frequencies computed in f32 as the HF extractor does.
 */
export function melFilterbank(nFreqs: number, fMin: number, fMax: number, nMels: number, sampleRate: number, fftLength: number): Float64Array {
  const hz2mel = (hz: number) => 2595 * Math.log10(1 + hz / 700);
  const m0 = hz2mel(fMin);
  const m1 = hz2mel(fMax);
  // np.linspace(m0, m1, nMels + 2): start + i * step, the last point exactly m1.
  const step = (m1 - m0) / (nMels + 1);
  const hz = Array.from({ length: nMels + 2 }, (_, i) => 700 * (10 ** ((i === nMels + 1 ? m1 : m0 + i * step) / 2595) - 1));
  const binHz = Math.fround(sampleRate / fftLength);
  const out = new Float64Array(nFreqs * nMels);
  for (let k = 0; k < nFreqs; k++) {
    const f = Math.fround(k * binHz);
    for (let m = 0; m < nMels; m++) {
      const rising = (f - hz[m]) / (hz[m + 1] - hz[m]);
      const falling = (hz[m + 2] - f) / (hz[m + 2] - hz[m + 1]);
      out[k * nMels + m] = Math.max(0, Math.min(rising, falling));
    }
  }
  return out;
}

/** The mel filters as melLog reads them: f32 [nMels, binStride], columns past nFreqs zero. */
export function melWeights(filters: Float64Array, nFreqs: number, nMels: number, binStride: number): Float32Array {
  const out = new Float32Array(nMels * binStride);
  for (let k = 0; k < nFreqs; k++) for (let m = 0; m < nMels; m++) out[m * binStride + k] = filters[k * nMels + m];
  return out;
}

/**
 * The `bands` table of melLog: for each mel bin the first and end frequency bin of its nonzero weights
 * (0, 0 for a filter that is zero everywhere), from filters [nFreqs, nMels].
 */
export function melBands(filters: Float64Array, nFreqs: number, nMels: number): Uint32Array {
  const out = new Uint32Array(2 * nMels);
  for (let m = 0; m < nMels; m++) {
    let first = -1;
    let last = -1;
    for (let k = 0; k < nFreqs; k++) {
      if (filters[k * nMels + m] === 0) continue;
      if (first < 0) first = k;
      last = k;
    }
    if (first >= 0) [out[2 * m], out[2 * m + 1]] = [first, last + 1];
  }
  return out;
}

/** The `stats` table of melLog: per-bin mean (0 when absent), then 1 / stddev (1 when absent). */
export function melStats(featureSize: number, mean?: readonly number[] | null, stddev?: readonly number[] | null): Float32Array {
  const out = new Float32Array(2 * featureSize);
  for (let j = 0; j < featureSize; j++) {
    out[j] = mean ? mean[j] : 0;
    out[featureSize + j] = stddev ? 1 / stddev[j] : 1;
  }
  return out;
}
