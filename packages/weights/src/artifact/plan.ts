/**
 * The artifact's layout, decided before a byte is written: each tensor's stored dtype (from its role and
 * the storage policy), its layout, and its place in the shards. Pure and deterministic: the same tensor
 * list and policy always give the same plan.
 *
 * Order: the text model's global tensors, then layer 0, 1, ... (each layer's tensors together), then the
 * rest (embedders, towers); by name within each group. A layer that fits in one shard but not in what is
 * left of the current one starts a new shard, so a skipped layer costs whole shards. A tensor larger than
 * a shard is split into parts of whole units; any other tensor lies in one shard. The per-layer table
 * (embed_tokens_per_layer) is stored layer-major where its dtype allows, and each layer's block of it is
 * listed with that layer's byte ranges.
 */
import type { SafetensorsDType } from '../safetensors.ts';
import {
  alignUp,
  dataBytes,
  storedUnits,
  GROUP,
  isQuantized,
  partBytes,
  unitsOf,
  type ByteRange,
  type ManifestTensor,
  type QuantName,
  type StoredDType,
  type TensorLayout,
  type TensorPart,
} from './manifest.ts';

/** The tensor classes a policy can store differently (the roles of @g3n/gemma3n's weight table, plus `other`). */
export type TensorRole = 'embedding' | 'ple' | 'linear' | 'norm' | 'vector' | 'coefs' | 'other';
export type StoreAs = 'F32' | 'F16' | 'BF16' | 'Q8' | 'Q4';

/**
 * How a model's MatFormer slices cut a tensor, which decides its stored layout and its piece grid:
 * `rows` a row prefix, `cols` a column prefix (stored column-blocks, so the prefix is a byte prefix),
 * `layer-columns` each layer's columns of every row (the per-layer table, stored layer-major),
 * `layer-rows` each layer's row block; `none` is never cut. The model's weight table says (see
 * @g3n/gemma3n's `slice` rules); `defaultCut` is for callers that pass none.
 */
export type SliceCut = 'rows' | 'cols' | 'layer-columns' | 'layer-rows' | 'none';

export interface StoragePolicy {
  /** Linear, embedding and PLE matrices get this when they can (last dim % 32 == 0 for q8/q4). */
  quant: QuantName;
  /** Per-role override of the stored dtype (q8/q4 still fall back to the float type when not quantizable). */
  roles?: Partial<Record<TensorRole, StoreAs>>;
  /** Classifies a tensor; defaults to `defaultRole`. */
  roleOf?: (name: string, shape: readonly number[]) => TensorRole;
  /** How slices cut a tensor; defaults to `defaultCut`. */
  cutOf?: (name: string) => SliceCut;
  /**
   * The columns each layer owns in the per-layer table (hidden_size_per_layer_input): given, the table is
   * stored layer-major where its dtype allows; null stores it row-major, as minor-1 artifacts do (the
   * converter takes it from config.json when it is not given).
   */
  pleColumns?: number | null;
}

export interface PlanInput {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
}

export interface ArtifactPlan {
  tensors: ManifestTensor[];
  shardBytes: number[];
  layers: Record<string, ByteRange[]>;
}

export const DEFAULT_SHARD_BYTES = 64 << 20;
/** Matrices with fewer rows than this (AltUp's modality router, tiny gates) stay f32: quantizing saves nothing. */
export const SMALL_ROWS = 32;

const QUANT_DTYPE: Record<QuantName, StoreAs> = { q4: 'Q4', q8: 'Q8', f16: 'F16', bf16: 'BF16', f32: 'F32' };
const FLOAT: ReadonlySet<string> = new Set(['F32', 'F16', 'BF16', 'F64']);
const LAYER = /^model\.(?:language_model\.)?layers\.(\d+)\./;
const DOWN_PROJ = /\.mlp\.down_proj\.weight$/;
const FFN_ROWS = /\.mlp\.(?:gate|up)_proj\.weight$/;
const PLE_TABLE = /embed_tokens_per_layer\.weight$/;
const PLE_PROJECTION = /per_layer_model_projection\.weight$/;

export function shardFileName(i: number): string {
  return `shard-${String(i).padStart(5, '0')}.bin`;
}

/** The role of a tensor from its HF name and shape (agrees with @g3n/gemma3n's weight table). */
export function defaultRole(name: string, shape: readonly number[]): TensorRole {
  if (name.endsWith('embed_tokens_per_layer.weight')) return 'ple';
  if (/(?:embed_tokens|embed_vision\.embedding|embed_audio\.embedding)\.weight$/.test(name)) return 'embedding';
  if (/altup\.(?:prediction|correction)_coefs\.weight$/.test(name)) return 'coefs';
  if (shape.length <= 1) return /norm|\.bn\./.test(name) ? 'norm' : 'vector';
  return shape.length === 2 ? 'linear' : 'other';
}

