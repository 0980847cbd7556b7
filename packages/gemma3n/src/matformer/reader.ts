/**
 * Slice at load: serve the SLICED model's tensors (its names, renumbered layers, narrowed FFNs and
 * PLE columns) from the parent checkpoint. Each transform is described as a list of byte ranges of
 * the parent tensor, whose concatenation is the sliced tensor; read() gathers them, and a remote
 * loader can turn the same ranges into HTTP Range requests.
 *   layers.{j}.*                        <- parent layers.{keptLayers[j]}.*
 *   ffn-rows (FFN gate, up) [I, D]      -> first w_j rows (one byte prefix)
 *   ffn-cols (FFN down) [D, I]          -> first w_j columns of every row (strided)
 *   ple-table [V, L*P]                  -> the kept layers' P-column chunks of every row: [V, N*P]
 *   ple-projection [L*P, H]             -> the kept layers' P-row blocks: [N*P, H]
 *   whole (anything else)               -> unchanged
 * A parent that reads blocks (an HF checkpoint) serves the large tensors block by block too: each
 * sliced tensor is a selection of parent rows and columns (sliceRuns), read a row block at a time.
 * Which tensors are cut how is the weight table's `slice` rule (weight-table.ts).
 */
import { CheckpointError, type BlockOptions, type TensorBlock, type TensorSelection } from '@g3n/weights';
import type { OpenBlocks } from '../upload-blocks.ts';
import { weightSpecOf } from '../weight-table.ts';
import { SliceError, type SlicePlan } from './slice.ts';

/** Raw little-endian bytes of one float tensor, in its checkpoint dtype. */
export interface FloatTensorBytes {
  dtype: 'F32' | 'F16' | 'BF16';
  bytes: Uint8Array;
}

export interface ByteRange {
  start: number;
  length: number;
}

/** The parent checkpoint, by the parent's tensor names. */
export interface ParentTensors {
  read(name: string): Promise<FloatTensorBytes>;
  has(name: string): boolean;
  shape(name: string): number[] | undefined;
  /** A parent tensor (a selection of its rows and elements) in row blocks. */
  readBlocks?(name: string, options: BlockOptions): AsyncIterable<TensorBlock>;
}

/** The sliced model's tensors, by the sliced model's tensor names. */
export interface SlicedTensors {
  read(name: string): Promise<FloatTensorBytes>;
  has(name: string): boolean;
  shape(name: string): number[] | undefined;
  /** A sliced tensor in blocks of at most about `maxBytes` of the parent; null where the parent reads no blocks. */
  blocks(name: string, maxBytes: number): OpenBlocks | null;
}

const LAYER = /^(model\.(?:language_model\.)?)layers\.(0|[1-9]\d*)\.(.+)$/;
const ELEM_BYTES: Record<FloatTensorBytes['dtype'], number> = { F32: 4, F16: 2, BF16: 2 };

export type Transform =
  | { kind: 'whole' }
  | { kind: 'rows'; width: number }
  | { kind: 'cols'; width: number }
  | { kind: 'ple-table' }
  | { kind: 'ple-projection' };

/** How the sliced model's tensor `name` is cut from its parent: the weight table's slice rule, with the layer's FFN width. */
export function transformOf(plan: SlicePlan, name: string): Transform {
  const s = weightSpecOf(plan.config, name);
  switch (s?.slice ?? 'whole') {
    case 'ffn-rows':
      return { kind: 'rows', width: plan.config.text.intermediateSize[s?.layer as number] };
    case 'ffn-cols':
      return { kind: 'cols', width: plan.config.text.intermediateSize[s?.layer as number] };
    case 'ple-table':
      return { kind: 'ple-table' };
    case 'ple-projection':
      return { kind: 'ple-projection' };
    case 'whole':
      return { kind: 'whole' };
  }
}

