import type { Gpu } from '@g3n/gpu';
import { CheckpointError, type ModelWeights } from '@g3n/weights';
import { parseConfig, type ModelConfig } from './config.ts';
import type { FloatTensorData, TensorData } from './gpu-weights.ts';
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
 * Validate weights (an HF checkpoint or a g3n artifact, see openModelDir) against their config.json
 * and load the text decoder onto the GPU, or a MatFormer slice of it: the slice is cut from the
 * parent's tensors while loading, and no sliced copy is written anywhere.
 */
export async function loadTextModel(gpu: Gpu, weights: Pick<ModelWeights, 'config' | 'tensors' | 'readTensorData'>, options: LoadTextModelOptions = {}): Promise<Gemma3nTextModel> {
  const parent: ModelConfig = parseConfig(weights.config);
  checkWeights(textWeightTable(parent), weights.tensors);
  const has = (name: string) => weights.tensors.has(name);
  const read = async (name: string): Promise<TensorData> => {
    if (!has(name)) throw new CheckpointError('missing-tensor', `tensor '${name}' is missing from the weights`, { tensor: name });
    return weights.readTensorData(name);
  };
  if (options.matformer === undefined) return Gemma3nTextModel.load(gpu, parent, read, has, options);
  const plan = planSlice(parent, resolveSlice(options.matformer));
  const sliced = sliceReader(plan, {
    has,
    shape: (name) => weights.tensors.get(name)?.shape,
    read: async (name): Promise<FloatTensorData> => {
      const data = await read(name);
      if (data.dtype !== 'F32' && data.dtype !== 'F16' && data.dtype !== 'BF16') {
        throw new SliceError('bad-format', `slicing a ${data.dtype} artifact at load is not supported; slice a float (bf16/f16/f32) artifact or checkpoint`);
      }
      return data;
    },
  });
  return Gemma3nTextModel.load(gpu, plan.config, sliced.read, sliced.has, options);
}
