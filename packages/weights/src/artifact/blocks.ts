/**
 * A tensor (or a selection of it) read as a sequence of blocks, so that no read holds much more than
 * `maxBytes` of it: the 262,144-row tables of a real model do not fit one ArrayBuffer. A block is a
 * rectangle of the result seen as a [rows, cols] matrix (the selection's shape, leading axes folded
 * into rows), row-major, in the kernels' storage format, and blocks come in the order the bytes are
 * stored:
 *   row-major (and HF checkpoints)  full-width row blocks, in row order;
 *   layer-major                     for each layer the selection's columns touch, row blocks of that
 *                                   layer's columns (one contiguous read each), so a whole layer is
 *                                   read before the next; full-width row blocks instead where a
 *                                   layer's columns are not whole u32 words (bf16 with odd P, Q8/Q4
 *                                   with an odd number of groups), which a GPU copies word by word;
 *   column-blocks                   one block, the whole selection (every stored unit holds a slice of
 *                                   every row; down_proj is a small tensor).
 * Row blocks hold a multiple of 64 rows where they hold more than 64.
 */
import { CheckpointError } from '../errors.ts';
import { DTYPE_BYTES, type TensorEntry } from '../safetensors.ts';
import { dataBytes, GROUP, isQuantized, type ManifestTensor, type StoredDType } from './manifest.ts';
import { checkSelection, layerRuns, selectionShape, selectionUnits, type Run, type TensorSelection } from './ranges.ts';
import type { TensorData } from './types.ts';

export const DEFAULT_BLOCK_BYTES = 16 << 20;

export interface TensorBlock {
  /** First row and row count of the block in the [rows, cols] result. */
  row0: number;
  rows: number;
  /** First column and column count (0 and all of them for a row block). */
  col0: number;
  cols: number;
  /** [rows, cols] row-major; Q8/Q4 scale words (the last one half used for an odd number of groups). */
  data: TensorData;
}

export interface BlockOptions {
  /** Part of the tensor to read (see ranges.ts; default: all of it). */
  selection?: TensorSelection;
  /** Stored bytes a block may hold (default 16 MiB); a block holds at least one row. */
  maxBytes?: number;
  /** Full-width row blocks only, whatever the layout (for a caller that converts rows, e.g. quantizes them). */
  wholeRows?: boolean;
}

/** One block of a plan: which selection of the stored tensor it is, and where it goes. */
export interface PlannedBlock {
  selection: TensorSelection;
  row0: number;
  rows: number;
  col0: number;
  cols: number;
}

const sum = (runs: readonly Run[]): number => runs.reduce((a, r) => a + r[1], 0);

/** Stored bytes of `n` elements: data and, for Q8/Q4, their f16 scales. */
function storedBytes(dtype: StoredDType, n: number): number {
  return dataBytes(dtype, n) + (isQuantized(dtype) ? (n / GROUP) * 2 : 0);
}

/** Do `n` elements take whole u32 words, data and scales? */
function wholeWords(dtype: StoredDType, n: number): boolean {
  return dataBytes(dtype, n) % 4 === 0 && (!isQuantized(dtype) || (n / GROUP) % 2 === 0);
}

/** Rows per block: what fits `maxBytes` at `rowBytes` a row, at least one, a multiple of 64 above 64. */
export function blockRows(maxBytes: number, rowBytes: number, rows: number): number {
  const n = Math.max(1, Math.min(rows, Math.floor(maxBytes / Math.max(rowBytes, 1))));
  return n > 64 && n < rows ? n - (n % 64) : n;
}

/** The runs covering positions [start, start + count) of the concatenation of `runs`. */
export function subRuns(runs: readonly Run[], start: number, count: number): Run[] {
  const out: Run[] = [];
  let at = 0;
  for (const [f, c] of runs) {
    const lo = Math.max(start, at);
    const hi = Math.min(start + count, at + c);
    if (lo < hi) out.push([f + lo - at, hi - lo]);
    at += c;
  }
  return out;
}

function rowBlocks(units: readonly Run[], elements: readonly Run[] | undefined, cols: number, step: number): PlannedBlock[] {
  const rows = sum(units);
  const out: PlannedBlock[] = [];
  for (let r = 0; r < rows; r += step) {
    const n = Math.min(step, rows - r);
    out.push({ selection: elements ? { units: subRuns(units, r, n), elements } : { units: subRuns(units, r, n) }, row0: r, rows: n, col0: 0, cols });
  }
  return out;
}