/** The parent tensor a sliced-model tensor comes from; undefined for a layer index the sliced model lacks. */
export function parentTensorName(plan: SlicePlan, name: string): string | undefined {
  const m = LAYER.exec(name);
  if (!m) return name;
  const j = Number(m[2]);
  if (j >= plan.keptLayers.length) return undefined;
  return `${m[1]}layers.${plan.keptLayers[j]}.${m[3]}`;
}

const parentLayers = (plan: SlicePlan): number => plan.keptLayers.length + plan.slice.layersSkipped.length;

/** Maximal runs of consecutive kept parent layers: [first, count]. */
export function keptRuns(plan: SlicePlan): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  for (const i of plan.keptLayers) {
    const last = runs[runs.length - 1];
    if (last && last[0] + last[1] === i) last[1]++;
    else runs.push([i, 1]);
  }
  return runs;
}

function shapeError(name: string, parentShape: readonly number[], expected: string): never {
  throw new SliceError('tensor-shape', `"${name}" has shape [${parentShape.join(', ')}] in the parent checkpoint, expected ${expected}. The slicing plan was made for a different parent config.`, {
    tensor: name,
    shape: [...parentShape],
  });
}

function matrixDims(name: string, parentShape: readonly number[]): [number, number] {
  if (parentShape.length !== 2) shapeError(name, parentShape, 'a matrix');
  return [parentShape[0], parentShape[1]];
}

/** The sliced tensor's shape, from the parent tensor's shape. */
export function slicedShape(plan: SlicePlan, name: string, parentShape: readonly number[]): number[] {
  const t = transformOf(plan, name);
  const P = plan.config.text.hiddenSizePerLayerInput;
  const L = parentLayers(plan);
  const N = plan.keptLayers.length;
  switch (t.kind) {
    case 'whole':
      return [...parentShape];
    case 'rows': {
      const [rows, cols] = matrixDims(name, parentShape);
      if (rows < t.width) shapeError(name, parentShape, `at least ${t.width} rows`);
      return [t.width, cols];
    }
    case 'cols': {
      const [rows, cols] = matrixDims(name, parentShape);
      if (cols < t.width) shapeError(name, parentShape, `at least ${t.width} columns`);
      return [rows, t.width];
    }
    case 'ple-table': {
      const [rows, cols] = matrixDims(name, parentShape);
      if (cols !== L * P) shapeError(name, parentShape, `[vocab, ${L} * ${P}]`);
      return [rows, N * P];
    }
    case 'ple-projection': {
      const [rows, cols] = matrixDims(name, parentShape);
      if (rows !== L * P) shapeError(name, parentShape, `[${L} * ${P}, hidden]`);
      return [N * P, cols];
    }
  }
}

/**
 * The sliced tensor as a selection of the parent's rows (units) and of the elements of each row,
 * for a parent stored row-major ([rows, cols], leading axes folded into rows).
 */
export function sliceRuns(plan: SlicePlan, name: string, parentShape: readonly number[]): TensorSelection {
  const t = transformOf(plan, name);
  const P = plan.config.text.hiddenSizePerLayerInput;
  slicedShape(plan, name, parentShape);
  const rows = parentShape.slice(0, -1).reduce((a, b) => a * b, 1);
  const kept = keptRuns(plan).map(([f, c]) => [f * P, c * P] as const);
  switch (t.kind) {
    case 'whole':
      return { units: [[0, rows]] };
    case 'rows':
      return { units: [[0, t.width]] };
    case 'cols':
      return { units: [[0, rows]], elements: [[0, t.width]] };
    case 'ple-table':
      return { units: [[0, rows]], elements: kept };
    case 'ple-projection':
      return { units: kept };
  }
}

/** Merge ranges that continue one another. */
function coalesce(ranges: ByteRange[]): ByteRange[] {
  const out: ByteRange[] = [];
  for (const r of ranges) {
    if (r.length === 0) continue;
    const last = out[out.length - 1];
    if (last && last.start + last.length === r.start) last.length += r.length;
    else out.push({ ...r });
  }
  return out;
}