/** The cut of a tensor from its Gemma 3n HF name, for a caller without the model's weight table (which gives the same cuts). */
export function defaultCut(name: string): SliceCut {
  if (DOWN_PROJ.test(name)) return 'cols';
  if (FFN_ROWS.test(name)) return 'rows';
  if (PLE_TABLE.test(name)) return 'layer-columns';
  if (PLE_PROJECTION.test(name)) return 'layer-rows';
  return 'none';
}

export function layerOf(name: string): number | null {
  const m = LAYER.exec(name);
  return m ? Number(m[1]) : null;
}

/**
 * column-blocks for a tensor cut by columns [D, I] with I % 32 == 0 (so a width prefix is a byte prefix);
 * layer-major for one cut by layer columns [V, L*P] (the per-layer table) when P (`pleColumns`) is known
 * and divides its columns, and Q8/Q4 groups fit in P; else row-major.
 */
export function layoutOf(name: string, shape: readonly number[], stored: StoredDType = 'F32', pleColumns: number | null = null, cut: SliceCut = defaultCut(name)): TensorLayout {
  if (cut === 'cols' && shape.length === 2 && shape[1] % GROUP === 0) return 'column-blocks';
  const layered = pleColumns !== null && pleColumns > 0 && cut === 'layer-columns' && shape.length === 2 && shape[1] % pleColumns === 0;
  return layered && (!isQuantized(stored) || pleColumns % GROUP === 0) ? 'layer-major' : 'row-major';
}

/** The dtype a tensor is stored in under `policy`. Non-float tensors are stored as they are; F64 becomes F32. */
export function storedDType(t: PlanInput, policy: StoragePolicy): StoredDType {
  if (!FLOAT.has(t.dtype)) return t.dtype;
  const keep: StoreAs = t.dtype === 'F64' ? 'F32' : (t.dtype as StoreAs);
  const role = (policy.roleOf ?? defaultRole)(t.name, t.shape);
  const q = QUANT_DTYPE[policy.quant];
  const cols = t.shape.length ? t.shape[t.shape.length - 1] : 1;
  const rows = t.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  let want: StoreAs;
  const explicit = policy.roles?.[role];
  if (explicit) want = explicit;
  else if (role === 'norm' || role === 'vector' || role === 'coefs') want = 'F32';
  else if (role === 'other') want = isQuantized(q) ? keep : q;
  else want = rows < SMALL_ROWS ? 'F32' : q;
  if (isQuantized(want) && (t.shape.length === 0 || cols % GROUP !== 0)) return keep;
  return want;
}

function orderKey(name: string): [number, number, string] {
  const l = layerOf(name);
  if (l !== null) return [1, l, name];
  return [name.startsWith('model.language_model.') || name.startsWith('lm_head.') ? 0 : 2, 0, name];
}

function compareOrder(a: PlanInput, b: PlanInput): number {
  const [x, y] = [orderKey(a.name), orderKey(b.name)];
  return x[0] - y[0] || x[1] - y[1] || (x[2] < y[2] ? -1 : x[2] > y[2] ? 1 : 0);
}

function wholeBytes(dtype: StoredDType, shape: number[], layout: TensorLayout, layerColumns?: number): number {
  const { units, perUnit } = unitsOf(shape, layout, layerColumns);
  const b = partBytes(dtype, perUnit, units);
  return alignUp(b.data) + alignUp(b.scales);
}

