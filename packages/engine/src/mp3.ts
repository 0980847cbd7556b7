/**
 * MP3 in `input_audio` parts, decoded in the engine's thread by mpg123 compiled to WebAssembly
 * (the mpg123-decoder package). The decoder is imported on the first MP3 a request holds, so text,
 * WAV and PCM sessions never load it and the page bundle does not carry it.
 */
import { AudioDecodeError } from './errors.ts';

export interface DecodedAudio {
  /** Mono: the mean of the channels. */
  samples: Float32Array;
  sampleRate: number;
}

/** Mono samples of an MP3 (MPEG-1/2/2.5 layer III, also I and II); AudioDecodeError when no frame decodes. */
export async function decodeMp3(bytes: Uint8Array, field: string): Promise<DecodedAudio> {
  const { MPEGDecoder } = await import('mpg123-decoder');
  const decoder = new MPEGDecoder();
  try {
    await decoder.ready;
    const out = decoder.decode(bytes);
    const channels = out.channelData.filter((c) => c.length > 0);
    if (out.samplesDecoded === 0 || channels.length === 0 || !(out.sampleRate > 0)) {
      const why = out.errors.length ? out.errors[0].message : 'no MPEG audio frame was found';
      throw new AudioDecodeError(field, 'mp3', why);
    }
    return { samples: mono(channels, out.samplesDecoded), sampleRate: out.sampleRate };
  } finally {
    decoder.free();
  }
}

function mono(channels: Float32Array[], length: number): Float32Array {
  if (channels.length === 1) return channels[0].slice(0, length);
  const out = new Float32Array(length);
  for (const ch of channels) for (let i = 0; i < length; i++) out[i] += ch[i] / channels.length;
  return out;
}
