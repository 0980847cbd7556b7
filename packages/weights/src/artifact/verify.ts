/**
 * Artifact shards read through their hashes, wherever the bytes come from (a local directory, HTTP,
 * the IndexedDB read-through cache). Each shard is cut once, from the manifest alone, into read units:
 * runs of whole hashed pieces (neighbours merged up to UNIT_BYTES, a piece larger than that alone),
 * or the whole shard where a part has no piece hashes (manifest minor 0), checked against the shard's
 * sha256. Every read fetches the units it touches whole, with a check that hashes each of their
 * pieces: the source downloads a bad unit once more and never caches bad bytes, a cached copy that
 * no longer matches is dropped and downloaded again, and a unit still bad is an IntegrityError that
 * names the file, the piece and its byte range. The last unit read stays in memory, so the many small
 * reads inside one piece (row blocks of an embedding table) fetch and hash it once.
 */
import type { ByteSource, ReadCheck } from '../sources.ts';
import { readChecked } from '../sources.ts';
import { IntegrityError } from './errors.ts';
import { sha256Hex } from './hash.ts';
import type { Manifest } from './manifest.ts';
import { pieceBytes, pieceName, pieceSpans, shardPieces, type PieceRef } from './pieces.ts';
import { chunkWindow } from './ranges.ts';
import type { ShardReader } from './types.ts';

/** Neighbouring pieces are read together up to this many bytes. */
export const UNIT_BYTES = 16 << 20;
/** Pieces this close (alignment padding) count as neighbours. */
const GAP_BYTES = 4096;

/** A run of a shard read and checked as one: its pieces, or null for the whole shard's sha256. */
export interface ReadUnit {
  start: number;
  end: number;
  pieces: PieceRef[] | null;
}

/** The read units of one shard, sorted by start, not overlapping. */
export function shardUnits(manifest: Manifest, shard: number): ReadUnit[] {
  const size = manifest.shards[shard].bytes;
  const parts = manifest.tensors.flatMap((t) => t.parts.filter((p) => p.shard === shard));
  if (parts.length === 0 || parts.some((p) => !p.pieces)) return [{ start: 0, end: size, pieces: null }];
  const envelopes = shardPieces(manifest.tensors, shard)
    .map((p) => {
      const spans = pieceSpans(p);
      return { start: spans[0][0], end: spans[spans.length - 1][1], p };
    })
    .sort((a, b) => a.start - b.start);
  const units: ReadUnit[] = [];
  for (const e of envelopes) {
    const last = units[units.length - 1];
    // Overlapping envelopes (interleaved element blocks) must share a unit; close neighbours may.
    if (last && (e.start < last.end || (e.start - last.end <= GAP_BYTES && Math.max(e.end, last.end) - last.start <= UNIT_BYTES))) {
      last.end = Math.max(last.end, e.end);
      (last.pieces as PieceRef[]).push(e.p);
    } else {
      units.push({ start: e.start, end: e.end, pieces: [e.p] });
    }
  }
  return units;
}

/** Whether `ranges` hold the manifest's sha256 for every byte (piece hashes, or the shard's). */
function unitCheck(manifest: Manifest, shard: number, unit: ReadUnit): ReadCheck {
  const file = manifest.shards[shard].file;
  return async (bytes, from) => {
    const downloads = from.origin === 'network' ? from.attempt : 0;
    if (!unit.pieces) {
      const actual = await sha256Hex(bytes);
      if (actual !== manifest.shards[shard].sha256) throw new IntegrityError(`${file} (bytes ${unit.start}..${unit.end - 1}, read from ${from.origin})`, manifest.shards[shard].sha256, actual, downloads);
      return;
    }
    const w = chunkWindow([{ start: unit.start, bytes }], file);
    for (const p of unit.pieces) {
      const grid = p.part.pieces;
      if (!grid) continue;
      const actual = await sha256Hex(await pieceBytes(p.tensor, p.part, grid, p.index, { window: async () => w }));
      if (actual !== grid.sha256[p.index]) {
        const spans = pieceSpans(p);
        const range = `bytes ${spans[0][0]}..${spans[spans.length - 1][1] - 1}`;
        throw new IntegrityError(`${file} (${pieceName(p)}, ${range}, read from ${from.origin})`, grid.sha256[p.index], actual, downloads);
      }
    }
  };
}

/** The first unit whose end is past `offset` (binary search). */
function firstUnit(units: ReadUnit[], offset: number): number {
  let lo = 0;
  let hi = units.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (units[mid].end <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface VerifiedShards {
  read: ShardReader;
  /** Read and check every unit of every shard (an eager verify on open). */
  verifyAll(): Promise<void>;
}

/** Reads of the manifest's shards from `sources` (one per shard), every byte checked against the manifest. */
export function verifiedShards(manifest: Manifest, sources: readonly ByteSource[]): VerifiedShards {
  const units = new Map<number, ReadUnit[]>();
  const unitsOf = (shard: number): ReadUnit[] => {
    let u = units.get(shard);
    if (!u) units.set(shard, (u = shardUnits(manifest, shard)));
    return u;
  };
  let held: { shard: number; unit: ReadUnit; bytes: Uint8Array } | null = null;
  const unitBytes = async (shard: number, unit: ReadUnit): Promise<Uint8Array> => {
    if (held && held.shard === shard && held.unit === unit) return held.bytes;
    held = null;
    const bytes = await readChecked(sources[shard], unit.start, unit.end - unit.start, unitCheck(manifest, shard, unit));
    held = { shard, unit, bytes };
    return bytes;
  };
  const read: ShardReader = async (shard, offset, length) => {
    const out = new Uint8Array(length);
    if (length === 0) return out;
    let list = unitsOf(shard);
    const end = offset + length;
    let i = firstUnit(list, offset);
    // Bytes outside every piece (never read by the model): check them against the whole shard's hash.
    let covered = offset;
    for (let j = i; j < list.length && list[j].start < end && covered >= list[j].start; j++) covered = list[j].end;
    if (covered < end) {
      list = [{ start: 0, end: manifest.shards[shard].bytes, pieces: null }];
      units.set(shard, list);
      i = 0;
    }
    for (; i < list.length && list[i].start < end; i++) {
      const u = list[i];
      const bytes = await unitBytes(shard, u);
      const from = Math.max(offset, u.start);
      const to = Math.min(end, u.end);
      out.set(bytes.subarray(from - u.start, to - u.start), from - offset);
    }
    return out;
  };
  return {
    read,
    async verifyAll() {
      for (let s = 0; s < manifest.shards.length; s++) for (const u of unitsOf(s)) await unitBytes(s, u);
      held = null;
    },
  };
}
