/**
 * Reading part of a stored tensor. A selection names runs of units (rows of a row-major or a
 * layer-major tensor, 32-column blocks of a column-blocks one) and, for the row-addressed layouts,
 * runs of elements kept from every selected row. It becomes compact strided byte ranges of the shards
 * (one range per part and element run, however many rows it spans; for a layer-major tensor one per
 * part and layer the element runs touch), and its bytes are copied out of shard windows into tensor
 * data of the selection's own shape: Q8/Q4 data words and scale halves are moved group by group,
 * never dequantized. Also the span arithmetic the range loader plans requests with. Nothing here
 * knows Gemma: the caller says which units and elements it wants.
 */
import { CheckpointError } from '../errors.ts';
import { columnBlocksToRowMajor } from './encode.ts';
import { dataBytes, GROUP, isQuantized, scaleWordBytes, storedUnits, unitsOf, type ManifestTensor } from './manifest.ts';
import type { ShardReader, TensorData } from './types.ts';

/** [first, count]: a run of units or of elements. */
export type Run = readonly [first: number, count: number];

/** [start, end): bytes of one shard. */
export type Span = [start: number, end: number];

export interface TensorSelection {
  /** Runs of units, in output order: rows (row-major, layer-major) or 32-column blocks (column-blocks). */
  units: readonly Run[];
  /** Runs of elements kept from every selected row, in output order (not column-blocks; default: the whole row). */
  elements?: readonly Run[];
}

export interface NamedSelection {
  name: string;
  selection: TensorSelection;
}

/**
 * `count` runs of `length` bytes of one shard, `stride` bytes apart from `start`, in one region of a
 * part; run k is copied to `dest + k * destStride` of the same region of the output.
 */
export interface StridedRange {
  shard: number;
  /** Index of the tensor part the bytes lie in. */
  part: number;
  region: 'data' | 'scales';
  start: number;
  length: number;
  stride: number;
  count: number;
  dest: number;
  destStride: number;
}

/** Bytes of a shard between two offsets, from which exact runs are copied (throws for bytes it lacks). */
export interface ShardWindow {
  copy(start: number, length: number, into: Uint8Array, at: number): void;
}

export interface WindowSource {
  window(shard: number, start: number, end: number): Promise<ShardWindow>;
}

/**
 * The units a selection counts and the elements of each: a layer-major tensor is addressed by its
 * logical rows, like a row-major one; the others by their stored units.
 */
export function selectionUnits(t: ManifestTensor): { units: number; perUnit: number } {
  return t.layout === 'layer-major' ? unitsOf(t.shape, 'row-major') : storedUnits(t);
}

export function wholeSelection(t: ManifestTensor): TensorSelection {
  return { units: [[0, selectionUnits(t).units]] };
}

const sum = (runs: readonly Run[]): number => runs.reduce((a, r) => a + r[1], 0);

function outOfRange(t: ManifestTensor, what: string): never {
  throw new CheckpointError('out-of-range', `"${t.name}" [${t.shape.join(', ')}], ${t.dtype}, ${t.layout}: ${what}.`, { tensor: t.name });
}

/** Throw a typed error unless `sel` lies inside `t` and keeps Q8/Q4 groups whole (`stored`: in stored units). */
export function checkSelection(t: ManifestTensor, sel: TensorSelection, stored = false): void {
  const { units, perUnit } = stored ? storedUnits(t) : selectionUnits(t);
  const inside = (runs: readonly Run[], n: number) => runs.every(([f, c]) => Number.isSafeInteger(f) && Number.isSafeInteger(c) && f >= 0 && c >= 0 && f + c <= n);
  if (!inside(sel.units, units)) outOfRange(t, `unit runs ${JSON.stringify(sel.units)} are outside its ${units} units`);
  if (!sel.elements) return;
  if (t.layout === 'column-blocks') outOfRange(t, 'a column-blocks tensor is selected by whole 32-column blocks');
  if (!inside(sel.elements, perUnit)) outOfRange(t, `element runs ${JSON.stringify(sel.elements)} are outside its ${perUnit}-element units`);
  if (isQuantized(t.dtype) && sel.elements.some(([f, c]) => f % GROUP !== 0 || c % GROUP !== 0)) {
    outOfRange(t, `element runs ${JSON.stringify(sel.elements)} split ${GROUP}-element quantization groups`);
  }
}

