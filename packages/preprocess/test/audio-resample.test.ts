import { describe, expect, it } from 'vitest';
import { AudioError, MAX_CLIP_SAMPLES, mixToMono, polyphaseFilter, resample, resampledLength, splitClips } from '../src/index.ts';

function tone(rate: number, hz: number, seconds: number, amp = 0.5): Float32Array {
  return Float32Array.from({ length: Math.round(rate * seconds) }, (_, i) => amp * Math.sin((2 * Math.PI * hz * i) / rate + 0.3));
}

/** Amplitude of the `hz` component of x (rate `rate`) over its middle half, by projection on sin and cos. */
function amplitude(x: Float32Array, rate: number, hz: number): number {
  const a = Math.floor(x.length / 4);
  const b = Math.floor((3 * x.length) / 4);
  let s = 0;
  let c = 0;
  for (let i = a; i < b; i++) {
    s += x[i] * Math.sin((2 * Math.PI * hz * i) / rate);
    c += x[i] * Math.cos((2 * Math.PI * hz * i) / rate);
  }
  return (2 * Math.hypot(s, c)) / (b - a);
}

function rms(x: Float32Array): number {
  const a = Math.floor(x.length / 4);
  const b = Math.floor((3 * x.length) / 4);
  let s = 0;
  for (let i = a; i < b; i++) s += x[i] * x[i];
  return Math.sqrt(s / (b - a));
}

describe('resample', () => {
  it('gives ceil(n * to / from) samples', () => {
    for (const [from, n, expected] of [[48000, 48000, 16000], [44100, 44100, 16000], [48000, 7, 3], [48000, 3, 1], [44100, 44101, 16001], [8000, 8000, 16000], [22050, 1, 1], [16000, 12345, 12345]] as const) {
      expect(resampledLength(n, from, 16000)).toBe(expected);
      expect(resample(new Float32Array(n), from).length).toBe(expected);
    }
    expect(polyphaseFilter(48000, 16000)).toMatchObject({ up: 1, down: 3 });
    expect(polyphaseFilter(44100, 16000)).toMatchObject({ up: 160, down: 441 });
  });

  for (const from of [48000, 44100]) {
    it(`${from} Hz -> 16 kHz: tones below 7.2 kHz pass at unit gain, tones above 8 kHz are removed (>= 80 dB)`, () => {
      for (const hz of [100, 1000, 3000, 6000, 7000]) {
        const y = resample(tone(from, hz, 0.5), from);
        expect(Math.abs(amplitude(y, 16000, hz) - 0.5), `${hz} Hz`).toBeLessThan(5e-4);
      }
      for (const hz of [8200, 9000, 12000, 15000, 20000]) {
        const y = resample(tone(from, hz, 0.5), from);
        expect(rms(y) / (0.5 / Math.SQRT2), `${hz} Hz leaks`).toBeLessThan(1e-4);
      }
    });
  }

  it('keeps a 48 kHz tone in phase with the same tone sampled at 16 kHz (no delay)', () => {
    const y = resample(tone(48000, 440, 0.25), 48000);
    const direct = tone(16000, 440, 0.25);
    let worst = 0;
    for (let i = 500; i < y.length - 500; i++) worst = Math.max(worst, Math.abs(y[i] - direct[i]));
    expect(worst).toBeLessThan(1e-4);
  });

  it('8 kHz -> 16 kHz interpolates a tone; equal rates copy; bad rates are AudioErrors', () => {
    const y = resample(tone(8000, 1000, 0.5), 8000);
    expect(Math.abs(amplitude(y, 16000, 1000) - 0.5)).toBeLessThan(5e-4);
    const x = tone(16000, 440, 0.01);
    const same = resample(x, 16000);
    expect(same).toEqual(x);
    expect(same).not.toBe(x);
    expect(() => resample(x, 0)).toThrow(AudioError);
    expect(() => resample(x, 44100.5)).toThrow(/sample rate/);
  });

  it('mixes channels to mono', () => {
    expect(Array.from(mixToMono([new Float32Array([1, 0.5]), new Float32Array([0, -0.5])]))).toEqual([0.5, 0]);
    expect(() => mixToMono([new Float32Array(2), new Float32Array(3)])).toThrow(AudioError);
  });
});

describe('splitClips', () => {
  it('keeps audio up to 30 s in one clip and splits longer audio into consecutive near-equal clips, none dropped', () => {
    const one = splitClips(new Float32Array(MAX_CLIP_SAMPLES));
    expect(one.clips).toHaveLength(1);
    expect(one.split).toBe(false);
    const n = 2 * MAX_CLIP_SAMPLES + 1; // 60 s and one sample: three clips of 20 s
    const wave = Float32Array.from({ length: n }, (_, i) => i);
    const s = splitClips(wave);
    expect(s.split).toBe(true);
    expect(s.clips.map((c) => c.length)).toEqual([320000, 320000, 320001]);
    expect(s.starts).toEqual([0, 320000, 640000]);
    expect(s.clips.every((c) => c.length <= MAX_CLIP_SAMPLES)).toBe(true);
    expect(s.clips.reduce((a, c) => a + c.length, 0)).toBe(n);
    expect(s.clips[1][0]).toBe(320000);
    expect(s.clips[2][320000]).toBe(n - 1);
    expect(s.message).toBe('60.0 s of audio split into 3 clips of 20.0 s (each at most 30.0 s)');
    expect(() => splitClips(new Float32Array(0))).toThrow(AudioError);
  });
});
