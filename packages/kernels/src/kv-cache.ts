import { defineKernel, foldWorkgroups, numel, ShapeError, type Dispatch, type Gpu, type Tensor } from '@g3n/gpu';
import source from '../../../shaders/kv_cache.wgsl?raw';

const WG = 256;
export const kvCacheKernels = {
  append: defineKernel('kv_cache', source, 'kv_append', { WG }),
};

export interface KvAppendArgs {
  /** New keys and values [rows, nKV, headDim], already normed and RoPE'd. */
  k: Tensor;
  v: Tensor;
  /** The layer's caches [nKV, capacity, headDim]. */
  kCache: Tensor;
  vCache: Tensor;
  rows: number;
  nKV: number;
  headDim: number;
  /** Absolute position of the first new token (a uniform: change it per step with Plan.setParams). */
  pos0: number;
  capacity: number;
}

/** Write token t of k/v to slot (pos0 + t) % capacity of every kv head of the caches. */
export function kvAppend(gpu: Gpu, args: KvAppendArgs): Dispatch {
  const { k, v, kCache, vCache, rows, nKV, headDim, pos0, capacity } = args;
  const name = 'kv_append';
  for (const t of [k, v, kCache, vCache]) if (t.dtype !== 'f32') throw new ShapeError(name, `${t.label} must be f32, got ${t.dtype}`);
  for (const [what, x] of [['rows', rows], ['nKV', nKV], ['headDim', headDim], ['capacity', capacity]] as const) {
    if (!Number.isInteger(x) || x < 1) throw new ShapeError(name, `${what} must be a positive integer, got ${x}`);
  }
  if (!Number.isInteger(pos0) || pos0 < 0) throw new ShapeError(name, `pos0 must be a non-negative integer, got ${pos0}`);
  const n = rows * nKV * headDim;
  for (const t of [k, v]) if (numel(t.shape) !== n) throw new ShapeError(name, `${t.label} has ${numel(t.shape)} elements, expected [${rows}, ${nKV}, ${headDim}]`);
  const cacheN = nKV * capacity * headDim;
  for (const t of [kCache, vCache]) {
    if (numel(t.shape) !== cacheN) throw new ShapeError(name, `${t.label} has ${numel(t.shape)} elements, expected [${nKV}, ${capacity}, ${headDim}]`);
  }
  if (rows > capacity) throw new ShapeError(name, `${rows} rows would overwrite each other in a cache of capacity ${capacity}`);
  return {
    kernel: kvCacheKernels.append,
    bindings: { k, v, k_cache: kCache, v_cache: vCache },
    params: { rows, n_kv: nKV, head_dim: headDim, pos0, capacity, n },
    workgroups: foldWorkgroups(Math.ceil(n / WG), gpu.caps.limits.maxComputeWorkgroupsPerDimension),
  };
}