/** The logical shape of the selected data: [rows, cols] (the tensor's own shape for a whole selection). */
export function selectionShape(t: ManifestTensor, sel: TensorSelection): number[] {
  const { units, perUnit } = selectionUnits(t);
  const n = sum(sel.units);
  const allUnits = sel.units.length === 1 && sel.units[0][0] === 0 && n === units;
  const allElements = !sel.elements || (sel.elements.length === 1 && sel.elements[0][0] === 0 && sel.elements[0][1] === perUnit);
  if (allUnits && allElements) return [...t.shape];
  if (t.layout === 'column-blocks') return [t.shape[0], n * GROUP];
  return [n, sel.elements ? sum(sel.elements) : perUnit];
}

/** The strided byte ranges holding `sel`, data and scales, with where each run goes in the output. */
export function selectionRanges(t: ManifestTensor, sel: TensorSelection): StridedRange[] {
  checkSelection(t, sel);
  if (t.layout !== 'layer-major') return unitRanges(t, sel);
  const V = selectionUnits(t).units;
  const runs = layerRuns(t, sel.elements);
  const C = sum(sel.elements ?? [[0, t.shape[1]]]);
  const out: StridedRange[] = [];
  let row = 0;
  for (const [f, c] of sel.units) {
    for (const r of runs) runRanges(t, [r.layer * V + f, c], [r.first, r.count], { row, col: r.col, width: C }, out);
    row += c;
  }
  return out;
}

/**
 * The element runs of a layer-major tensor cut at layer boundaries: each piece's layer, its first
 * element within that layer's columns, its length, and its column in the selection's output.
 */
export function layerRuns(t: ManifestTensor, elements: readonly Run[] = [[0, t.shape[1]]]): Array<{ layer: number; first: number; count: number; col: number }> {
  const P = t.layerColumns as number;
  const out: Array<{ layer: number; first: number; count: number; col: number }> = [];
  let col = 0;
  for (const [e0, ec] of elements) {
    for (let e = e0; e < e0 + ec; ) {
      const layer = Math.floor(e / P);
      const count = Math.min((layer + 1) * P, e0 + ec) - e;
      out.push({ layer, first: e - layer * P, count, col: col + e - e0 });
      e += count;
    }
    col += ec;
  }
  return out;
}

/** The ranges of a selection of stored units (the pieces of a part, see pieces.ts). */
export function unitRanges(t: ManifestTensor, sel: TensorSelection): StridedRange[] {
  checkSelection(t, sel, true);
  const { perUnit } = storedUnits(t);
  const elements: readonly Run[] = sel.elements ?? [[0, perUnit]];
  const C = sum(elements);
  const out: StridedRange[] = [];
  let row = 0;
  for (const units of sel.units) {
    let col = 0;
    for (const run of elements) {
      runRanges(t, units, run, { row, col, width: C }, out);
      col += run[1];
    }
    row += units[1];
  }
  return out;
}

/** Layer-major selections as selections of stored units, one per layer run touched (others: as they are). */
export function storedSelections(t: ManifestTensor, sel: TensorSelection): TensorSelection[] {
  if (t.layout !== 'layer-major') return [sel];
  const V = selectionUnits(t).units;
  return layerRuns(t, sel.elements).map((r) => ({ units: sel.units.map(([f, c]): Run => [r.layer * V + f, c]), elements: [[r.first, r.count]] }));
}

/**
 * Ranges of stored units [f, f + c), elements [e0, e0 + ec) of each, per part: row k of the run goes
 * to output row `to.row + k`, starting at element `to.col` of rows `to.width` elements wide.
 */
