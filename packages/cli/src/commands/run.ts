import { readFile, writeFile } from 'node:fs/promises';
import { requestNodeGpu } from '@g3n/gpu/node';
import { loadTextModel, parseConfig, parseSliceJson, type SliceConfig, type SoftTokens } from '@g3n/gemma3n';
import { httpFileSource, openModelDir, type FileSource } from '@g3n/weights';
import { nodeFileSource } from '@g3n/weights/node';
import { checkOutputPath, parseArgs, required } from '../args.ts';
import { checkAudioInput, checkAudioPlaceholders, encodeClip, featureConfigOf, openAudioTower, readAudioClips, takeAudioArgs } from './audio-input.ts';
import { checkImagePrompt, encodeImages, imageShapes, pixelValues, readPreprocessorConfig, takeImageArgs } from './image-input.ts';
import { audioFeatureConfig, imageSizeFromPreprocessorConfig } from '@g3n/preprocess';

export const RUN_USAGE = `usage: g3n run --model <dir> --ids <id,id,...> --max-new-tokens <N> --json <out.json> [--matformer <slice.json or name>] [--check-numerics] [--ple gpu|host|auto] [--audio-features <file>:<tensor> | --wave <file>:<tensor> | --audio <file.wav>]...
  --model           a Hugging Face checkpoint folder or a g3n artifact folder (every shard piece is checked against its sha256),
                    or the http(s) URL of one (read with Range requests: only the tensors the prompt needs)
  --ids             the prompt's token ids, comma-separated
  --max-new-tokens  greedy tokens to generate after the prompt (0: prefill only)
  --json            where to write prompt_ids, prefill_logits, generated_ids and decode_logits
  --matformer       a MatFormer slice: a slicing-config JSON file or a published configuration's name
  --ple <where>     the per-layer embedding table on the GPU (gpu, the default), or kept on the host (host: the rows
                    each step needs are read from the model files; the same logits, about 1.1 GB less GPU memory
                    for E2B at q4), or auto (host when the model would not fit the device's memory)
  --check-numerics  debugging (slow): read back every stage output, so that a non-finite value names the first
                    layer with a non-finite output (without it, non-finite logits name only the step)
  --audio-features  log-mel features [frames, 128] of a clip (repeatable, in prompt order): the audio tower's
                    soft tokens fill the clip's audio_token_id placeholders in --ids
  --wave            a clip of 16 kHz samples (1-D F32/F64 tensor), turned into log-mel features on the GPU
  --audio           a WAV file: mixed to mono, resampled to 16 kHz, split into clips of at most 30 s
  --pixel-values    a preprocessed image f32 [3, H, W] (repeatable; with --image, in prompt order): the vision
                    tower's soft tokens fill the image's image_token_id placeholders in --ids
  --image           a PNG or JPEG file, resized on the GPU to the model's image size (preprocessor_config.json
                    in --model, else 768) and used as --pixel-values`;

/** Indices of the maximum (lowest index on ties), as the reference's argmax. */
function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

function parseIds(text: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p))) throw new Error(`--ids must be comma-separated non-negative integers, got '${text}'`);
  return parts.map(Number);
}

function rows(flat: Float32Array, width: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < flat.length; i += width) out.push(Array.from(flat.subarray(i, i + width)));
  return out;
}

/** --matformer takes a slicing-config JSON file or the name of a published configuration. */
async function readSlice(value: string): Promise<SliceConfig | string> {
  if (!value.endsWith('.json')) return value;
  let text: string;
  try {
    text = await readFile(value, 'utf8');
  } catch {
    throw new Error(`cannot read the slicing configuration '${value}'`);
  }
  return parseSliceJson(JSON.parse(text));
}

