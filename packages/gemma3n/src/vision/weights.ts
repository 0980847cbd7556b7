/**
 * The vision tower's weights: one declarative table (checkpoint name, shape read from the checkpoint,
 * role) enumerated from the block sequence, and its loader. Convolution and 1x1 weights stay in the
 * checkpoint's float type on the GPU (f32, bf16, f16); norms, layer scales and biases are f32 vectors.
 * Nothing here is read by a text-only load.
 */
import { createTensor, writeTensor, type Gpu, type Tensor } from '@g3n/gpu';
import { CheckpointError, tensorDataToF32, type TensorData } from '@g3n/weights';
import { uploadVector } from '../gpu-weights.ts';
import type { VisionConfig } from './config.ts';
import { VisionTowerMissingError } from './errors.ts';

export const VISION_PREFIX = 'model.vision_tower.timm_model.';
export const EMBED_VISION_PREFIX = 'model.embed_vision.';

/** conv4d: a k x k (or depthwise) kernel [out, in / groups, kh, kw]; pointwise: a 1x1 conv or linear, held as [out, in]. */
export type VisionRole = 'conv4d' | 'pointwise' | 'norm' | 'layer_scale' | 'bias';

export interface VisionWeightSpec {
  /** Full checkpoint name. */
  name: string;
  role: VisionRole;
  /** Shape as stored in the checkpoint. */
  shape: number[];
}

export interface VisionWeightSource {
  tensors: ReadonlyMap<string, { shape: readonly number[] }>;
  readTensorData(name: string): Promise<TensorData>;
}

const RANK: Record<VisionRole, number> = { conv4d: 4, pointwise: 4, norm: 1, layer_scale: 1, bias: 1 };

/** Every tensor the tower and its soft-token embedder read, in forward order, shapes from the checkpoint. */
export function visionWeightTable(vc: VisionConfig, tensors: VisionWeightSource['tensors']): VisionWeightSpec[] {
  if (!tensors.has(`${VISION_PREFIX}conv_stem.conv.weight`)) throw new VisionTowerMissingError(`no ${VISION_PREFIX}conv_stem.conv.weight in the weights`);
  const out: VisionWeightSpec[] = [];
  const add = (name: string, role: VisionRole, prefix = VISION_PREFIX) => {
    const full = `${prefix}${name}`;
    const info = tensors.get(full);
    if (!info) throw new CheckpointError('missing-tensor', `vision tower tensor '${full}' is missing from the checkpoint`, { tensor: full });
    const shape = [...info.shape];
    const rank = role === 'pointwise' && prefix === EMBED_VISION_PREFIX ? 2 : RANK[role];
    const oneByOne = role !== 'pointwise' || rank === 2 || (shape[2] === 1 && shape[3] === 1);
    if (shape.length !== rank || !oneByOne || shape.some((d) => !Number.isInteger(d) || d < 1)) {
      throw new CheckpointError('bad-shape', `vision tower tensor '${full}' has shape [${shape.join(', ')}], expected a ${role} of rank ${rank}`, { tensor: full });
    }
    out.push({ name: full, role, shape });
  };
  const cna = (p: string) => {
    add(`${p}conv.weight`, 'conv4d');
    add(`${p}bn.weight`, 'norm');
  };
  const pw = (p: string) => {
    add(`${p}conv.weight`, 'pointwise');
    add(`${p}bn.weight`, 'norm');
  };
  cna('conv_stem.');
  add('conv_stem.conv.bias', 'bias');
  vc.stages.forEach((stage, i) =>
    stage.forEach((b, j) => {
      const p = `blocks.${i}.${j}.`;
      if (b.type === 'er') {
        add(`${p}conv_exp.weight`, 'conv4d');
        add(`${p}bn1.weight`, 'norm');
        add(`${p}conv_pwl.weight`, 'pointwise');
        add(`${p}bn2.weight`, 'norm');
      } else if (b.type === 'uir') {
        if (b.start) cna(`${p}dw_start.`);
        pw(`${p}pw_exp.`);
        if (b.mid) cna(`${p}dw_mid.`);
        pw(`${p}pw_proj.`);
        add(`${p}layer_scale.gamma`, 'layer_scale');
      } else {
        add(`${p}norm.weight`, 'norm');
        add(`${p}attn.query.proj.weight`, 'pointwise');
        for (const kv of ['key', 'value']) {
          if (b.kvStride > 1) {
            add(`${p}attn.${kv}.down_conv.weight`, 'conv4d');
            add(`${p}attn.${kv}.norm.weight`, 'norm');
          }
          add(`${p}attn.${kv}.proj.weight`, 'pointwise');
        }
        add(`${p}attn.output.proj.weight`, 'pointwise');
        add(`${p}layer_scale.gamma`, 'layer_scale');
      }
    }),
  );
  pw('msfa.ffn.pw_exp.');
  pw('msfa.ffn.pw_proj.');
  add('msfa.norm.weight', 'norm');
  add('soft_embedding_norm.weight', 'norm', EMBED_VISION_PREFIX);
  add('embedding_projection.weight', 'pointwise', EMBED_VISION_PREFIX);
  return out;
}

/** The tower's weights on the GPU by checkpoint name (pointwise weights as [out, in]). */
export type VisionWeights = Map<string, Tensor>;

function dtypeOf(name: string, data: TensorData): 'f32' | 'bf16' | 'f16' {
  if (data.dtype === 'BF16') return 'bf16';
  if (data.dtype === 'F16') return 'f16';
  if (data.dtype === 'F32') return 'f32';
  throw new CheckpointError('bad-dtype', `vision tower tensor '${name}' is ${data.dtype}; the vision tower needs F32, F16 or BF16 weights`, { tensor: name });
}

/** Upload every tensor of the table: weights as stored (no conversion), vectors as f32. */
export async function loadVisionWeights(gpu: Gpu, table: readonly VisionWeightSpec[], source: VisionWeightSource): Promise<VisionWeights> {
  const out: VisionWeights = new Map();
  try {
    for (const s of table) {
      const data = await source.readTensorData(s.name);
      if (s.role === 'conv4d' || s.role === 'pointwise') {
        const dtype = dtypeOf(s.name, data);
        const shape = s.role === 'pointwise' ? [s.shape[0], s.shape[1]] : s.shape;
        const t = createTensor(gpu, s.name, dtype, shape);
        writeTensor(gpu, t, data.bytes);
        out.set(s.name, t);
      } else {
        out.set(s.name, uploadVector(gpu, s.name, tensorDataToF32(data, s.name)));
      }
    }
  } catch (e) {
    for (const t of out.values()) t.buffer.destroy();
    throw e;
  }
  return out;
}
