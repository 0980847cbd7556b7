/**
 * `g3n encode-audio --model <dir> --features <file>:<tensor> [--mask <file>:<tensor>] --out <out.safetensors>`
 *
 * Runs the audio tower of --model on log-mel features [frames, 128] (or [clips, frames, 128] with a
 * frame mask [clips, frames]) and writes F32 `audio_encoder.sscp_out`, `audio_encoder.conformer.<l>.output`,
 * `audio_encoder.last_hidden_state`, `audio_encoder.mask_valid` and `audio_soft_tokens` (the golden
 * files' names and shapes; with several clips each name gets the clip's index, `.0`, `.1`, ..).
 */
import { writeFileSync } from 'node:fs';
import { requestNodeGpu } from '@g3n/gpu/node';
import { parseConfig } from '@g3n/gemma3n';
import { openModelDir, writeSafetensors } from '@g3n/weights';
import { nodeFileSource } from '@g3n/weights/node';
import { checkOutputPath, parseArgs, required } from '../args.ts';
import { checkAudioInput, openAudioTower, readTensorSpec } from './audio-input.ts';

export const ENCODE_AUDIO_USAGE = `usage: g3n encode-audio --model <dir> --features <file>:<tensor> [--mask <file>:<tensor>] --out <out.safetensors>
  --model     a Hugging Face checkpoint folder with an audio tower (model.audio_tower.*)
  --features  log-mel features [frames, 128] or [clips, frames, 128] from a safetensors file
  --mask      the frame mask [frames] or [clips, frames] (nonzero = real frame; default: all real)
  --out       where to write the encoder's intermediates, last hidden state, mask and soft tokens (F32)`;

export async function encodeAudioCommand(argv: string[]): Promise<void> {
  const args = parseArgs(argv, ['model', 'features', 'mask', 'out'], ENCODE_AUDIO_USAGE);
  const dir = required(args, 'model');
  const out = required(args, 'out');
  const features = readTensorSpec(required(args, 'features'), 'features');
  const mask = args.has('mask') ? readTensorSpec(args.get('mask')!, 'mask').data : null;
  checkOutputPath(out, 'out');

  const weights = await openModelDir(nodeFileSource(dir));
  const cfg = parseConfig(weights.config);
  checkAudioInput(cfg, weights, [features]);
  const gpu = await requestNodeGpu();
  try {
    const tower = await openAudioTower(gpu, cfg, weights);
    const c = tower.config;
    const names = ['audio_encoder.sscp_out', ...Array.from({ length: c.numLayers }, (_, l) => `audio_encoder.conformer.${l}.output`), 'audio_encoder.last_hidden_state', 'audio_soft_tokens'];
    const enc = await tower.encode(features.data, features.shape, mask, { capture: names });
    const clips = enc.valid.length;
    const T2 = (enc.captures.get(clips > 1 ? 'audio_encoder.sscp_out.0' : 'audio_encoder.sscp_out')?.length ?? 0) / c.hiddenSize;
    const f32 = (name: string, shape: number[], data: Float32Array) => ({ name, dtype: 'F32' as const, shape, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
    const tensors = [];
    for (let b = 0; b < clips; b++) {
      const suffix = clips > 1 ? `.${b}` : '';
      for (const n of names) {
        const shape = n === 'audio_soft_tokens' ? [c.softTokens, c.textHiddenSize] : n === 'audio_encoder.last_hidden_state' ? [enc.frames, c.hiddenSize] : [T2, c.hiddenSize];
        tensors.push(f32(n + suffix, shape, enc.captures.get(n + suffix)!));
      }
      tensors.push(f32(`audio_encoder.mask_valid${suffix}`, [enc.frames], Float32Array.from(enc.valid[b])));
    }
    enc.destroy();
    tower.destroy();
    try {
      writeFileSync(out, writeSafetensors(tensors));
    } catch (e) {
      throw new Error(`cannot write ${out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    console.log(`${clips} clip${clips === 1 ? '' : 's'} of ${features.shape[features.shape.length - 2]} frames -> ${enc.frames} audio frames, ${c.softTokens} soft tokens each -> ${out}`);
  } finally {
    gpu.destroy();
  }
}
