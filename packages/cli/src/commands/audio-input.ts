/**
 * Audio input of the CLI: `<file>:<tensor>` feature matrices read from safetensors files, and the
 * audio tower of the --model folder encoding them into soft tokens for the prompt.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Gpu } from '@g3n/gpu';
import { audioFeatureConfig, audioFeatures, parseWav, resample, splitClips, type AudioFeatureConfig } from '@g3n/preprocess';
import { AudioInputError, AudioTowerMissingError, audioWeightTable, loadAudioTower, parseAudioConfig, type AudioConfig, type AudioTower, type ModelConfig } from '@g3n/gemma3n';
import { parseSafetensorsHeader, readHeaderLength, type ModelWeights } from '@g3n/weights';

export interface TensorFromFile {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** Read `<file>:<tensor>` (F32, F64, I64 or I32 values, returned as f32) from a safetensors file. */
export function readTensorSpec(spec: string, option: string): TensorFromFile {
  const at = spec.lastIndexOf(':');
  if (at <= 0 || at === spec.length - 1) throw new Error(`--${option} must be <file.safetensors>:<tensor name>, got '${spec}'`);
  const path = spec.slice(0, at);
  const name = spec.slice(at + 1);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new Error(`--${option}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const headerLength = readHeaderLength(bytes.subarray(0, 8), bytes.length, path);
  const header = parseSafetensorsHeader(bytes.subarray(0, 8 + headerLength), bytes.length, path);
  const e = header.tensors.get(name);
  if (!e) throw new Error(`--${option}: ${path} has no tensor '${name}' (it has ${[...header.tensors.keys()].slice(0, 8).join(', ')}${header.tensors.size > 8 ? ', ..' : ''})`);
  const raw = bytes.slice(e.start, e.end);
  let data: Float32Array;
  switch (e.dtype) {
    case 'F32':
      data = new Float32Array(raw.buffer);
      break;
    case 'F64':
      data = Float32Array.from(new Float64Array(raw.buffer));
      break;
    case 'I64':
      data = Float32Array.from(new BigInt64Array(raw.buffer), (v) => Number(v));
      break;
    case 'I32':
      data = Float32Array.from(new Int32Array(raw.buffer));
      break;
    default:
      throw new Error(`--${option}: tensor '${name}' is ${e.dtype}; give F32, F64, I64 or I32 values`);
  }
  return { name, shape: e.shape, data };
}

/**
 * Before any GPU work: the checkpoint's audio configuration (AudioTowerMissingError when config.json or
 * the weights lack the tower) and every clip's feature shape ([frames, F] or [clips, frames, F]).
 */
export function checkAudioInput(cfg: ModelConfig, weights: Pick<ModelWeights, 'tensors'>, clips: readonly TensorFromFile[]): AudioConfig {
  const c = parseAudioConfig(cfg);
  const missing = audioWeightTable(c).filter((w) => !weights.tensors.has(w.name));
  if (missing.length > 0) throw new AudioTowerMissingError(`${missing.length} of its tensors are absent, e.g. ${missing[0].name}`);
  for (const clip of clips) {
    const s = clip.shape;
    if ((s.length !== 2 && s.length !== 3) || s[s.length - 1] !== c.inputFeatSize || s.some((d) => d < 1)) {
      throw new AudioInputError('feature-shape', `audio features must be [clips, frames, ${c.inputFeatSize}] (or [frames, ${c.inputFeatSize}]); '${clip.name}' is [${s.join(', ')}]`, { shape: s });
    }
  }
  return c;
}

/** The audio tower of an opened checkpoint (AudioTowerMissingError when it has none). */
export function openAudioTower(gpu: Parameters<typeof loadAudioTower>[0], cfg: ModelConfig, weights: ModelWeights): Promise<AudioTower> {
  return loadAudioTower(gpu, cfg, (n) => weights.readTensorData(n), (n) => weights.tensors.has(n), (n) => weights.tensors.get(n)?.shape);
}

/** Throw AudioInputError unless `ids` holds exactly `clips` x soft-token-count audio placeholders. */
export function checkAudioPlaceholders(ids: readonly number[], tower: AudioTower, clips: number): void {
  const { audioTokenId, softTokens } = tower.config;
  const have = ids.filter((id) => id === audioTokenId).length;
  if (have !== clips * softTokens) {
    throw new AudioInputError('placeholder-count', `the prompt holds ${have} audio placeholders (id ${audioTokenId}) but ${clips} clip${clips === 1 ? '' : 's'} need ${clips * softTokens} (${softTokens} each)`, { placeholders: have, clips });
  }
}

/** One audio input of `g3n run`, in command-line order. */
export type AudioArg = { kind: 'audio-features' | 'wave' | 'audio'; value: string };

/** Take every `--audio-features`, `--wave` and `--audio` out of argv, in order (they repeat; parseArgs takes each flag once). */
export function takeAudioArgs(argv: string[]): { rest: string[]; inputs: AudioArg[] } {
  const rest: string[] = [];
  const inputs: AudioArg[] = [];
  for (let i = 0; i < argv.length; i++) {
    const kind = argv[i].slice(2);
    if ((kind === 'audio-features' || kind === 'wave' || kind === 'audio') && argv[i + 1] !== undefined && !argv[i + 1].startsWith('--')) {
      inputs.push({ kind, value: argv[++i] });
    } else rest.push(argv[i]);
  }
  return { rest, inputs };
}

/** A clip as log-mel features read from a file, or as 16 kHz samples for the feature extractor. */
export type AudioClip = { features: TensorFromFile } | { wave: Float32Array; name: string };

/** The clips of the audio inputs, on the CPU: --audio WAV files are mixed to mono, resampled to 16 kHz and split into clips of at most 30 s. */
export function readAudioClips(inputs: readonly AudioArg[], fe: AudioFeatureConfig, log: (line: string) => void): AudioClip[] {
  const clips: AudioClip[] = [];
  for (const input of inputs) {
    if (input.kind === 'audio-features') {
      clips.push({ features: readTensorSpec(input.value, 'audio-features') });
    } else if (input.kind === 'wave') {
      const t = readTensorSpec(input.value, 'wave');
      if (t.shape.filter((d) => d !== 1).length > 1) throw new AudioInputError('feature-shape', `--wave: '${t.name}' is [${t.shape.join(', ')}]; give one clip of 16 kHz samples (1-D)`);
      clips.push({ wave: t.data, name: t.name });
    } else {
      let bytes: Uint8Array;
      try {
        bytes = new Uint8Array(readFileSync(input.value));
      } catch (e) {
        throw new Error(`--audio: cannot read ${input.value}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      const wav = parseWav(bytes);
      const split = splitClips(resample(wav.samples, wav.sampleRate, fe.samplingRate), fe.maxLength, fe.samplingRate);
      log(`${input.value}: ${split.message}`);
      split.clips.forEach((wave, i) => clips.push({ wave, name: `${input.value}#${i}` }));
    }
  }
  return clips;
}

/** The feature extractor settings of a model folder (its preprocessor_config.json, else Gemma 3n's defaults). */
export function featureConfigOf(dir: string): AudioFeatureConfig {
  let text: string;
  try {
    text = readFileSync(join(dir, 'preprocessor_config.json'), 'utf8');
  } catch {
    return audioFeatureConfig();
  }
  return audioFeatureConfig(JSON.parse(text) as Record<string, unknown>);
}

/** Encode one clip into its soft tokens [audio_soft_tokens_per_image, text hidden] (the caller destroys the result). */
export async function encodeClip(gpu: Gpu, tower: AudioTower, clip: AudioClip, fe: AudioFeatureConfig) {
  if ('features' in clip) return tower.encode(clip.features.data, clip.features.shape);
  const f = await audioFeatures(gpu, [clip.wave], fe);
  try {
    return await tower.encode(f.features, [f.T, f.featureSize], f.mask);
  } finally {
    f.features.buffer.destroy();
  }
}
