/**
 * Audio front-end benchmark: Gemma 3n log-mel features of one clip (30 s = 480,000 samples at 16 kHz,
 * 2,997 frames) on the GPU (audioFeatures: upload, |FFT| kernel, mel GEMM, log, all awaited), and the
 * CPU polyphase resampling of the same 30 s from 48 kHz and from 44.1 kHz. Pipelines are compiled by a
 * first, untimed run.
 */
import type { Gpu } from '@g3n/gpu';
import { audioFeatures, resample } from '@g3n/preprocess';

export interface AudioFeaturesBenchResult {
  name: 'audio_features';
  seconds: number;
  frames: number;
  /** Wall time of audioFeatures on the clip (features left on the GPU). */
  ms: number;
  /** CPU resampling of the same duration to 16 kHz. */
  resample_48k_ms: number;
  resample_44k1_ms: number;
}

/** A speech-like test signal: a few harmonics with a slow envelope over faint noise. */
function signal(rate: number, seconds: number): Float32Array {
  let s = 12345;
  const noise = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296 - 0.5) * 1e-3;
  return Float32Array.from({ length: Math.round(rate * seconds) }, (_, i) => {
    const t = i / rate;
    const env = 0.5 + 0.5 * Math.sin(2 * Math.PI * 3 * t);
    return env * (0.3 * Math.sin(2 * Math.PI * 220 * t) + 0.1 * Math.sin(2 * Math.PI * 660 * t) + 0.03 * Math.sin(2 * Math.PI * 2900 * t)) + noise();
  });
}

function time(f: () => void): number {
  const t0 = performance.now();
  f();
  return performance.now() - t0;
}

export async function runAudioFeaturesBench(gpu: Gpu, options: { seconds: number }): Promise<AudioFeaturesBenchResult> {
  const wave = signal(16000, options.seconds);
  (await audioFeatures(gpu, [wave])).features.buffer.destroy();
  const t0 = performance.now();
  const f = await audioFeatures(gpu, [wave]);
  const ms = performance.now() - t0;
  f.features.buffer.destroy();
  const at48 = signal(48000, options.seconds);
  const at44 = signal(44100, options.seconds);
  return {
    name: 'audio_features',
    seconds: options.seconds,
    frames: f.T,
    ms,
    resample_48k_ms: time(() => resample(at48, 48000)),
    resample_44k1_ms: time(() => resample(at44, 44100)),
  };
}