function runRanges(t: ManifestTensor, [f, c]: Run, [e0, ec]: Run, to: { row: number; col: number; width: number }, out: StridedRange[]): void {
  if (ec === 0 || c === 0) return;
  const { perUnit } = storedUnits(t);
  const half = (n: number) => (n / GROUP) * 2;
  const whole = ec === perUnit && to.width === perUnit;
  for (const [index, p] of t.parts.entries()) {
    const lo = Math.max(f, p.first);
    const hi = Math.min(f + c, p.first + p.count);
    if (lo >= hi) continue;
    const k = hi - lo;
    const u0 = (lo - p.first) * perUnit;
    const o0 = (to.row + lo - f) * to.width + to.col;
    const run = (region: StridedRange['region'], base: number, at: (n: number) => number): StridedRange => {
      const length = at(whole ? k * perUnit : ec);
      return { shard: p.shard, part: index, region, start: base + at(u0 + e0), length, stride: whole ? length : at(perUnit), count: whole ? 1 : k, dest: at(o0), destStride: whole ? length : at(to.width) };
    };
    out.push(run('data', p.offset, (n) => dataBytes(t.dtype, n)));
    if (p.scalesOffset !== undefined) out.push(run('scales', p.scalesOffset, half));
  }
}

/** Bytes a selection occupies in the shards (data and scale runs). */
export function selectionBytes(t: ManifestTensor, sel: TensorSelection): number {
  return selectionRanges(t, sel).reduce((a, r) => a + r.length * r.count, 0);
}

/** The runs of a strided range as spans, merged where they touch. */
export function rangeSpans(r: StridedRange): Span[] {
  if (r.count === 1 || r.stride === r.length) return [[r.start, r.start + r.stride * (r.count - 1) + r.length]];
  const out: Span[] = new Array(r.count);
  for (let k = 0; k < r.count; k++) out[k] = [r.start + k * r.stride, r.start + k * r.stride + r.length];
  return out;
}

/** The bytes from a range's first run to the end of its last. */
function envelope(r: StridedRange): Span {
  return [r.start, r.start + r.stride * (r.count - 1) + r.length];
}

/** Ranges grouped by the merged spans of their envelopes: one window each, never the gaps between them. */
function windowGroups(ranges: readonly StridedRange[]): Array<{ span: Span; ranges: StridedRange[] }> {
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  const out: Array<{ span: Span; ranges: StridedRange[] }> = [];
  for (const r of sorted) {
    const [s, e] = envelope(r);
    const last = out[out.length - 1];
    if (last && s <= last.span[1]) {
      last.span[1] = Math.max(last.span[1], e);
      last.ranges.push(r);
    } else out.push({ span: [s, e], ranges: [r] });
  }
  return out;
}

function byShard<T extends { shard: number }>(items: readonly T[]): Map<number, T[]> {
  const m = new Map<number, T[]>();
  for (const it of items) {
    const list = m.get(it.shard);
    if (list) list.push(it);
    else m.set(it.shard, [it]);
  }
  return m;
}

/**
 * Copy every run of `ranges` out of `source` into the output regions (`data`, `scales`) at its
 * `dest`: one window per group of ranges whose envelopes touch, so a read never spans the bytes
 * between a part's data and its scales, or between two layers' blocks.
 */
export async function copyRanges(ranges: readonly StridedRange[], source: WindowSource, data: Uint8Array, scales: Uint8Array | null): Promise<void> {
  for (const [shard, list] of byShard(ranges)) {
    for (const group of windowGroups(list)) {
      const w = await source.window(shard, group.span[0], group.span[1]);
      for (const r of group.ranges) {
        const into = r.region === 'data' ? data : (scales as Uint8Array);
        for (let k = 0; k < r.count; k++) w.copy(r.start + k * r.stride, r.length, into, r.dest + k * r.destStride);
      }
    }
  }
}

/**
 * The selected bytes as tensor data of shape selectionShape(t, sel), row-major: a column-blocks
 * selection is put back into [rows, 32 * blocks] order; Q8/Q4 scale halves are packed into words.
 */
