/**
 * MP3 in input_audio parts: tones encoded here with LAME (lamejs) are decoded by mpg123 in the
 * engine's media step to 16 kHz mono clips of the tone's length and pitch; bytes that are no MP3
 * are an AudioDecodeError that keeps its class across the Worker boundary.
 */
import { describe, expect, it } from 'vitest';
import { AudioDecodeError, BadRequestError, deserializeError, serializeError } from '../src/errors.ts';
import { audioMedia } from '../src/media.ts';
import { mp3Tone as tone } from './mp3-tone.ts';

/** The pitch from rising zero crossings over the loud middle of the clip (the edges hold the codec's delay). */
function pitch(x: Float32Array, rate: number): number {
  const from = Math.floor(x.length * 0.25);
  const to = Math.floor(x.length * 0.75);
  let rises = 0;
  for (let i = from + 1; i < to; i++) if (x[i - 1] < 0 && x[i] >= 0) rises++;
  return (rises * rate) / (to - from);
}

function rms(x: Float32Array): number {
  let s = 0;
  for (const v of x) s += v * v;
  return Math.sqrt(s / x.length);
}

const part = (data: string, format: 'mp3' | 'wav' = 'mp3') => ({ type: 'input_audio', input_audio: { data, format } });

describe('input_audio MP3', () => {
  const cases = [
    { name: '16 kHz mono, 440 Hz, 1 s (MPEG-2)', hz: 440, seconds: 1, rate: 16000, channels: 1 as const, kbps: 32, frame: 576 },
    { name: '44.1 kHz stereo, 1000 Hz, 0.6 s (MPEG-1, resampled)', hz: 1000, seconds: 0.6, rate: 44100, channels: 2 as const, kbps: 128, frame: 1152 },
    { name: '22.05 kHz mono, 300 Hz, 1.3 s (MPEG-2, resampled)', hz: 300, seconds: 1.3, rate: 22050, channels: 1 as const, kbps: 48, frame: 576 },
  ];
  for (const c of cases) {
    it(`decodes ${c.name} to 16 kHz mono of its length and pitch`, async () => {
      const { clips, split } = await audioMedia(part(tone(c.hz, c.seconds, c.rate, c.channels, c.kbps)), 'messages[0].content[0]');
      expect(split).toBeNull();
      expect(clips).toHaveLength(1);
      const x = clips[0].samples;
      // the tone's length plus the codec's delay and the last frame's padding (at most three frames)
      const want = c.seconds * 16000;
      expect(x.length).toBeGreaterThanOrEqual(want);
      expect(x.length).toBeLessThanOrEqual(want + Math.ceil((3 * c.frame * 16000) / c.rate));
      expect(Math.abs(pitch(x, 16000) - c.hz)).toBeLessThan(c.hz * 0.02);
      // stereo is the mean of the channels: (12000 + 6000) / 2 of full scale, as RMS of a sine
      const amplitude = c.channels === 2 ? 9000 / 32768 : 12000 / 32768;
      expect(rms(x.subarray(x.length >> 2, (3 * x.length) >> 2))).toBeCloseTo(amplitude / Math.SQRT2, 1);
    });
  }

  it('the same MP3 gets the same content key; another tone another', async () => {
    const a = await audioMedia(part(tone(440, 0.5, 16000, 1, 32)), 'f');
    const b = await audioMedia(part(tone(440, 0.5, 16000, 1, 32)), 'f');
    const c = await audioMedia(part(tone(660, 0.5, 16000, 1, 32)), 'f');
    expect(a.clips[0].key).toBe(b.clips[0].key);
    expect(c.clips[0].key).not.toBe(a.clips[0].key);
  });

  it('bytes that are no MP3 are an AudioDecodeError naming the field, also after crossing a Worker', async () => {
    const noise = Buffer.from(Uint8Array.from({ length: 3000 }, (_, i) => (i * 7919) & 0x7f)).toString('base64');
    for (const data of [noise, Buffer.from('not an mp3').toString('base64')]) {
      const e = await audioMedia(part(data), 'messages[1].content[0]').then(() => null, (err: unknown) => err);
      expect(e).toBeInstanceOf(AudioDecodeError);
      expect(e).toMatchObject({ code: 'BAD_INPUT', details: { field: 'messages[1].content[0].input_audio.data', format: 'mp3' } });
      expect((e as Error).message).toContain('could not be decoded as MP3');
      expect(deserializeError(serializeError(e as AudioDecodeError))).toBeInstanceOf(AudioDecodeError);
    }
  });

  it('an unknown format or bad base64 is a BadRequestError', async () => {
    const ogg = { type: 'input_audio', input_audio: { data: 'AAAA', format: 'ogg' } };
    await expect(audioMedia(ogg, 'f')).rejects.toBeInstanceOf(BadRequestError);
    await expect(audioMedia(ogg, 'f')).rejects.toThrow("'ogg' is not supported here: send 'wav' or 'mp3'");
    await expect(audioMedia(part('%%%'), 'f')).rejects.toThrow('is not valid base64');
  });
});
