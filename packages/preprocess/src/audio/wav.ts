/**
 * RIFF/WAVE reading and writing, plain TypeScript (runs in a Worker). Reads integer PCM (8-bit unsigned,
 * 16/24/32-bit signed) and IEEE float (32/64-bit), plain or WAVE_FORMAT_EXTENSIBLE, any rate and channel
 * count; channels are averaged to mono. Anything else is refused with an AudioError.
 */
import { AudioError } from '../errors.ts';
import { mixToMono } from './resample.ts';

export type WavEncoding = 'pcm8' | 'pcm16' | 'pcm24' | 'pcm32' | 'float32' | 'float64';

export interface Wav {
  sampleRate: number;
  channels: number;
  encoding: WavEncoding;
  /** Mono samples in [-1, 1) for integer PCM (channels averaged). */
  samples: Float32Array;
}

const FORMAT_PCM = 1;
const FORMAT_FLOAT = 3;
const FORMAT_EXTENSIBLE = 0xfffe;

function tag(v: DataView, at: number): string {
  return String.fromCharCode(v.getUint8(at), v.getUint8(at + 1), v.getUint8(at + 2), v.getUint8(at + 3));
}

function encodingOf(format: number, bits: number): WavEncoding | null {
  if (format === FORMAT_PCM && [8, 16, 24, 32].includes(bits)) return `pcm${bits}` as WavEncoding;
  if (format === FORMAT_FLOAT && (bits === 32 || bits === 64)) return `float${bits}` as WavEncoding;
  return null;
}

function sampleReader(v: DataView, enc: WavEncoding): (at: number) => number {
  switch (enc) {
    case 'pcm8': return (at) => (v.getUint8(at) - 128) / 128;
    case 'pcm16': return (at) => v.getInt16(at, true) / 32768;
    case 'pcm24': return (at) => ((v.getUint8(at) | (v.getUint8(at + 1) << 8) | (v.getInt8(at + 2) << 16))) / 8388608;
    case 'pcm32': return (at) => v.getInt32(at, true) / 2147483648;
    case 'float32': return (at) => v.getFloat32(at, true);
    case 'float64': return (at) => v.getFloat64(at, true);
  }
}

/** Parse a WAV file's bytes. */
export function parseWav(bytes: Uint8Array): Wav {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 12 || tag(v, 0) !== 'RIFF' || tag(v, 8) !== 'WAVE') {
    throw new AudioError('not-wav', 'not a WAV file (no RIFF/WAVE header); give 16/24/32-bit PCM or 32-bit float WAV');
  }
  let fmt: { format: number; channels: number; sampleRate: number; blockAlign: number; bits: number } | null = null;
  let data: { start: number; size: number } | null = null;
  for (let at = 12; at + 8 <= bytes.length; ) {
    const id = tag(v, at);
    const size = v.getUint32(at + 4, true);
    const body = at + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + size > bytes.length) throw new AudioError('truncated', 'the WAV fmt chunk is truncated');
      let format = v.getUint16(body, true);
      if (format === FORMAT_EXTENSIBLE) {
        if (size < 40) throw new AudioError('wav-format', 'WAVE_FORMAT_EXTENSIBLE fmt chunk is too short');
        format = v.getUint16(body + 24, true); // first two bytes of the sub-format GUID
      }
      fmt = { format, channels: v.getUint16(body + 2, true), sampleRate: v.getUint32(body + 4, true), blockAlign: v.getUint16(body + 12, true), bits: v.getUint16(body + 14, true) };
    } else if (id === 'data') {
      if (body + size > bytes.length) throw new AudioError('truncated', `the WAV data chunk declares ${size} bytes, ${bytes.length - body} are present`, { declared: size, present: bytes.length - body });
      data = { start: body, size };
      break;
    }
    at = body + size + (size & 1);
  }
  if (!fmt) throw new AudioError('not-wav', 'the WAV file has no fmt chunk');
  if (!data) throw new AudioError('truncated', 'the WAV file has no data chunk');
  const encoding = encodingOf(fmt.format, fmt.bits);
  if (!encoding) {
    throw new AudioError('wav-format', `WAV format ${fmt.format} with ${fmt.bits}-bit samples is not supported; give 16/24/32-bit integer PCM or 32-bit float`, { format: fmt.format, bits: fmt.bits });
  }
  const { channels, sampleRate } = fmt;
  const bytesPer = fmt.bits / 8;
  if (channels < 1 || sampleRate < 1 || fmt.blockAlign !== channels * bytesPer) {
    throw new AudioError('wav-format', `inconsistent WAV fmt: ${channels} channel(s), ${sampleRate} Hz, block ${fmt.blockAlign} bytes of ${fmt.bits}-bit samples`);
  }
  const frames = Math.floor(data.size / fmt.blockAlign);
  const read = sampleReader(v, encoding);
  const planes = Array.from({ length: channels }, () => new Float32Array(frames));
  for (let i = 0; i < frames; i++) {
    const at = data.start + i * fmt.blockAlign;
    for (let c = 0; c < channels; c++) planes[c][i] = read(at + c * bytesPer);
  }
  return { sampleRate, channels, encoding, samples: mixToMono(planes) };
}

/** Write channels (one array per channel, equal lengths) as a WAV file (integer PCM is clipped to range). */
export function encodeWav(channels: readonly Float32Array[], sampleRate: number, encoding: WavEncoding): Uint8Array {
  const bits = Number(encoding.replace(/\D/g, ''));
  const bytesPer = bits / 8;
  const float = encoding.startsWith('float');
  const frames = channels[0]?.length ?? 0;
  const blockAlign = channels.length * bytesPer;
  const dataBytes = frames * blockAlign;
  const out = new Uint8Array(44 + dataBytes + (dataBytes & 1));
  const v = new DataView(out.buffer);
  const put = (at: number, s: string) => { for (let i = 0; i < 4; i++) v.setUint8(at + i, s.charCodeAt(i)); };
  put(0, 'RIFF');
  v.setUint32(4, out.length - 8, true);
  put(8, 'WAVE');
  put(12, 'fmt ');
  v.setUint32(16, 16, true);
  v.setUint16(20, float ? FORMAT_FLOAT : FORMAT_PCM, true);
  v.setUint16(22, channels.length, true);
  v.setUint32(24, sampleRate, true);
  v.setUint32(28, sampleRate * blockAlign, true);
  v.setUint16(32, blockAlign, true);
  v.setUint16(34, bits, true);
  put(36, 'data');
  v.setUint32(40, dataBytes, true);
  const full = 2 ** (bits - 1);
  const q = (x: number) => Math.max(-full, Math.min(full - 1, Math.round(x * full)));
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < channels.length; c++) {
      const at = 44 + i * blockAlign + c * bytesPer;
      const x = channels[c][i];
      switch (encoding) {
        case 'pcm8': v.setUint8(at, q(x) + 128); break;
        case 'pcm16': v.setInt16(at, q(x), true); break;
        case 'pcm24': { const s = q(x); v.setUint8(at, s & 0xff); v.setUint8(at + 1, (s >> 8) & 0xff); v.setInt8(at + 2, s >> 16); break; }
        case 'pcm32': v.setInt32(at, q(x), true); break;
        case 'float32': v.setFloat32(at, x, true); break;
        case 'float64': v.setFloat64(at, x, true); break;
      }
    }
  }
  return out;
}
