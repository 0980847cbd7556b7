/**
 * Gemma 3n takes at most 30 s of 16 kHz audio per clip (the HF extractor truncates there). Longer audio
 * is split here into consecutive clips of near-equal length, none over the limit, so nothing is dropped
 * and no clip is a sliver: each clip gets its own run of audio soft tokens in the prompt, and the
 * caller is told how the audio was cut.
 */
import { AudioError } from '../errors.ts';
import { AUDIO_SAMPLE_RATE } from './resample.ts';

/** 30 s at 16 kHz. */
export const MAX_CLIP_SAMPLES = 480_000;

export interface ClipSplit {
  /** Consecutive views of the input, each at most maxSamples long. */
  clips: Float32Array[];
  /** First sample of each clip in the input. */
  starts: number[];
  /** Samples in the input. */
  samples: number;
  /** True when the input was longer than one clip. */
  split: boolean;
  /** One line for the user, e.g. "75.0 s of audio split into 3 clips of 25.0 s (each at most 30.0 s)". */
  message: string;
}

/** Split 16 kHz samples into ceil(n / maxSamples) consecutive clips of near-equal length (views, not copies). */
export function splitClips(wave: Float32Array, maxSamples: number = MAX_CLIP_SAMPLES, sampleRate: number = AUDIO_SAMPLE_RATE): ClipSplit {
  if (!Number.isInteger(maxSamples) || maxSamples < 1) throw new AudioError('config', `maxSamples ${maxSamples} must be a positive integer`);
  const n = wave.length;
  if (n === 0) throw new AudioError('empty', 'the audio has no samples');
  const count = Math.ceil(n / maxSamples);
  const clips: Float32Array[] = [];
  const starts: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = Math.floor((i * n) / count);
    const end = Math.floor(((i + 1) * n) / count);
    starts.push(start);
    clips.push(wave.subarray(start, end));
  }
  const s = (k: number) => `${(k / sampleRate).toFixed(1)} s`;
  const message = count === 1
    ? `${s(n)} of audio in one clip`
    : `${s(n)} of audio split into ${count} clips of ${s(clips[0].length)} (each at most ${s(maxSamples)})`;
  return { clips, starts, samples: n, split: count > 1, message };
}
