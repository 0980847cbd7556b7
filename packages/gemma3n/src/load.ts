import type { Gpu } from '@g3n/gpu';
import { CheckpointError, type Checkpoint } from '@g3n/weights';
import { parseConfig, type ModelConfig } from './config.ts';
import type { FloatTensorData } from './gpu-weights.ts';
import { findPublishedSlice } from './matformer/published.ts';
import { sliceReader } from './matformer/reader.ts';
import { planSlice, SliceError, type SliceConfig } from './matformer/slice.ts';
import { Gemma3nTextModel, type TextModelOptions } from './model.ts';
import { checkWeights, textWeightTable } from './weight-table.ts';

export interface LoadTextModelOptions extends TextModelOptions {
  /** Load a MatFormer slice of the checkpoint: a slicing configuration or a published configuration's name. */
  matformer?: SliceConfig | string;
}

/** Resolve a slice given by name (the 16 published configurations) or as a configuration object. */
export function resolveSlice(slice: SliceConfig | string): SliceConfig {
  if (typeof slice !== 'string') return slice;
  const found = findPublishedSlice(slice);
  if (!found) throw new SliceError('bad-format', `no published MatFormer configuration is named '${slice}'`);
  return found;
}

/**
 * Validate a checkpoint against its config.json and load its text decoder onto the GPU, or a
 * MatFormer slice of it: the slice is cut from the parent's tensors while loading, and no sliced
 * copy is written anywhere.
 */
export async function loadTextModel(gpu: Gpu, checkpoint: Checkpoint, options: LoadTextModelOptions = {}): Promise<Gemma3nTextModel> {
  const parent: ModelConfig = parseConfig(checkpoint.config);
  checkWeights(textWeightTable(parent), checkpoint.tensors);
  const parentTensors = {
    has: (name: string) => checkpoint.tensors.has(name),
    shape: (name: string) => checkpoint.tensors.get(name)?.shape,
    read: async (name: string): Promise<FloatTensorData> => {
      const entry = checkpoint.tensors.get(name);
      if (!entry) throw new CheckpointError('missing-tensor', `tensor '${name}' is missing from the checkpoint`, { tensor: name });
      if (entry.dtype !== 'F32' && entry.dtype !== 'F16' && entry.dtype !== 'BF16') {
        throw new CheckpointError('bad-dtype', `tensor '${name}' has dtype ${entry.dtype}; weights must be F32, F16 or BF16`, { tensor: name });
      }
      return { dtype: entry.dtype, bytes: await checkpoint.read(name) };
    },
  };
  if (options.matformer === undefined) {
    return Gemma3nTextModel.load(gpu, parent, parentTensors.read, parentTensors.has, options);
  }
  const plan = planSlice(parent, resolveSlice(options.matformer));
  const sliced = sliceReader(plan, parentTensors);
  return Gemma3nTextModel.load(gpu, plan.config, sliced.read, sliced.has, options);
}