/** The blocks `sel` of the stored tensor `t` is read in (see the module comment). */
export function planBlocks(t: ManifestTensor, sel: TensorSelection, maxBytes = DEFAULT_BLOCK_BYTES, wholeRows = false): PlannedBlock[] {
  checkSelection(t, sel);
  const shape = selectionShape(t, sel);
  const cols = shape.length ? shape[shape.length - 1] : 1;
  const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  if (t.layout === 'column-blocks') return [{ selection: sel, row0: 0, rows, col0: 0, cols }];
  const { perUnit } = selectionUnits(t);
  const elements = sel.elements ?? [[0, perUnit] as Run];
  if (t.layout === 'row-major') return rowBlocks(sel.units, sel.elements, cols, blockRows(maxBytes, storedBytes(t.dtype, perUnit), rows));
  const runs = layerRuns(t, elements);
  if (wholeRows || !wholeWords(t.dtype, cols) || runs.some((r) => !wholeWords(t.dtype, r.count) || !wholeWords(t.dtype, r.col))) {
    return rowBlocks(sel.units, sel.elements, cols, blockRows(maxBytes, storedBytes(t.dtype, cols), rows));
  }
  const P = t.layerColumns as number;
  const out: PlannedBlock[] = [];
  for (const r of runs) {
    for (const b of rowBlocks(sel.units, [[r.layer * P + r.first, r.count]], r.count, blockRows(maxBytes, storedBytes(t.dtype, r.count), rows))) out.push({ ...b, col0: r.col });
  }
  return out;
}

function outOfRange(name: string, what: string): never {
  throw new CheckpointError('out-of-range', `"${name}": ${what}.`, { tensor: name });
}

/**
 * Row blocks of a float tensor of an HF checkpoint (read by `readRange`, one contiguous range per
 * run of rows), the element runs of a selection gathered from each row.
 */
export async function* checkpointBlocks(
  entry: Pick<TensorEntry, 'name' | 'dtype' | 'shape'>,
  readRange: (byteOffset: number, byteLength: number) => Promise<Uint8Array>,
  options: BlockOptions = {},
): AsyncGenerator<TensorBlock> {
  const { name, dtype, shape } = entry;
  if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16') throw new CheckpointError('bad-dtype', `"${name}" is ${dtype}; model weights must be F32, F16 or BF16.`, { tensor: name });
  const width = shape.length ? shape[shape.length - 1] : 1;
  const height = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const sel = options.selection ?? { units: [[0, height]] };
  const inside = (runs: readonly Run[], n: number) => runs.every(([f, c]) => Number.isSafeInteger(f) && Number.isSafeInteger(c) && f >= 0 && c >= 0 && f + c <= n);
  if (!inside(sel.units, height)) outOfRange(name, `row runs ${JSON.stringify(sel.units)} are outside its ${height} rows`);
  if (sel.elements && !inside(sel.elements, width)) outOfRange(name, `element runs ${JSON.stringify(sel.elements)} are outside its ${width}-element rows`);
  const eb = DTYPE_BYTES[dtype];
  const rowBytes = width * eb;
  const elements = sel.elements ?? [[0, width] as Run];
  const cols = sum(elements);
  const rows = sum(sel.units);
  const step = blockRows(options.maxBytes ?? DEFAULT_BLOCK_BYTES, rowBytes, rows);
  for (let r = 0; r < rows; r += step) {
    const n = Math.min(step, rows - r);
    const bytes = new Uint8Array(n * cols * eb);
    let at = 0;
    for (const [f, c] of subRuns(sel.units, r, n)) {
      const src = await readRange(f * rowBytes, c * rowBytes);
      if (!sel.elements) bytes.set(src, at * rowBytes);
      else {
        for (let i = 0; i < c; i++) {
          let o = (at + i) * cols * eb;
          for (const [e0, ec] of elements) {
            bytes.set(src.subarray(i * rowBytes + e0 * eb, i * rowBytes + (e0 + ec) * eb), o);
            o += ec * eb;
          }
        }
      }
      at += c;
    }
    yield { row0: r, rows: n, col0: 0, cols, data: { dtype, bytes } };
  }
}
