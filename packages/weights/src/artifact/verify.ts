/**
 * Artifact shards read through their hashes, wherever the bytes come from (a local directory, HTTP,
 * the IndexedDB read-through cache). Each shard is cut once, from the manifest alone, into units: a
 * hashed piece, or pieces whose byte envelopes interleave (element blocks of one part), or the whole
 * shard where a part has no piece hashes (manifest minor 0), checked against the shard's sha256.
 * A read is widened to the units it touches and fetched as one range (so a MatFormer slice still
 * fetches only its pieces), with a check that hashes each of their pieces: the source downloads bad
 * bytes once more and never caches them, a cached copy that no longer matches is dropped and
 * downloaded again, and bytes still bad are an IntegrityError naming the file, the piece and its byte
 * range. Each unit is asked of the source as its own range, whatever the read's extent, so a cache in
 * front of the files keeps one copy of each and `ahead` can make local exactly the ranges later reads
 * ask for. The last range read stays in memory, so the many small reads inside one piece (row blocks of
 * an embedding table) fetch and hash it once: reading a table in blocks holds one piece (at most a
 * part, so at most a shard), never the table.
 */
import { CheckpointError } from '../errors.ts';
import type { ByteSource, ReadCheck } from '../sources.ts';
import { readChecked } from '../sources.ts';
import { IntegrityError } from './errors.ts';
import { sha256Hex } from './hash.ts';
import type { Manifest } from './manifest.ts';
import { pieceBytes, pieceName, pieceSpans, shardPieces, type PieceRef } from './pieces.ts';
import { chunkWindow, rangeSpans, selectionRanges, type NamedSelection } from './ranges.ts';
import type { ShardReader } from './types.ts';

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
    // Overlapping envelopes (interleaved element blocks) share a unit.
    if (last && e.start < last.end) {
      last.end = Math.max(last.end, e.end);
      (last.pieces as PieceRef[]).push(e.p);
    } else {
      units.push({ start: e.start, end: e.end, pieces: [e.p] });
    }
  }
  return units;
}

