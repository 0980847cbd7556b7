/** CPU references for the log-mel family in f64, as gemma3n_audio_ref.AudioFeatureExtractor.spectrogram. */
import type { PreemphasisMode } from '../logmel.ts';

export interface SpectrumRefOptions {
  waveStride: number;
  frames: number;
  frame0: number;
  rows: number;
  hop: number;
  frameLength: number;
  fftLength: number;
  preemphasis: number;
  mode: PreemphasisMode;
  inputScale?: number;
}

/**
 * The pre-emphasised, windowed frame (frameLength values) starting at sample `base`, formed step by step
 * in f32 as the HF extractor forms it (its transform, mel projection and log are f64).
 */
export function frameRef(wave: ArrayLike<number>, base: number, frameLength: number, window: ArrayLike<number>, a: number, mode: PreemphasisMode, scale = 1): Float64Array {
  const f = Math.fround;
  const x = (i: number) => f(wave[base + i] * scale);
  const a32 = f(a);
  const y = new Float64Array(frameLength);
  for (let j = 0; j < frameLength; j++) {
    const v = mode === 'htk' ? (j === 0 ? f(x(0) * f(1 - a)) : f(x(j) - f(a32 * x(j - 1)))) : mode === 'plain' ? f(x(j + 1) - f(a32 * x(j))) : x(j);
    y[j] = f(v * window[j]);
  }
  return y;
}

/** |DFT| of a real sequence zero-padded to n, bins 0..n/2, by direct summation with exact angle reduction. */
export function rfftMagnitudeRef(y: Float64Array, n: number): Float64Array {
  const cos = new Float64Array(n);
  const sin = new Float64Array(n);
  for (let m = 0; m < n; m++) {
    cos[m] = Math.cos((2 * Math.PI * m) / n);
    sin[m] = Math.sin((2 * Math.PI * m) / n);
  }
  const out = new Float64Array(n / 2 + 1);
  for (let k = 0; k <= n / 2; k++) {
    let re = 0;
    let im = 0;
    for (let j = 0; j < y.length; j++) {
      const m = (k * j) % n;
      re += y[j] * cos[m];
      im -= y[j] * sin[m];
    }
    out[k] = Math.hypot(re, im);
  }
  return out;
}

/** Magnitude rows [rows, fftLength / 2 + 1] for rows frame0 .. frame0 + rows - 1 of all clips. */
export function spectrumRef(wave: ArrayLike<number>, window: ArrayLike<number>, o: SpectrumRefOptions): Float64Array {
  const bins = o.fftLength / 2 + 1;
  const out = new Float64Array(o.rows * bins);
  for (let r = 0; r < o.rows; r++) {
    const row = o.frame0 + r;
    const base = Math.floor(row / o.frames) * o.waveStride + (row % o.frames) * o.hop;
    const y = frameRef(wave, base, o.frameLength, window, o.preemphasis, o.mode, o.inputScale ?? 1);
    out.set(rfftMagnitudeRef(y, o.fftLength), r * bins);
  }
  return out;
}

/** mel[r, m] = sum_k mag[r, k] filters[k, m]. */
export function melRef(mag: Float64Array, rows: number, filters: Float64Array, nFreqs: number, nMels: number): Float64Array {
  const out = new Float64Array(rows * nMels);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < nFreqs; k++) {
      const v = mag[r * nFreqs + k];
      if (v === 0) continue;
      for (let m = 0; m < nMels; m++) out[r * nMels + m] += v * filters[k * nMels + m];
    }
  }
  return out;
}

/** (ln(max(x, floor)) - mean[j]) / stddev[j], j the column. */
export function logMelRef(x: ArrayLike<number>, featureSize: number, melFloor: number, mean?: readonly number[] | null, stddev?: readonly number[] | null): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const j = i % featureSize;
    let v = Math.log(Math.max(x[i], melFloor));
    if (mean) v -= mean[j];
    if (stddev) v /= stddev[j];
    out[i] = v;
  }
  return out;
}
