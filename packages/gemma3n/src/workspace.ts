import { createTensor, numel, ShapeError, storageBytes, type Gpu, type Tensor } from '@g3n/gpu';
import type { TextConfig } from './config.ts';

/** An f32 view of `shape` at element `offset` of a tensor's buffer (offset must keep 256-byte alignment). */
export function view(t: Tensor, offset: number, shape: number[]): Tensor {
  const byteOffset = t.offset + 4 * offset;
  if (byteOffset % 256 !== 0) throw new ShapeError(t.label, `view at element ${offset} is not 256-byte aligned`);
  const byteLength = storageBytes('f32', numel(shape));
  if (4 * offset + byteLength > t.byteLength) throw new ShapeError(t.label, `view [${offset}, +${numel(shape)}) overruns ${numel(t.shape)} elements`);
  return { label: t.label, dtype: t.dtype, shape, buffer: t.buffer, offset: byteOffset, byteLength };
}

/** Elements per AltUp stream: T*D rounded up so that every stream view is 256-byte aligned. */
export function streamStride(tokens: number, dim: number): number {
  return Math.ceil((tokens * dim) / 64) * 64;
}

/**
 * The activation buffers of one forward pass over up to `maxTokens` tokens, allocated once.
 * `at(name, shape)` hands out a view sized for the current token count.
 */
export class Workspace {
  private readonly buffers = new Map<string, Tensor>();
  readonly streamStride: number;

  constructor(private readonly gpu: Gpu, readonly cfg: TextConfig, readonly maxTokens: number, readonly logitRows: number) {
    const c = cfg;
    const T = maxTokens;
    const D = c.hiddenSize;
    const LP = c.numLayers * c.hiddenSizePerLayerInput;
    const n = c.altupNumInputs;
    const I = Math.max(...c.intermediateSize);
    this.streamStride = streamStride(T, D);
    const f32 = (name: string, elems: number) => this.buffers.set(name, createTensor(gpu, `ws.${name}`, 'f32', [elems]));
    this.buffers.set('ids', createTensor(gpu, 'ws.ids', 'u32', [T]));
    this.buffers.set('ple_ids', createTensor(gpu, 'ws.ple_ids', 'u32', [T]));
    for (const name of ['x0', 'tmp', 'an', 'lau', 'att', 'o', 'h', 'u', 'ffn', 'f', 's', 'pp', 'ppn', 'rn', 'fin', 'fin2', 'hfin']) f32(name, T * D);
    for (const name of ['ple_raw', 'ple_proj', 'ple_scaled', 'ple_normed', 'per_layer']) f32(name, T * LP);
    f32('streams', n * this.streamStride);
    f32('pred', n * this.streamStride);
    f32('router', T * n);
    f32('coefs', T * n * n);
    f32('cc', T * n);
    f32('laurel_mid', T * c.laurelRank);
    f32('q', T * c.numHeads * c.headDim);
    f32('k', T * c.numKvHeads * c.headDim);
    f32('v', T * c.numKvHeads * c.headDim);
    f32('attn', T * c.numHeads * c.headDim);
    f32('gate', T * I);
    f32('up', T * I);
    f32('act', T * I);
    f32('pg', T * c.hiddenSizePerLayerInput);
    f32('pg_act', T * c.hiddenSizePerLayerInput);
    f32('h_last', D);
    f32('logits', logitRows * c.vocabSize);
  }

  at(name: string, shape: number[]): Tensor {
    const t = this.buffers.get(name);
    if (!t) throw new Error(`workspace has no buffer '${name}'`);
    return view(t, 0, shape);
  }

  raw(name: string): Tensor {
    const t = this.buffers.get(name);
    if (!t) throw new Error(`workspace has no buffer '${name}'`);
    return t;
  }

  /**
   * A buffer kept for the workspace's lifetime under `key` (created on first use, destroyed with the
   * workspace): scratch space that kernels of several layers share because they run one after another.
   */
  owned(key: string, dtype: Tensor['dtype'], shape: number[]): Tensor {
    const name = `owned.${key}`;
    let t = this.buffers.get(name);
    if (!t) {
      t = createTensor(this.gpu, `ws.${key}`, dtype, shape);
      this.buffers.set(name, t);
    } else if (t.dtype !== dtype || numel(t.shape) < numel(shape)) {
      throw new ShapeError(t.label, `owned buffer '${key}' is ${t.dtype} [${t.shape.join(', ')}], asked for ${dtype} [${shape.join(', ')}]`);
    }
    return t;
  }

  bytes(): number {
    let s = 0;
    for (const t of this.buffers.values()) s += t.byteLength;
    return s;
  }

  destroy(): void {
    for (const t of this.buffers.values()) t.buffer.destroy();
    this.buffers.clear();
  }
}

/** K and V ring buffers of one KV-owning layer: [nKV, capacity, headDim] each. */
export interface KvCache {
  k: Tensor;
  v: Tensor;
  capacity: number;
}

export function createKvCache(gpu: Gpu, layer: number, cfg: TextConfig, capacity: number): KvCache {
  const shape = [cfg.numKvHeads, capacity, cfg.headDim];
  return { k: createTensor(gpu, `kv.${layer}.k`, 'f32', shape), v: createTensor(gpu, `kv.${layer}.v`, 'f32', shape), capacity };
}
