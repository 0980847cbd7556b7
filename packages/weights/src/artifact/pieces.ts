/**
 * Piece hashes (manifest minor 1): each part of a tensor is hashed by pieces, a grid of unit blocks
 * by element blocks (see manifest.ts), fine where a MatFormer slice cuts, so that bytes fetched by
 * ranges are verified without the rest of their shard. Which pieces a selection touches, their byte
 * ranges and bytes, the converter's grid, and the check.
 */
import { sha256Hex } from './hash.ts';
import { defaultCut, type SliceCut } from './plan.ts';
import { GROUP, isQuantized, pieceCount, storedUnits, type ManifestTensor, type PartPieces, type TensorPart } from './manifest.ts';
import { copyRanges, mergeSpans, rangeSpans, storedSelections, subtractSpans, unitRanges, type Run, type Span, type StridedRange, type TensorSelection, type WindowSource } from './ranges.ts';

/** One hashed piece of a part. */
export interface PieceRef {
  tensor: ManifestTensor;
  part: TensorPart;
  /** Index into part.pieces.sha256. */
  index: number;
}

/** The selection of one piece (its units clipped to the part, its element block). */
export function pieceSelection(t: ManifestTensor, part: TensorPart, grid: Pick<PartPieces, 'units' | 'elements'>, index: number): TensorSelection {
  const { perUnit } = storedUnits(t);
  const per = perUnit / grid.elements;
  const block = Math.floor(part.first / grid.units) + Math.floor(index / per);
  const lo = Math.max(part.first, block * grid.units);
  const hi = Math.min(part.first + part.count, (block + 1) * grid.units);
  const j = index % per;
  return grid.elements === perUnit ? { units: [[lo, hi - lo]] } : { units: [[lo, hi - lo]], elements: [[j * grid.elements, grid.elements]] };
}

/** A piece's byte ranges: its data runs then its scale runs, `dest` counting from the piece's first byte. */
export function pieceRanges(t: ManifestTensor, part: TensorPart, grid: Pick<PartPieces, 'units' | 'elements'>, index: number): StridedRange[] {
  const ranges = unitRanges(t, pieceSelection(t, part, grid, index));
  const dataLength = ranges.filter((r) => r.region === 'data').reduce((a, r) => a + r.length * r.count, 0);
  return ranges.map((r) => (r.region === 'scales' ? { ...r, region: 'data', dest: r.dest + dataLength } : r));
}

/** The bytes a piece hashes: data runs, then scale halves. */
export async function pieceBytes(t: ManifestTensor, part: TensorPart, grid: Pick<PartPieces, 'units' | 'elements'>, index: number, source: WindowSource): Promise<Uint8Array> {
  const ranges = pieceRanges(t, part, grid, index);
  const out = new Uint8Array(ranges.reduce((a, r) => a + r.length * r.count, 0));
  await copyRanges(ranges, source, out, null);
  return out;
}

/** sha256 of every piece of a part under `grid`, read from `source` (the converter, after writing a shard). */
export async function hashPieces(t: ManifestTensor, part: TensorPart, grid: Pick<PartPieces, 'units' | 'elements'>, source: WindowSource): Promise<PartPieces> {
  const { perUnit } = storedUnits(t);
  const sha256: string[] = [];
  for (let i = 0; i < pieceCount(part, grid.units, grid.elements, perUnit); i++) sha256.push(await sha256Hex(await pieceBytes(t, part, grid, i, source)));
  return { units: grid.units, elements: grid.elements, sha256 };
}

/** The hashed pieces `sel` touches (parts without piece hashes contribute none). */
export function selectionPieces(t: ManifestTensor, sel: TensorSelection): PieceRef[] {
  const out: PieceRef[] = [];
  const seen = new Set<string>();
  for (const stored of storedSelections(t, sel)) storedPieces(t, stored, seen, out);
  return out;
}

/** The pieces a selection of stored units touches, each once (`seen`). */
function storedPieces(t: ManifestTensor, sel: TensorSelection, seen: Set<string>, out: PieceRef[]): void {
  const { perUnit } = storedUnits(t);
  for (const part of t.parts) {
    const g = part.pieces;
    if (!g) continue;
    const per = perUnit / g.elements;
    const firstBlock = Math.floor(part.first / g.units);
    const blocks = new Set<number>();
    for (const [f, c] of sel.units) {
      const lo = Math.max(f, part.first);
      const hi = Math.min(f + c, part.first + part.count);
      for (let b = Math.floor(lo / g.units); lo < hi && b <= Math.floor((hi - 1) / g.units); b++) blocks.add(b - firstBlock);
    }
    const cols = new Set<number>();
    for (const [e0, ec] of sel.elements ?? [[0, perUnit] as Run]) for (let j = Math.floor(e0 / g.elements); ec > 0 && j <= Math.floor((e0 + ec - 1) / g.elements); j++) cols.add(j);
    for (const b of [...blocks].sort((x, y) => x - y)) {
      for (const j of [...cols].sort((x, y) => x - y)) {
        const key = `${part.shard}:${part.offset}:${b * per + j}`;
        if (seen.has(key)) continue;
        seen.add(key);
        out.push({ tensor: t, part, index: b * per + j });
      }
    }
  }
}

