/**
 * Images and audio in chat requests: each part is decoded here, in the engine's thread (the Worker in
 * a page), into what the towers take (an image source for preprocessImage; 16 kHz mono clips of at
 * most 30 s for the log-mel extractor), and gets a content key so that a conversation's later turns
 * recognise an image or clip whose soft tokens the KV cache already holds.
 */
import { G3nError } from '@g3n/gpu';
import { AUDIO_SAMPLE_RATE, MAX_CLIP_SAMPLES, parseWav, resample, splitClips, type ImageSource } from '@g3n/preprocess';
import { BadRequestError } from './errors.ts';
import { decodeMp3 } from './mp3.ts';

export interface ImageMedia {
  kind: 'image';
  source: ImageSource;
  /** Same pixels, same key (a hash of the encoded bytes or pixels; unique for frames it cannot read). */
  key: string;
}

export interface AudioMedia {
  kind: 'audio';
  /** 16 kHz mono, at most 30 s. */
  samples: Float32Array;
  key: string;
}

export type Media = ImageMedia | AudioMedia;

let unique = 0;

async function digest(bytes: ArrayBufferView | ArrayBuffer): Promise<string> {
  const view = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', view as Uint8Array<ArrayBuffer>));
  return Array.from(hash.subarray(0, 16), (b) => b.toString(16).padStart(2, '0')).join('');
}

function decodeBase64(data: string, field: string): Uint8Array {
  let binary: string;
  try {
    binary = atob(data.replace(/\s+/g, ''));
  } catch {
    throw new BadRequestError(field, 'is not valid base64');
  }
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** Bytes of an image_url: a data: URL, or a blob:/http(s): URL fetched from this context. */
async function fetchImageUrl(url: string, field: string): Promise<Blob> {
  if (typeof url !== 'string' || url.length === 0) throw new BadRequestError(field, 'must be a non-empty URL string');
  const data = /^data:([^;,]*)(;base64)?,/.exec(url);
  if (data) {
    const body = url.slice(data[0].length);
    const bytes = data[2] ? decodeBase64(body, field) : new TextEncoder().encode(decodeURIComponent(body));
    return new Blob([bytes as Uint8Array<ArrayBuffer>], { type: data[1] || 'application/octet-stream' });
  }
  if (!/^(blob:|https?:)/.test(url)) throw new BadRequestError(field, `must be a data:, blob: or http(s): URL, got '${url.slice(0, 40)}'`);
  let response: Response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new G3nError('NETWORK', `${field}: the image could not be fetched (${(e as Error).message}); a server must allow this origin (CORS)`, { url });
  }
  if (!response.ok) throw new G3nError('NETWORK', `${field}: the image request answered HTTP ${response.status}`, { url, status: response.status });
  return response.blob();
}

function isBlob(x: unknown): x is Blob {
  return typeof Blob !== 'undefined' && x instanceof Blob;
}

function isImageData(x: unknown): x is ImageData {
  return typeof x === 'object' && x !== null && 'data' in x && (x as ImageData).data instanceof Uint8ClampedArray && 'width' in x && 'height' in x;
}

/** An image part as a preprocessable source with its key. */
export async function imageMedia(part: Record<string, unknown>, field: string): Promise<ImageMedia> {
  if (part.type === 'image_url') {
    const url = (part.image_url as { url?: unknown } | undefined)?.url;
    const blob = await fetchImageUrl(url as string, `${field}.image_url.url`);
    return { kind: 'image', source: blob, key: `img:${await digest(await blob.arrayBuffer())}` };
  }
  const image = part.image;
  if (isBlob(image)) return { kind: 'image', source: image, key: `img:${await digest(await image.arrayBuffer())}` };
  if (isImageData(image)) {
    const source = { data: image.data, width: image.width, height: image.height };
    return { kind: 'image', source, key: `img:${image.width}x${image.height}:${await digest(image.data)}` };
  }
  if (typeof image === 'object' && image !== null && ('close' in image || 'getContext' in image)) {
    // ImageBitmap, VideoFrame, canvas: read on the GPU, never copied here, so every frame is new.
    return { kind: 'image', source: image as ImageSource, key: `frame:${++unique}` };
  }
  throw new BadRequestError(`${field}.image`, 'must be an ImageBitmap, ImageData, VideoFrame, canvas or Blob');
}

/** 16 kHz mono samples of an audio part (base64 WAV or MP3, or PCM at its rate). */
async function audioSamples(part: Record<string, unknown>, field: string): Promise<Float32Array> {
  if (part.type === 'input_audio') {
    const input = part.input_audio as { data?: unknown; format?: unknown } | undefined;
    if (typeof input?.data !== 'string') throw new BadRequestError(`${field}.input_audio.data`, 'must be a base64 string');
    if (input.format !== 'wav' && input.format !== 'mp3') {
      throw new BadRequestError(`${field}.input_audio.format`, `'${String(input.format)}' is not supported here: send 'wav' or 'mp3', or decode the audio and send { type: 'audio', audio: Float32Array, sampleRate }`);
    }
    const bytes = decodeBase64(input.data, `${field}.input_audio.data`);
    const decoded = input.format === 'wav' ? parseWav(bytes) : await decodeMp3(bytes, `${field}.input_audio.data`);
    return decoded.sampleRate === AUDIO_SAMPLE_RATE ? decoded.samples : resample(decoded.samples, decoded.sampleRate, AUDIO_SAMPLE_RATE);
  }
  const audio = part.audio;
  if (!(audio instanceof Float32Array)) throw new BadRequestError(`${field}.audio`, 'must be a Float32Array of mono samples');
  const rate = part.sampleRate ?? AUDIO_SAMPLE_RATE;
  if (typeof rate !== 'number' || !Number.isInteger(rate) || rate < 1000 || rate > 384_000) throw new BadRequestError(`${field}.sampleRate`, `must be an integer rate in Hz, got ${JSON.stringify(rate)}`);
  return rate === AUDIO_SAMPLE_RATE ? audio : resample(audio, rate, AUDIO_SAMPLE_RATE);
}

/**
 * An audio part as clips of at most `maxSamples` (30 s, or less where the model's soft-token count per
 * clip covers less); longer audio is split into consecutive clips, each with its own placeholder run,
 * and `split` says so.
 */
export async function audioMedia(part: Record<string, unknown>, field: string, maxSamples: number = MAX_CLIP_SAMPLES): Promise<{ clips: AudioMedia[]; split: string | null }> {
  const samples = await audioSamples(part, field);
  if (samples.length === 0) throw new BadRequestError(field, 'the audio has no samples');
  const split = splitClips(samples, maxSamples);
  const clips: AudioMedia[] = [];
  for (const clip of split.clips) clips.push({ kind: 'audio', samples: clip, key: `aud:${clip.length}:${await digest(clip)}` });
  return { clips, split: split.split ? split.message : null };
}