/**
 * Byte ranges of the parent tensor (shape `parentShape`, `elemBytes` per element) that, concatenated
 * in order, are the bytes of the sliced tensor `name` (a SLICED-model name). Contiguous ranges are
 * merged: an unchanged tensor is one range.
 */
export function sliceRanges(plan: SlicePlan, name: string, parentShape: readonly number[], elemBytes: number): ByteRange[] {
  const t = transformOf(plan, name);
  const shape = slicedShape(plan, name, parentShape);
  const P = plan.config.text.hiddenSizePerLayerInput;
  const L = parentLayers(plan);
  const ranges: ByteRange[] = [];
  switch (t.kind) {
    case 'whole':
    case 'rows':
      ranges.push({ start: 0, length: shape.reduce((a, b) => a * b, 1) * elemBytes });
      break;
    case 'cols': {
      const [rows, cols] = parentShape;
      for (let r = 0; r < rows; r++) ranges.push({ start: r * cols * elemBytes, length: t.width * elemBytes });
      break;
    }
    case 'ple-table': {
      const runs = keptRuns(plan);
      const rowBytes = L * P * elemBytes;
      for (let r = 0; r < parentShape[0]; r++) {
        for (const [first, count] of runs) ranges.push({ start: r * rowBytes + first * P * elemBytes, length: count * P * elemBytes });
      }
      break;
    }
    case 'ple-projection': {
      const blockBytes = P * parentShape[1] * elemBytes;
      for (const [first, count] of keptRuns(plan)) ranges.push({ start: first * blockBytes, length: count * blockBytes });
      break;
    }
  }
  return coalesce(ranges);
}

/** Copy `ranges` of `bytes` one after another into a new array. */
export function gatherRanges(bytes: Uint8Array, ranges: readonly ByteRange[]): Uint8Array {
  const total = ranges.reduce((s, r) => s + r.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const r of ranges) {
    out.set(bytes.subarray(r.start, r.start + r.length), at);
    at += r.length;
  }
  return out;
}

/** The sliced model's tensors, read from the parent and sliced on the way. */
export function sliceReader(plan: SlicePlan, parent: ParentTensors): SlicedTensors {
  const source = (name: string): string | undefined => {
    const p = parentTensorName(plan, name);
    return p !== undefined && parent.has(p) ? p : undefined;
  };
  return {
    has: (name) => source(name) !== undefined,
    blocks(name, maxBytes) {
      const p = source(name);
      const shape = p === undefined ? undefined : parent.shape(p);
      const readBlocks = parent.readBlocks?.bind(parent);
      if (p === undefined || shape === undefined || !readBlocks) return null;
      const selection = sliceRuns(plan, name, shape);
      return (wholeRows) => readBlocks(p, { selection, maxBytes, wholeRows });
    },
    shape(name) {
      const p = source(name);
      const s = p === undefined ? undefined : parent.shape(p);
      return s === undefined ? undefined : slicedShape(plan, name, s);
    },
    async read(name) {
      const p = source(name);
      if (p === undefined) throw new CheckpointError('missing-tensor', `the sliced model "${plan.slice.name}" has no tensor "${name}" (its layers are 0..${plan.keptLayers.length - 1}).`, { tensor: name });
      const shape = parent.shape(p);
      if (shape === undefined) throw new CheckpointError('missing-tensor', `the parent checkpoint gives no shape for "${p}".`, { tensor: p });
      const data = await parent.read(p);
      const elemBytes = ELEM_BYTES[data.dtype];
      const size = shape.reduce((a, b) => a * b, 1) * elemBytes;
      if (data.bytes.length !== size) {
        throw new CheckpointError('size-mismatch', `"${p}" read ${data.bytes.length} bytes, but its shape [${shape.join(', ')}] in ${data.dtype} needs ${size}.`, { tensor: p });
      }
      const ranges = sliceRanges(plan, name, shape, elemBytes);
      if (ranges.length === 1 && ranges[0].start === 0 && ranges[0].length === size) return data;
      return { dtype: data.dtype, bytes: gatherRanges(data.bytes, ranges) };
    },
  };
}