/** Lay the tensors out in shards of at most `shardLimit` bytes. */
export function planArtifact(inputs: readonly PlanInput[], policy: StoragePolicy, shardLimit = DEFAULT_SHARD_BYTES): ArtifactPlan {
  if (!Number.isSafeInteger(shardLimit) || shardLimit < 1024) throw new RangeError(`shard size ${shardLimit} is below the 1 KiB minimum`);
  const sorted = [...inputs].sort(compareOrder);
  const typed = sorted.map((t) => {
    const dtype = storedDType(t, policy);
    const layout = layoutOf(t.name, t.shape, dtype, policy.pleColumns ?? null, (policy.cutOf ?? defaultCut)(t.name));
    const layerColumns = layout === 'layer-major' ? (policy.pleColumns as number) : undefined;
    return { ...t, stored: dtype, layout, layerColumns, bytes: wholeBytes(dtype, t.shape, layout, layerColumns), layer: layerOf(t.name) };
  });
  const layerBytes = new Map<number, number>();
  for (const t of typed) if (t.layer !== null) layerBytes.set(t.layer, (layerBytes.get(t.layer) ?? 0) + t.bytes);

  const shardBytes: number[] = [];
  let shard = 0;
  let used = 0;
  const newShard = () => {
    if (used === 0) return;
    shardBytes.push(used);
    shard++;
    used = 0;
  };
  const layers: Record<string, ByteRange[]> = {};
  const tensors: ManifestTensor[] = [];
  let currentLayer: number | null = null;
  for (const t of typed) {
    if (t.layer !== null && t.layer !== currentLayer) {
      const group = layerBytes.get(t.layer) as number;
      if (group <= shardLimit && used + group > shardLimit) newShard();
    }
    currentLayer = t.layer;
    if (t.bytes <= shardLimit && used + t.bytes > shardLimit) newShard();
    const { units, perUnit } = unitsOf(t.shape, t.layout, t.layerColumns);
    const parts: TensorPart[] = [];
    const place = (first: number, count: number) => {
      const b = partBytes(t.stored, perUnit, count);
      const part: TensorPart = { shard, first, count, offset: used, length: b.data };
      used += alignUp(b.data);
      if (isQuantized(t.stored)) {
        part.scalesOffset = used;
        part.scalesLength = b.scales;
        used += alignUp(b.scales);
      }
      parts.push(part);
      if (t.layer !== null) extendRange((layers[t.layer] ??= []), shard, part.offset, used);
    };
    if (t.bytes <= shardLimit || units === 0) {
      place(0, units);
    } else {
      let first = 0;
      while (first < units) {
        const k = unitsThatFit(t.stored, perUnit, units - first, shardLimit - used);
        if (k === 0) {
          if (used === 0) throw new RangeError(`one unit of "${t.name}" (${dataBytes(t.stored, perUnit)} bytes) does not fit in a ${shardLimit}-byte shard`);
          newShard();
          continue;
        }
        place(first, k);
        first += k;
        if (first < units) newShard();
      }
    }
    const entry: ManifestTensor = { name: t.name, dtype: t.stored, source: t.dtype, shape: [...t.shape], layer: t.layer, layout: t.layout, parts };
    if (t.layerColumns !== undefined) {
      entry.layerColumns = t.layerColumns;
      addLayerBlocks(entry, layers);
    }
    tensors.push(entry);
  }
  if (used > 0 || shardBytes.length === 0) shardBytes.push(used);
  return { tensors, shardBytes, layers };
}

/** Add each layer's block of a layer-major table (data, then Q8/Q4 scales, per part) to that layer's ranges. */
function addLayerBlocks(t: ManifestTensor, layers: Record<string, ByteRange[]>): void {
  const { units, perUnit } = storedUnits(t);
  const rows = units / (t.shape[1] / perUnit);
  for (let l = 0; l * rows < units; l++) {
    for (const p of t.parts) {
      const lo = Math.max(l * rows, p.first);
      const hi = Math.min((l + 1) * rows, p.first + p.count);
      if (lo >= hi) continue;
      const at = (u: number) => dataBytes(t.dtype, (u - p.first) * perUnit);
      extendRange((layers[l] ??= []), p.shard, p.offset + at(lo), p.offset + at(hi));
      if (p.scalesOffset !== undefined) {
        const half = (u: number) => (((u - p.first) * perUnit) / GROUP) * 2;
        extendRange(layers[l], p.shard, p.scalesOffset + half(lo), p.scalesOffset + half(hi));
      }
    }
  }
}

function extendRange(ranges: ByteRange[], shard: number, start: number, end: number): void {
  const last = ranges[ranges.length - 1];
  if (last && last.shard === shard && last.end === start) last.end = end;
  else ranges.push({ shard, start, end });
}

/** Most units (all that remain, or an even number of groups) whose padded regions fit in `avail` bytes. */
function unitsThatFit(dtype: StoredDType, perUnit: number, remaining: number, avail: number): number {
  const size = (k: number) => {
    const b = partBytes(dtype, perUnit, k);
    return alignUp(b.data) + alignUp(b.scales);
  };
  if (size(remaining) <= avail) return remaining;
  const per = Math.max(1, dataBytes(dtype, perUnit) + (isQuantized(dtype) ? (perUnit / GROUP) * 2 : 0));
  let k = Math.min(remaining - 1, Math.floor(avail / per));
  while (k > 0 && size(k) > avail) k--;
  if (isQuantized(dtype) && ((k * perUnit) / GROUP) % 2 !== 0) k--;
  return Math.max(k, 0);
}