export async function readSelection(t: ManifestTensor, sel: TensorSelection, source: WindowSource): Promise<TensorData> {
  const ranges = selectionRanges(t, sel);
  const shape = selectionShape(t, sel);
  const n = shape.reduce((a, b) => a * b, 1);
  const quant = isQuantized(t.dtype);
  let data: Uint8Array = new Uint8Array(dataBytes(t.dtype, n));
  let scales: Uint8Array | null = quant ? new Uint8Array(scaleWordBytes(n)) : null;
  await copyRanges(ranges, source, data, scales);
  if (t.layout === 'column-blocks') {
    const back = columnBlocksToRowMajor(t.dtype, shape[0], shape[1], data, scales ?? undefined);
    data = back.data;
    scales = back.scales ?? null;
  }
  if (t.dtype === 'Q8' || t.dtype === 'Q4') return { dtype: t.dtype, bytes: data, scales: scales as Uint8Array };
  if (t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16') return { dtype: t.dtype, bytes: data };
  throw new CheckpointError('bad-dtype', `"${t.name}" is ${t.dtype}; model weights must be F32, F16, BF16, Q8 or Q4.`, { tensor: t.name });
}

/** Windows read whole from a shard reader (local files, memory). */
export function shardReaderWindows(read: ShardReader): WindowSource {
  return {
    async window(shard, start, end) {
      const bytes = await read(shard, start, end - start);
      return { copy: (s, n, into, at) => into.set(bytes.subarray(s - start, s - start + n), at) };
    },
  };
}

/** A window over stored chunks (sorted by start, not overlapping); a run may cross adjacent chunks. */
export function chunkWindow(chunks: ReadonlyArray<{ start: number; bytes: Uint8Array }>, what: string): ShardWindow {
  const starts = chunks.map((c) => c.start);
  return {
    copy(start, length, into, at) {
      let i = upperBound(starts, start) - 1;
      let pos = start;
      const end = start + length;
      while (pos < end) {
        const c = chunks[i];
        if (!c || pos < c.start || pos >= c.start + c.bytes.length) throw new RangeError(`${what}: bytes [${pos}, ${end}) are not stored`);
        const take = Math.min(end, c.start + c.bytes.length) - pos;
        into.set(c.bytes.subarray(pos - c.start, pos - c.start + take), at + pos - start);
        pos += take;
        i++;
      }
    },
  };
}

/** First index whose value is greater than `x` in an ascending array. */
export function upperBound(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Sort spans and merge those that overlap or touch. */
export function mergeSpans(spans: readonly Span[]): Span[] {
  const sorted = spans.filter((s) => s[1] > s[0]).sort((a, b) => a[0] - b[0]);
  const out: Span[] = [];
  for (const [s, e] of sorted) {
    const last = out[out.length - 1];
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}

/** The parts of merged `want` that merged `have` does not cover. */
export function subtractSpans(want: readonly Span[], have: readonly Span[]): Span[] {
  const out: Span[] = [];
  const starts = have.map((h) => h[0]);
  for (const [s0, e] of want) {
    let s = s0;
    let i = Math.max(0, upperBound(starts, s) - 1);
    while (s < e) {
      const h = have[i];
      if (!h || h[0] >= e) {
        out.push([s, e]);
        break;
      }
      if (h[1] <= s) {
        i++;
        continue;
      }
      if (h[0] > s) out.push([s, h[0]]);
      s = h[1];
      i++;
    }
  }
  return out;
}

export function spanBytes(spans: readonly Span[]): number {
  return spans.reduce((a, [s, e]) => a + e - s, 0);
}

/**
 * Requests for merged spans: at most `max` of them. Spans that touch are already one; beyond `max`,
 * the smallest gaps are fetched too (their bytes are used only where they complete a verifiable piece).
 */
export function planRequests(spans: readonly Span[], max: number): Span[] {
  if (spans.length <= Math.max(1, max)) return spans.map((s) => [s[0], s[1]]);
  const gaps = spans.slice(1).map((s, i) => ({ i, size: s[0] - spans[i][1] }));
  gaps.sort((a, b) => a.size - b.size || a.i - b.i);
  const fill = new Set(gaps.slice(0, spans.length - Math.max(1, max)).map((g) => g.i));
  const out: Span[] = [[spans[0][0], spans[0][1]]];
  for (let i = 1; i < spans.length; i++) {
    if (fill.has(i - 1)) out[out.length - 1][1] = spans[i][1];
    else out.push([spans[i][0], spans[i][1]]);
  }
  return out;
}
