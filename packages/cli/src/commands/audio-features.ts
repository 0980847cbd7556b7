/**
 * `g3n audio-features (--wave <file.safetensors>:<tensor> | --audio <file.wav>)... --out <out.safetensors>
 *  [--config <preprocessor_config.json>]`
 *
 * Gemma 3n log-mel features on the GPU (audioFeatures). Each --wave is a 1-D F32 (or F64) tensor of
 * 16 kHz samples; each --audio a WAV file (16/24/32-bit integer PCM or 32-bit float, any rate and
 * channel count: mixed to mono and resampled to 16 kHz). Audio longer than 30 s is split into
 * consecutive clips of at most 30 s, and the split is reported. Clips are taken in the order given. One clip writes `input_features` [T, F] F32 and
 * `input_features_mask` [T] I64 (1 = valid frame, as the golden files store it); several write
 * `batch.input_features` [B, T, F] and `batch.input_features_mask` [B, T]. Settings come from --config
 * where given, else Gemma 3n's defaults.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { requestNodeGpu } from '@g3n/gpu/node';
import { audioFeatureConfig, audioFeatures, parseWav, readAudioFeatures, resample, splitClips } from '@g3n/preprocess';
import { parseSafetensorsHeader, readHeaderLength, writeSafetensors } from '@g3n/weights';
import { checkOutputPath, HelpRequested } from '../args.ts';

const USAGE =
  'usage: g3n audio-features (--wave <file.safetensors>:<tensor> | --audio <file.wav>)... --out <out.safetensors> [--config <preprocessor_config.json>]';

interface Args {
  inputs: Array<{ kind: 'wave' | 'audio'; value: string }>;
  out: string;
  config?: string;
}

function parse(argv: string[]): Args {
  if (argv.includes('--help') || argv.includes('-h')) throw new HelpRequested(USAGE);
  const inputs: Args['inputs'] = [];
  let out: string | undefined;
  let config: string | undefined;
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (!flag.startsWith('--')) throw new Error(`unexpected argument '${flag}'; ${USAGE}`);
    if (value === undefined || value.startsWith('--')) throw new Error(`option '${flag}' needs a value; ${USAGE}`);
    if (flag === '--wave' || flag === '--audio') inputs.push({ kind: flag === '--wave' ? 'wave' : 'audio', value });
    else if (flag === '--out' || flag === '--config') {
      if ((flag === '--out' ? out : config) !== undefined) throw new Error(`option '${flag}' given twice`);
      if (flag === '--out') out = value;
      else config = value;
    } else throw new Error(`unknown option '${flag}' (expected --wave, --audio, --out, --config)`);
  }
  if (inputs.length === 0) throw new Error(`give at least one --wave or --audio; ${USAGE}`);
  if (out === undefined) throw new Error(`missing --out; ${USAGE}`);
  return { inputs, out, config };
}

function readBytes(path: string, option: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new Error(`--${option}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** `<file>:<tensor>`: a 1-D F32 or F64 tensor of samples. */
function readWave(spec: string): Float32Array {
  const at = spec.lastIndexOf(':');
  if (at <= 0 || at === spec.length - 1) throw new Error(`--wave must be <file.safetensors>:<tensor name>, got '${spec}'`);
  const path = spec.slice(0, at);
  const name = spec.slice(at + 1);
  const bytes = readBytes(path, 'wave');
  const header = parseSafetensorsHeader(bytes.subarray(0, 8 + readHeaderLength(bytes.subarray(0, 8), bytes.length, path)), bytes.length, path);
  const e = header.tensors.get(name);
  if (!e) throw new Error(`--wave: ${path} has no tensor '${name}'`);
  if (e.shape.filter((d) => d !== 1).length > 1) throw new Error(`--wave: '${name}' is [${e.shape.join(', ')}]; give one clip of samples (1-D)`);
  const raw = bytes.slice(e.start, e.end);
  if (e.dtype === 'F32') return new Float32Array(raw.buffer);
  if (e.dtype === 'F64') return Float32Array.from(new Float64Array(raw.buffer));
  throw new Error(`--wave: '${name}' is ${e.dtype}; give F32 or F64 samples`);
}

function i64(mask: Uint8Array): Uint8Array {
  return new Uint8Array(BigInt64Array.from(mask, (v) => BigInt(v)).buffer);
}

export async function audioFeaturesCommand(argv: string[]): Promise<void> {
  const args = parse(argv);
  checkOutputPath(args.out, 'out');
  const cfg = audioFeatureConfig(args.config ? JSON.parse(new TextDecoder().decode(readBytes(args.config, 'config'))) : {});
  const clips: Float32Array[] = [];
  for (const input of args.inputs) {
    if (input.kind === 'wave') {
      const split = splitClips(readWave(input.value), cfg.maxLength, cfg.samplingRate);
      if (split.split) console.log(`${input.value}: ${split.message}`);
      clips.push(...split.clips);
      continue;
    }
    const wav = parseWav(readBytes(input.value, 'audio'));
    const samples = resample(wav.samples, wav.sampleRate, cfg.samplingRate);
    const split = splitClips(samples, cfg.maxLength, cfg.samplingRate);
    const how = wav.sampleRate === cfg.samplingRate ? '' : `, resampled from ${wav.sampleRate} Hz`;
    console.log(`${input.value}: ${wav.encoding}, ${wav.channels} channel(s)${how}: ${split.message}`);
    clips.push(...split.clips);
  }
  const gpu = await requestNodeGpu();
  try {
    const f = await audioFeatures(gpu, clips, cfg);
    const r = await readAudioFeatures(gpu, f);
    f.features.buffer.destroy();
    const { batch: B, T, featureSize: F } = r;
    const features = new Uint8Array(r.features.buffer, r.features.byteOffset, r.features.byteLength);
    const tensors = B === 1
      ? [
          { name: 'input_features', dtype: 'F32' as const, shape: [T, F], data: features },
          { name: 'input_features_mask', dtype: 'I64' as const, shape: [T], data: i64(r.mask) },
        ]
      : [
          { name: 'batch.input_features', dtype: 'F32' as const, shape: [B, T, F], data: features },
          { name: 'batch.input_features_mask', dtype: 'I64' as const, shape: [B, T], data: i64(r.mask) },
        ];
    try {
      writeFileSync(args.out, writeSafetensors(tensors));
    } catch (e) {
      throw new Error(`cannot write ${args.out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    console.log(`${B} clip(s), ${T} frames x ${F} mel bins (valid frames ${r.frames.join(', ')}) -> ${args.out}`);
  } finally {
    gpu.destroy();
  }
}