/** Every piece of every hashed part in `shard`. */
export function shardPieces(tensors: readonly ManifestTensor[], shard: number): PieceRef[] {
  const out: PieceRef[] = [];
  for (const t of tensors) {
    const { perUnit } = storedUnits(t);
    for (const part of t.parts) {
      if (part.shard !== shard || !part.pieces) continue;
      for (let i = 0; i < pieceCount(part, part.pieces.units, part.pieces.elements, perUnit); i++) out.push({ tensor: t, part, index: i });
    }
  }
  return out;
}

/** Bytes of a piece (data and scales). */
export function pieceSize(p: PieceRef): number {
  return pieceRanges(p.tensor, p.part, p.part.pieces as PartPieces, p.index).reduce((a, r) => a + r.length * r.count, 0);
}

/** Is every byte of the piece inside `have` (merged spans)? Checks each strided range's envelope first. */
export function pieceStored(p: PieceRef, have: readonly Span[]): boolean {
  const ranges = pieceRanges(p.tensor, p.part, p.part.pieces as PartPieces, p.index);
  const envelopes = mergeSpans(ranges.map((r): Span => [r.start, r.start + r.stride * (r.count - 1) + r.length]));
  return subtractSpans(envelopes, have).length === 0 || subtractSpans(mergeSpans(ranges.flatMap(rangeSpans)), have).length === 0;
}

/** The merged spans of a piece. */
export function pieceSpans(p: PieceRef): Span[] {
  return mergeSpans(pieceRanges(p.tensor, p.part, p.part.pieces as PartPieces, p.index).flatMap(rangeSpans));
}

/** Does `sha256(piece bytes)` match the manifest? */
export async function verifyPiece(p: PieceRef, source: WindowSource): Promise<{ ok: boolean; actual: string }> {
  const g = p.part.pieces as PartPieces;
  const actual = await sha256Hex(await pieceBytes(p.tensor, p.part, g, p.index, source));
  return { ok: actual === g.sha256[p.index], actual };
}

/** A readable name for a piece (in errors). */
export function pieceName(p: PieceRef): string {
  const sel = pieceSelection(p.tensor, p.part, p.part.pieces as PartPieces, p.index);
  const [f, c] = sel.units[0];
  const cols = sel.elements ? `, elements ${sel.elements[0][0]}..${sel.elements[0][0] + sel.elements[0][1] - 1}` : '';
  return `"${p.tensor.name}" units ${f}..${f + c - 1}${cols}`;
}

/** About this many pieces per MatFormer-sliceable FFN tensor (finer widths than 1/64 of the parent's fetch a little more). */
const FFN_PIECES = 64;

/** hidden_size_per_layer_input of a Gemma 3n config.json (nested or bare text config), or null. */
export function pleColumnsOf(config: unknown): number | null {
  const c = config as { text_config?: { hidden_size_per_layer_input?: unknown }; hidden_size_per_layer_input?: unknown } | null;
  const p = c?.text_config?.hidden_size_per_layer_input ?? c?.hidden_size_per_layer_input;
  return typeof p === 'number' && Number.isSafeInteger(p) && p > 0 ? p : null;
}

/**
 * The piece grid the converter hashes a tensor by: fine where a MatFormer slice cuts (FFN row and
 * column prefixes in steps of a 64th of the width, at least 32; each layer's PLE columns or block,
 * and its projection rows), one piece per part elsewhere.
 */
export function pieceGrid(t: ManifestTensor, config: unknown, cut: SliceCut = defaultCut(t.name)): Pick<PartPieces, 'units' | 'elements'> {
  const { units, perUnit } = storedUnits(t);
  const whole = { units: Math.max(units, 1), elements: Math.max(perUnit, 1) };
  if (t.shape.length !== 2 || units === 0 || perUnit === 0) return whole;
  if (t.layout === 'column-blocks') return { units: Math.max(1, Math.ceil(units / FFN_PIECES)), elements: perUnit };
  if (t.layout === 'layer-major') return { units: t.shape[0], elements: perUnit };
  if (cut === 'rows') return { units: GROUP * Math.max(1, Math.ceil(units / FFN_PIECES / GROUP)), elements: perUnit };
  const P = pleColumnsOf(config);
  if (P === null) return whole;
  if (cut === 'layer-columns' && perUnit % P === 0 && (!isQuantized(t.dtype) || P % GROUP === 0)) return { units, elements: P };
  if (cut === 'layer-rows' && units % P === 0) return { units: P, elements: perUnit };
  return whole;
}