/** A check of the bytes of `units` (read as one range from the first unit's start) against the manifest. */
function unitsCheck(manifest: Manifest, shard: number, units: readonly ReadUnit[]): ReadCheck {
  const file = manifest.shards[shard].file;
  const start = units[0].start;
  return async (bytes, from) => {
    const downloads = from.origin === 'network' ? from.attempt : 0;
    for (const unit of units) {
      if (!unit.pieces) {
        const actual = await sha256Hex(bytes.subarray(unit.start - start, unit.end - start));
        if (actual !== manifest.shards[shard].sha256) throw new IntegrityError(`${file} (bytes ${unit.start}..${unit.end - 1}, ${from.origin === 'file' ? 'the local file' : `read from the ${from.origin}`})`, manifest.shards[shard].sha256, actual, downloads);
        continue;
      }
      const w = chunkWindow([{ start, bytes }], file);
      for (const p of unit.pieces) {
        const grid = p.part.pieces;
        if (!grid) continue;
        const actual = await sha256Hex(await pieceBytes(p.tensor, p.part, grid, p.index, { window: async () => w }));
        if (actual !== grid.sha256[p.index]) {
          const spans = pieceSpans(p);
          const range = `bytes ${spans[0][0]}..${spans[spans.length - 1][1] - 1}`;
          throw new IntegrityError(`${file} (${pieceName(p)}, ${range}, ${from.origin === 'file' ? 'the local file' : `read from the ${from.origin}`})`, grid.sha256[p.index], actual, downloads);
        }
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

/** The read units that reads of some selections will read, ahead of those reads (see VerifiedShards.ahead). */
export interface ReadAhead {
  /** Bytes of those units: whole hashed pieces (whole shards where a part has no piece hashes). */
  bytes: number;
  /**
   * Make every unit local, one at a time, through its source's `keep` (a stored copy that passed its
   * check stays; anything else is downloaded, checked and stored), holding no more than one unit;
   * a source without `keep` reads and checks it. `onUnit` is told each unit's bytes and whether they
   * were in the cache. A piece still bad after a second download is an IntegrityError naming the
   * file, the piece and its byte range.
   */
  fetch(onUnit?: (bytes: number, fromCache: boolean) => void): Promise<void>;
}

export interface VerifiedShards {
  read: ShardReader;
  /** Read and check every unit of every shard (an eager verify on open). */
  verifyAll(): Promise<void>;
  /** The units reads of `selections` will read (by their byte ranges), to fetch ahead of them. */
  ahead(selections: readonly NamedSelection[]): ReadAhead;
}

/** Reads of the manifest's shards from `sources` (one per shard), every byte checked against the manifest. */
export function verifiedShards(manifest: Manifest, sources: readonly ByteSource[]): VerifiedShards {
  const units = new Map<number, ReadUnit[]>();
  const unitsOf = (shard: number): ReadUnit[] => {
    let u = units.get(shard);
    if (!u) units.set(shard, (u = shardUnits(manifest, shard)));
    return u;
  };
  let held: { shard: number; start: number; bytes: Uint8Array } | null = null;
  const readUnit = (shard: number, u: ReadUnit) => readChecked(sources[shard], u.start, u.end - u.start, unitsCheck(manifest, shard, [u]));
  /** The bytes of units [i, j) of `shard` (adjacent), each read as its own checked range (or from the range held). */
  const unitsBytes = async (shard: number, list: ReadUnit[], i: number, j: number): Promise<{ start: number; bytes: Uint8Array }> => {
    const start = list[i].start;
    const end = list[j - 1].end;
    if (held && held.shard === shard && held.start <= start && held.start + held.bytes.length >= end) return held;
    held = null;
    let bytes: Uint8Array;
    if (j - i === 1) bytes = await readUnit(shard, list[i]);
    else {
      bytes = new Uint8Array(end - start);
      for (let k = i; k < j; k++) bytes.set(await readUnit(shard, list[k]), list[k].start - start);
    }
    held = { shard, start, bytes };
    return held;
  };
  /** A view of the checked bytes (no copy: a read holds one unit, not two). */
  const read: ShardReader = async (shard, offset, length) => {
    if (length === 0) return new Uint8Array(0);
    let list = unitsOf(shard);
    const end = offset + length;
    let i = firstUnit(list, offset);
    // Bytes outside every piece (never read by the model): check them against the whole shard's hash.
    let covered = offset;
    let j = i;
    for (; j < list.length && list[j].start < end && covered >= list[j].start; j++) covered = list[j].end;
    if (covered < end) {
      list = [{ start: 0, end: manifest.shards[shard].bytes, pieces: null }];
      units.set(shard, list);
      [i, j] = [0, 1];
    }
    const got = await unitsBytes(shard, list, i, j);
    return got.bytes.subarray(offset - got.start, end - got.start);
  };
  const tensors = new Map(manifest.tensors.map((t) => [t.name, t]));
  return {
    read,
    async verifyAll() {
      for (let s = 0; s < manifest.shards.length; s++) {
        const list = unitsOf(s);
        for (let i = 0; i < list.length; i++) await unitsBytes(s, list, i, i + 1);
      }
      held = null;
    },
    ahead(selections) {
      // Per shard, the indices of the units any byte of the selections lies in.
      const wanted = new Map<number, Set<number>>();
      for (const { name, selection } of selections) {
        const t = tensors.get(name);
        if (!t) throw new CheckpointError('missing-tensor', `The artifact ${manifest.model.id}@${manifest.model.revision} has no tensor "${name}".`, { tensor: name });
        for (const r of selectionRanges(t, selection)) {
          const list = unitsOf(r.shard);
          let set = wanted.get(r.shard);
          if (!set) wanted.set(r.shard, (set = new Set()));
          for (const [a, b] of rangeSpans(r)) for (let i = firstUnit(list, a); i < list.length && list[i].start < b; i++) set.add(i);
        }
      }
      const todo = [...wanted].sort((x, y) => x[0] - y[0]).flatMap(([shard, set]) => [...set].sort((x, y) => x - y).map((i) => ({ shard, unit: unitsOf(shard)[i] })));
      return {
        bytes: todo.reduce((a, { unit }) => a + unit.end - unit.start, 0),
        async fetch(onUnit) {
          for (const { shard, unit } of todo) {
            const src = sources[shard];
            const [start, length] = [unit.start, unit.end - unit.start];
            const check = unitsCheck(manifest, shard, [unit]);
            let fromCache = false;
            if (src.keep) fromCache = await src.keep(start, length, check);
            else await readChecked(src, start, length, check);
            onUnit?.(length, fromCache);
          }
        },
      };
    },
  };
}
