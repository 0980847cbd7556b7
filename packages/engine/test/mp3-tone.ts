/** MP3 test inputs: sine tones (or given samples) encoded with LAME (lamejs), as base64 for input_audio parts. */
import { Mp3Encoder } from '@breezystack/lamejs';

/** Base64 MP3 of 16-bit samples (one or two channels) at `rate`. */
export function mp3Base64(channels: Int16Array[], rate: number, kbps: number): string {
  const encoder = new Mp3Encoder(channels.length, rate, kbps);
  const frames = [channels.length === 2 ? encoder.encodeBuffer(channels[0], channels[1]) : encoder.encodeBuffer(channels[0]), encoder.flush()];
  return Buffer.concat(frames.map((f) => Buffer.from(f.buffer, f.byteOffset, f.byteLength))).toString('base64');
}

/** A sine tone of `hz` for `seconds`: amplitude 12000 of 32768 on the first channel, 6000 on the second. */
export function mp3Tone(hz: number, seconds: number, rate: number, channels: 1 | 2, kbps: number): string {
  const n = Math.round(seconds * rate);
  const out = [12000, 6000].slice(0, channels).map((a) => Int16Array.from({ length: n }, (_, i) => Math.round(a * Math.sin((2 * Math.PI * hz * i) / rate))));
  return mp3Base64(out, rate, kbps);
}

/** Float samples in [-1, 1] as 16-bit. */
export function toInt16(x: Float32Array): Int16Array {
  return Int16Array.from(x, (v) => Math.max(-32768, Math.min(32767, Math.round(v * 32767))));
}