/** A JSON file of the model folder (undefined when it has none). */
async function readJsonFile(files: FileSource, name: string): Promise<unknown> {
  const source = await files.open(name);
  if (!source) return undefined;
  const text = new TextDecoder().decode(await source.read(0, await source.size()));
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${files.base}${name} is not valid JSON`);
  }
}

/** g3n run: greedy prefill + decode of an HF checkpoint or a g3n artifact directory, logits written as JSON. */
export async function runCommand(argv: string[]): Promise<void> {
  const checkNumerics = argv.includes('--check-numerics');
  const audio = takeAudioArgs(argv.filter((a) => a !== '--check-numerics'));
  const image = takeImageArgs(audio.rest);
  const args = parseArgs(image.rest, ['model', 'ids', 'max-new-tokens', 'json', 'matformer', 'ple'], RUN_USAGE);
  const dir = required(args, 'model');
  const ids = parseIds(required(args, 'ids'));
  const maxNewText = required(args, 'max-new-tokens');
  if (!/^\d+$/.test(maxNewText)) throw new Error(`--max-new-tokens must be a non-negative integer, got '${maxNewText}'`);
  const maxNew = Number(maxNewText);
  const jsonPath = required(args, 'json');
  checkOutputPath(jsonPath, 'json');
  const matformer = args.has('matformer') ? await readSlice(args.get('matformer')!) : undefined;
  const ple = args.get('ple') ?? 'gpu';
  if (ple !== 'gpu' && ple !== 'host' && ple !== 'auto') throw new Error(`--ple must be gpu, host or auto, got '${ple}'`);
  const remote = /^https?:\/\//i.test(dir);
  const files = remote ? httpFileSource(dir) : nodeFileSource(dir);
  const media = audio.inputs.length > 0 || image.images.length > 0;
  const remoteConfig = remote && media ? await readJsonFile(files, 'preprocessor_config.json') : undefined;
  const fe = remote ? audioFeatureConfig((remoteConfig ?? {}) as Record<string, unknown>) : featureConfigOf(dir);
  const clips = readAudioClips(audio.inputs, fe, (line) => console.log(line));
  const wantsSize = image.images.some((im) => im.kind === 'image');
  const imageSize = imageSizeFromPreprocessorConfig(wantsSize ? (remote ? remoteConfig : readPreprocessorConfig(dir)) : undefined);

  const weights = await openModelDir(files);
  if (clips.length > 0) checkAudioInput(parseConfig(weights.config), weights, clips.flatMap((c) => ('features' in c ? [c.features] : [])));
  checkImagePrompt(parseConfig(weights.config), weights, ids, imageShapes(image.images, imageSize));
  const gpu = await requestNodeGpu();
  try {
    const context = ids.length + maxNew;
    const model = await loadTextModel(gpu, weights, { maxContext: Math.max(context, 1), maxChunk: Math.min(Math.max(ids.length, 1), 256), matformer, checkNumerics, ple });
    const V = model.cfg.vocabSize;
    const softTokens: SoftTokens[] = [];
    const encodings: Array<{ destroy(): void }> = [];
    if (clips.length > 0) {
      const tower = await openAudioTower(gpu, parseConfig(weights.config), weights);
      checkAudioPlaceholders(ids, tower, clips.reduce((n, c) => n + ('features' in c && c.features.shape.length === 3 ? c.features.shape[0] : 1), 0));
      for (const clip of clips) {
        const enc = await encodeClip(gpu, tower, clip, fe);
        encodings.push(enc);
        for (const embeds of enc.softTokens) softTokens.push({ tokenId: tower.config.audioTokenId, embeds, count: tower.config.softTokens });
      }
      tower.destroy();
    }
    if (image.images.length > 0) {
      for (const embeds of await encodeImages(gpu, parseConfig(weights.config), weights, await pixelValues(gpu, image.images, imageSize))) {
        encodings.push({ destroy: () => embeds.buffer.destroy() });
        softTokens.push({ tokenId: parseConfig(weights.config).imageTokenId!, embeds, count: embeds.shape[0] });
      }
    }
    const { logits } = await model.prefill(ids, { allLogits: true, softTokens });
    for (const e of encodings) e.destroy();
    const prefillLogits = rows(logits, V);
    const generated: number[] = [];
    const decodeLogits: number[][] = [];
    let last = logits.subarray((ids.length - 1) * V);
    for (let step = 0; step < maxNew; step++) {
      const next = argmax(last);
      generated.push(next);
      decodeLogits.push(Array.from(last));
      if (step + 1 < maxNew) last = await model.decode(next);
    }
    await writeFile(jsonPath, JSON.stringify({ prompt_ids: ids, prefill_logits: prefillLogits, generated_ids: generated, decode_logits: decodeLogits }));
    model.destroy();
  } finally {
    gpu.destroy();
  }
}
