import { describe, expect, it } from 'vitest';
import { AudioError, encodeWav, parseWav, type WavEncoding } from '../src/index.ts';

const LEFT = new Float32Array([0, 0.5, -0.5, 0.25, -1, 0.999, 1e-3, -0.125, 0.75]);
const RIGHT = LEFT.map((v) => -v / 2);
const STEP: Record<WavEncoding, number> = { pcm8: 1 / 128, pcm16: 1 / 32768, pcm24: 1 / 8388608, pcm32: 1 / 2147483648, float32: 0, float64: 0 };

function reason(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(AudioError);
    return `${(e as AudioError).code}:${(e as AudioError).details.reason}`;
  }
  return 'no error';
}

describe('WAV', () => {
  for (const enc of Object.keys(STEP) as WavEncoding[]) {
    it(`${enc}: mono round trip within one quantisation step; stereo mixed down`, () => {
      const mono = parseWav(encodeWav([LEFT], 44100, enc));
      expect(mono).toMatchObject({ sampleRate: 44100, channels: 1, encoding: enc });
      expect(mono.samples).toHaveLength(LEFT.length);
      // Integer PCM clips at full scale minus one step (0.999 in 8-bit reads back as 127/128).
      const clip = (x: number) => (STEP[enc] ? Math.min(x, 1 - STEP[enc]) : x);
      mono.samples.forEach((v, i) => expect(Math.abs(v - clip(LEFT[i])), `sample ${i}`).toBeLessThanOrEqual(STEP[enc] / 2 + 1e-7));
      const stereo = parseWav(encodeWav([LEFT, RIGHT], 48000, enc));
      expect(stereo.channels).toBe(2);
      stereo.samples.forEach((v, i) => expect(Math.abs(v - (LEFT[i] + RIGHT[i]) / 2)).toBeLessThanOrEqual(STEP[enc] + 1e-7));
    });
  }

  it('reads float32 exactly and skips unknown chunks (LIST before data)', () => {
    const plain = encodeWav([LEFT], 16000, 'float32');
    const list = new Uint8Array([...'LIST'].map((c) => c.charCodeAt(0)).concat([3, 0, 0, 0, 1, 2, 3, 0]));
    const withList = new Uint8Array(plain.length + list.length);
    withList.set(plain.subarray(0, 36));
    withList.set(list, 36);
    withList.set(plain.subarray(36), 36 + list.length);
    expect(Array.from(parseWav(withList).samples)).toEqual(Array.from(LEFT));
  });

  it('reads WAVE_FORMAT_EXTENSIBLE PCM', () => {
    const plain = encodeWav([LEFT], 16000, 'pcm16');
    const out = new Uint8Array(plain.length + 24);
    const v = new DataView(out.buffer);
    out.set(plain.subarray(0, 20));
    v.setUint32(16, 40, true);
    v.setUint16(20, 0xfffe, true);
    out.set(plain.subarray(22, 36), 22);
    v.setUint16(36, 22, true); // cbSize
    v.setUint16(38, 16, true); // valid bits
    v.setUint32(40, 4, true); // channel mask
    v.setUint16(44, 1, true); // sub-format GUID starts with 1 (PCM)
    out.set(plain.subarray(36), 60);
    v.setUint32(4, out.length - 8, true);
    expect(parseWav(out).samples).toEqual(parseWav(plain).samples);
  });

  it('refuses what is not PCM or float WAV with typed errors', () => {
    const ok = encodeWav([LEFT], 16000, 'pcm16');
    expect(reason(() => parseWav(new TextEncoder().encode('not a wav file at all')))).toBe('BAD_INPUT:not-wav');
    const adpcm = ok.slice();
    new DataView(adpcm.buffer).setUint16(20, 2, true); // MS ADPCM
    expect(reason(() => parseWav(adpcm))).toBe('BAD_INPUT:wav-format');
    const bits12 = ok.slice();
    new DataView(bits12.buffer).setUint16(34, 12, true);
    expect(reason(() => parseWav(bits12))).toBe('BAD_INPUT:wav-format');
    expect(reason(() => parseWav(ok.subarray(0, ok.length - 4)))).toBe('BAD_INPUT:truncated');
    expect(reason(() => parseWav(ok.subarray(0, 36)))).toBe('BAD_INPUT:truncated');
  });
});
