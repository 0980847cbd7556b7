import type { Gpu } from '@g3n/gpu';
import { CheckpointError, type Checkpoint } from '@g3n/weights';
import { parseConfig, type ModelConfig } from './config.ts';
import { Gemma3nTextModel, type TextModelOptions } from './model.ts';
import { checkWeights, textWeightTable } from './weight-table.ts';

/** Validate a checkpoint against its config.json and load its text decoder onto the GPU. */
export async function loadTextModel(gpu: Gpu, checkpoint: Checkpoint, options: TextModelOptions = {}): Promise<Gemma3nTextModel> {
  const config: ModelConfig = parseConfig(checkpoint.config);
  checkWeights(textWeightTable(config), checkpoint.tensors);
  const read = async (name: string) => {
    const entry = checkpoint.tensors.get(name);
    if (!entry) throw new CheckpointError('missing-tensor', `tensor '${name}' is missing from the checkpoint`, { tensor: name });
    if (entry.dtype !== 'F32' && entry.dtype !== 'F16' && entry.dtype !== 'BF16') {
      throw new CheckpointError('bad-dtype', `tensor '${name}' has dtype ${entry.dtype}; weights must be F32, F16 or BF16`, { tensor: name });
    }
    return { dtype: entry.dtype, bytes: await checkpoint.read(name) };
  };
  return Gemma3nTextModel.load(gpu, config, read, (name) => checkpoint.tensors.has(name), options);
}
