/**
 * `g3n encode-image --model <dir> --pixel-values <file>:<tensor> --out <out.safetensors>`
 *
 * Runs the vision tower of --model on preprocessed pixel_values [3, H, W] and writes F32
 * `vision_tower.stage0` .. `stage3`, `vision_tower.last_hidden_state` ([2048, 16, 16], CHW as the goldens)
 * and `vision_soft_tokens` ([tokens, text hidden]): the golden files' names and shapes.
 */
import { writeFileSync } from 'node:fs';
import { requestNodeGpu } from '@g3n/gpu/node';
import { loadVisionTower, parseConfig } from '@g3n/gemma3n';
import { openModelDir, writeSafetensors } from '@g3n/weights';
import { nodeFileSource } from '@g3n/weights/node';
import { checkOutputPath, parseArgs, required } from '../args.ts';
import { readTensorSpec } from './audio-input.ts';
import { checkVisionInput } from './image-input.ts';

export const ENCODE_IMAGE_USAGE = `usage: g3n encode-image --model <dir> --pixel-values <file>:<tensor> --out <out.safetensors>
  --model         a Hugging Face checkpoint folder with a vision tower (model.vision_tower.*)
  --pixel-values  one preprocessed image, f32 [3, height, width] from a safetensors file
  --out           where to write the stage outputs, last hidden state and soft tokens (F32)`;

const NAMES = ['vision_tower.stage0', 'vision_tower.stage1', 'vision_tower.stage2', 'vision_tower.stage3', 'vision_tower.last_hidden_state', 'vision_soft_tokens'];

export async function encodeImageCommand(argv: string[]): Promise<void> {
  const args = parseArgs(argv, ['model', 'pixel-values', 'out'], ENCODE_IMAGE_USAGE);
  const dir = required(args, 'model');
  const out = required(args, 'out');
  const pixels = readTensorSpec(required(args, 'pixel-values'), 'pixel-values');
  checkOutputPath(out, 'out');

  const weights = await openModelDir(nodeFileSource(dir));
  const cfg = parseConfig(weights.config);
  checkVisionInput(cfg, weights, [pixels]);
  const gpu = await requestNodeGpu();
  try {
    const tower = await loadVisionTower(gpu, cfg, weights);
    const [enc] = await tower.encode([{ data: pixels.data, shape: pixels.shape }], { capture: NAMES });
    enc.softTokens.buffer.destroy();
    tower.destroy();
    const tensors = NAMES.map((name) => {
      const c = enc.captures.get(name)!;
      return { name, dtype: 'F32' as const, shape: c.shape, data: new Uint8Array(c.data.buffer, c.data.byteOffset, c.data.byteLength) };
    });
    try {
      writeFileSync(out, writeSafetensors(tensors));
    } catch (e) {
      throw new Error(`cannot write ${out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const soft = enc.captures.get('vision_soft_tokens')!.shape;
    console.log(`image ${pixels.shape.slice(1).join(' x ')} -> ${soft[0]} soft tokens of ${soft[1]} -> ${out}`);
  } finally {
    gpu.destroy();
  }
}
