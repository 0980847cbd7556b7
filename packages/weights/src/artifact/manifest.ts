/**
 * The g3n artifact: `manifest.json` plus shard files. Every tensor is stored in the kernels' storage
 * format (F32/F16/BF16 little-endian; Q8/Q4 as the u32 data words, then the f16 scale pairs) in one or
 * more parts, each part a run of whole units along the tensor's major stored axis:
 *
 * - layout `row-major` (every other tensor): unit = one row of the last axis, stored as in the
 *   checkpoint. The first w rows of gate_proj / up_proj (a MatFormer width prefix) are the first w units.
 * - layout `column-blocks` (mlp.down_proj [D, I], I % 32 == 0): unit = one block of 32 columns, stored as
 *   [I/32][D][32]: column block c of every row, then block c + 1. A quantization group is exactly 32
 *   consecutive inputs of one row, so groups are moved whole and Q8/Q4 data and scales keep the kernel
 *   format group by group. The first w columns (w % 32 == 0) are the first w/32 units: one data range and
 *   one scale range per part. Readers put the groups back into [D, I] row-major.
 * - layout `layer-major` (embed_tokens_per_layer [V, L*P], written from minor 2 on): unit = the P
 *   elements of one row that feed one layer (`layerColumns` = P), stored as [L][V][P]: layer 0's columns
 *   of every row, then layer 1's. Unit l * V + v is row v of layer l, so each layer's block is V
 *   consecutive units: a slice that skips layers reads one range per kept layer (and part). Q8/Q4 groups
 *   run along P (P % 32 == 0), so they never straddle two layers. Readers give the table back as
 *   [V, L*P] row-major and select it by rows and columns like a row-major one.
 *
 * A part holds `count` units starting at unit `first`: `length` data bytes at `offset`, then (Q8/Q4)
 * `scalesLength` bytes of scale words at `scalesOffset`, each region starting on a 16-byte boundary.
 * Concatenating the parts' data (and scales) gives the whole tensor in stored order; every part but the
 * last holds an even number of groups, so the scale words concatenate too. `layout.layers[l]` lists the
 * byte ranges that hold layer l: its block of a layer-major table (one range per part it lies in, data
 * then scales), and its tensors (contiguous, the layers in order).
 *
 * Minor version 1 adds `pieces` to parts, so that a range of a tensor (a MatFormer slice) can be
 * verified without the rest of its shard: piece (i, j) is the part's units in [i * units, (i + 1) * units)
 * (absolute unit indices) by the elements [j * elements, (j + 1) * elements) of each of them; its data
 * bytes then (Q8/Q4) its scale bytes are hashed together. Manifests without `minor` (0) stay readable.
 * Minor version 2 adds the `layer-major` layout; row-major tables of older manifests read as before.
 */
import { DTYPE_BYTES, type SafetensorsDType } from '../safetensors.ts';
import { BadManifestError } from './errors.ts';

export const ARTIFACT_FORMAT = 'g3n-artifact';
export const ARTIFACT_VERSION = 1;
/** Minor format revision: 1 adds per-part piece hashes (older readers ignore them), 2 the layer-major layout. */
export const ARTIFACT_MINOR = 2;
export const MANIFEST_FILE = 'manifest.json';
export const GROUP = 32;
export const ALIGN = 16;

export type QuantName = 'q4' | 'q8' | 'f16' | 'bf16' | 'f32';
export type StoredDType = SafetensorsDType | 'Q8' | 'Q4';
export type TensorLayout = 'row-major' | 'column-blocks' | 'layer-major';

export interface TensorPart {
  shard: number;
  first: number;
  count: number;
  offset: number;
  length: number;
  scalesOffset?: number;
  scalesLength?: number;
  /** Piece hashes (minor >= 1), see the module comment. */
  pieces?: PartPieces;
}

/** The sha256 of each piece of a part: a grid of `units` units by `elements` elements of each unit. */
export interface PartPieces {
  units: number;
  elements: number;
  /** Unit blocks in order, element blocks within each: floor(first / units) .. floor((first + count - 1) / units). */
  sha256: string[];
}

export interface ManifestTensor {
  name: string;
  dtype: StoredDType;
  /** The dtype in the source checkpoint. */
  source: SafetensorsDType;
  /** The logical shape, as the model uses it ([out, in] for linear weights). */
  shape: number[];
  layer: number | null;
  layout: TensorLayout;
  /** Layer-major only: the columns of each layer's block (P). */
  layerColumns?: number;
  parts: TensorPart[];
}

export interface ManifestShard {
  file: string;
  bytes: number;
  sha256: string;
}

export interface ByteRange {
  shard: number;
  start: number;
  end: number;
}

export interface Manifest {
  format: typeof ARTIFACT_FORMAT;
  version: typeof ARTIFACT_VERSION;
  /** Minor format revision; absent (0) in manifests written before piece hashes. */
  minor?: number;
  model: { id: string; revision: string };
  /** The Hugging Face config.json object, unchanged. */
  config: Record<string, unknown>;
  quant: QuantName;
  tensors: ManifestTensor[];
  shards: ManifestShard[];
  totalBytes: number;
  layout: { alignment: number; groupSize: number; layers: Record<string, ByteRange[]> };
}

export const QUANT_NAMES: readonly QuantName[] = ['q4', 'q8', 'f16', 'bf16', 'f32'];
const STORED_DTYPES: ReadonlySet<string> = new Set([...Object.keys(DTYPE_BYTES), 'Q8', 'Q4']);

export function alignUp(n: number, a = ALIGN): number {
  return Math.ceil(n / a) * a;
}

export function isQuantized(dtype: StoredDType): dtype is 'Q8' | 'Q4' {
  return dtype === 'Q8' || dtype === 'Q4';
}

/** Bytes `n` elements take in `dtype` (Q4: two per byte; n is even wherever Q4 is used). */
export function dataBytes(dtype: StoredDType, n: number): number {
  if (dtype === 'Q8') return n;
  if (dtype === 'Q4') return Math.ceil(n / 2);
  return n * DTYPE_BYTES[dtype];
}

/** Bytes of the f16 scale words for `n` quantized elements (one f16 per group, two per u32). */
export function scaleWordBytes(n: number): number {
  return 4 * Math.ceil(n / GROUP / 2);
}

/** Number of stored units and the elements in each (see the module comment); `layerColumns` for layer-major. */
export function unitsOf(shape: readonly number[], layout: TensorLayout, layerColumns = 0): { units: number; perUnit: number } {
  const cols = shape.length ? shape[shape.length - 1] : 1;
  const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  if (layout === 'column-blocks') return { units: cols / GROUP, perUnit: rows * GROUP };
  if (layout === 'layer-major') {
    if (!(layerColumns > 0)) throw new RangeError('a layer-major tensor needs its layerColumns');
    return { units: rows * (cols / layerColumns), perUnit: layerColumns };
  }
  return { units: rows, perUnit: cols };
}

/** unitsOf a manifest tensor. */
export function storedUnits(t: Pick<ManifestTensor, 'shape' | 'layout' | 'layerColumns'>): { units: number; perUnit: number } {
  return unitsOf(t.shape, t.layout, t.layerColumns);
}

/** Data and scale bytes of `count` units (before each region is padded to the alignment). */
export function partBytes(dtype: StoredDType, perUnit: number, count: number): { data: number; scales: number } {
  const n = perUnit * count;
  return { data: dataBytes(dtype, n), scales: isQuantized(dtype) ? scaleWordBytes(n) : 0 };
}

/**
 * The byte ranges holding the first `count` units of a tensor (rows of gate/up, 32-column blocks of
 * down_proj): per part touched, its data prefix and, for Q8/Q4, its scale prefix.
 */
export function prefixRanges(t: ManifestTensor, count: number): ByteRange[] {
  const { perUnit } = storedUnits(t);
  const out: ByteRange[] = [];
  for (const p of t.parts) {
    const k = Math.min(count - p.first, p.count);
    if (k <= 0) break;
    const n = perUnit * k;
    out.push({ shard: p.shard, start: p.offset, end: p.offset + dataBytes(t.dtype, n) });
    if (p.scalesOffset !== undefined) out.push({ shard: p.shard, start: p.scalesOffset, end: p.scalesOffset + Math.ceil(n / GROUP) * 2 });
  }
  return out;
}

type Obj = Record<string, unknown>;

function isRecord(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isPlainFile(v: unknown): v is string {
  return typeof v === 'string' && /^[A-Za-z0-9._-]+$/.test(v) && v !== '.' && v !== '..';
}

/** Validate parsed manifest JSON: every field, every size, no region outside its shard or overlapping another. */
export function parseManifest(json: unknown, file = MANIFEST_FILE): Manifest {
  const bad = (field: string, what: string): never => {
    throw new BadManifestError(field, what, file);
  };
  if (!isRecord(json)) bad('(root)', 'is not a JSON object');
  const m = json as Obj;
  if (m.format !== ARTIFACT_FORMAT) bad('format', `is ${JSON.stringify(m.format)}, not "${ARTIFACT_FORMAT}"`);
  if (m.version !== ARTIFACT_VERSION) bad('version', `is ${JSON.stringify(m.version)}; this runtime reads version ${ARTIFACT_VERSION}`);
  if (m.minor !== undefined && !isCount(m.minor)) bad('minor', `is ${JSON.stringify(m.minor)}, not a non-negative integer`);
  const model = m.model;
  if (!isRecord(model) || typeof model.id !== 'string' || model.id === '' || typeof model.revision !== 'string' || model.revision === '') {
    bad('model', 'must be { id, revision } with non-empty strings');
  }
  if (!isRecord(m.config)) bad('config', 'must be the config.json object');
  if (!QUANT_NAMES.includes(m.quant as QuantName)) bad('quant', `is ${JSON.stringify(m.quant)}, not one of ${QUANT_NAMES.join(', ')}`);
  if (!Array.isArray(m.shards) || m.shards.length === 0) bad('shards', 'must be a non-empty list');
  const shards = (m.shards as unknown[]).map((s, i): ManifestShard => {
    if (!isRecord(s) || !isPlainFile(s.file) || !isCount(s.bytes) || typeof s.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(s.sha256)) {
      return bad(`shards[${i}]`, 'must be { file: a plain file name, bytes: integer >= 0, sha256: 64 lowercase hex digits }');
    }
    return { file: s.file, bytes: s.bytes, sha256: s.sha256 };
  });
  if (new Set(shards.map((s) => s.file)).size !== shards.length) bad('shards', 'lists a file twice');
  const total = shards.reduce((a, s) => a + s.bytes, 0);
  if (m.totalBytes !== total) bad('totalBytes', `is ${JSON.stringify(m.totalBytes)}, the shards add up to ${total}`);
  if (!Array.isArray(m.tensors)) bad('tensors', 'must be a list');
  const regions: Array<{ shard: number; start: number; end: number; what: string }> = [];
  const names = new Set<string>();
  const tensors = (m.tensors as unknown[]).map((t, i) => parseTensor(t, `tensors[${i}]`, shards, regions, bad));
  for (const t of tensors) {
    if (names.has(t.name)) bad('tensors', `lists "${t.name}" twice`);
    names.add(t.name);
  }
  regions.sort((a, b) => a.shard - b.shard || a.start - b.start);
  for (let i = 1; i < regions.length; i++) {
    const [p, r] = [regions[i - 1], regions[i]];
    if (p.shard === r.shard && r.start < p.end) bad(r.what, `overlaps ${p.what} in ${shards[r.shard].file}`);
  }
  const layout = m.layout;
  if (!isRecord(layout) || layout.alignment !== ALIGN || layout.groupSize !== GROUP || !isRecord(layout.layers)) {
    bad('layout', `must be { alignment: ${ALIGN}, groupSize: ${GROUP}, layers: { [layer]: ranges } }`);
  }
  const layers: Record<string, ByteRange[]> = {};
  for (const [l, ranges] of Object.entries((layout as Obj).layers as Obj)) {
    if (!/^\d+$/.test(l) || !Array.isArray(ranges)) bad(`layout.layers.${l}`, 'must be a list of byte ranges keyed by layer index');
    layers[l] = (ranges as unknown[]).map((r, j) => {
      if (!isRecord(r) || !isCount(r.shard) || r.shard >= shards.length || !isCount(r.start) || !isCount(r.end) || r.start > r.end || r.end > shards[r.shard].bytes) {
        return bad(`layout.layers.${l}[${j}]`, 'must be { shard, start, end } inside that shard');
      }
      return { shard: r.shard, start: r.start, end: r.end };
    });
  }
  return {
    format: ARTIFACT_FORMAT,
    version: ARTIFACT_VERSION,
    minor: (m.minor as number | undefined) ?? 0,
    model: { id: (model as Obj).id as string, revision: (model as Obj).revision as string },
    config: m.config as Obj,
    quant: m.quant as QuantName,
    tensors,
    shards,
    totalBytes: total,
    layout: { alignment: ALIGN, groupSize: GROUP, layers },
  };
}

function parseTensor(
  t: unknown,
  where: string,
  shards: ManifestShard[],
  regions: Array<{ shard: number; start: number; end: number; what: string }>,
  bad: (field: string, what: string) => never,
): ManifestTensor {
  if (!isRecord(t) || typeof t.name !== 'string' || t.name === '') bad(where, 'must be an object with a non-empty "name"');
  const o = t as Obj;
  const at = `${where} ("${o.name as string}")`;
  if (!STORED_DTYPES.has(o.dtype as string)) bad(`${at}.dtype`, `${JSON.stringify(o.dtype)} is not a known dtype`);
  if (!Object.hasOwn(DTYPE_BYTES, o.source as string)) bad(`${at}.source`, `${JSON.stringify(o.source)} is not a safetensors dtype`);
  if (!Array.isArray(o.shape) || !o.shape.every(isCount)) bad(`${at}.shape`, 'must be a list of non-negative integers');
  if (o.layer !== null && !isCount(o.layer)) bad(`${at}.layer`, 'must be a layer index or null');
  if (o.layout !== 'row-major' && o.layout !== 'column-blocks' && o.layout !== 'layer-major') bad(`${at}.layout`, 'must be "row-major", "column-blocks" or "layer-major"');
  const dtype = o.dtype as StoredDType;
  const shape = o.shape as number[];
  const layout = o.layout as TensorLayout;
  if (layout === 'column-blocks' && (shape.length !== 2 || shape[1] % GROUP !== 0)) bad(`${at}.layout`, `column-blocks needs a 2-D shape with a multiple of ${GROUP} columns`);
  if (layout === 'layer-major') {
    if (!isCount(o.layerColumns) || o.layerColumns === 0 || shape.length !== 2 || shape[1] % o.layerColumns !== 0) {
      bad(`${at}.layerColumns`, 'must be a positive integer dividing the columns of a 2-D layer-major tensor');
    }
  } else if (o.layerColumns !== undefined) {
    bad(`${at}.layerColumns`, 'is only for layer-major tensors');
  }
  const layerColumns = layout === 'layer-major' ? (o.layerColumns as number) : undefined;
  const { units, perUnit } = unitsOf(shape, layout, layerColumns);
  if (isQuantized(dtype) && perUnit % GROUP !== 0) bad(`${at}.dtype`, `${dtype} needs units of whole ${GROUP}-element groups`);
  if (!Array.isArray(o.parts) || o.parts.length === 0) bad(`${at}.parts`, 'must be a non-empty list');
  let next = 0;
  const parts = (o.parts as unknown[]).map((p, j): TensorPart => {
    const pw = `${at}.parts[${j}]`;
    if (!isRecord(p) || !isCount(p.shard) || p.shard >= shards.length || !isCount(p.first) || !isCount(p.count) || !isCount(p.offset) || !isCount(p.length)) {
      return bad(pw, 'must be { shard, first, count, offset, length } with integers and a listed shard');
    }
    if (p.first !== next) bad(`${pw}.first`, `is ${p.first}; the previous parts end at unit ${next}`);
    next += p.count;
    const want = partBytes(dtype, perUnit, p.count);
    if (p.length !== want.data) bad(`${pw}.length`, `is ${p.length}; ${p.count} units of ${perUnit} ${dtype} elements take ${want.data}`);
    const last = j === (o.parts as unknown[]).length - 1;
    if (isQuantized(dtype) && !last && ((perUnit * p.count) / GROUP) % 2 !== 0) bad(pw, 'holds an odd number of groups but is not the last part');
    const part: TensorPart = { shard: p.shard, first: p.first, count: p.count, offset: p.offset, length: p.length };
    regions.push({ shard: p.shard, start: p.offset, end: p.offset + p.length, what: `${pw} data` });
    if (isQuantized(dtype)) {
      if (!isCount(p.scalesOffset) || p.scalesLength !== want.scales) bad(pw, `needs scalesOffset and scalesLength = ${want.scales} for ${dtype}`);
      part.scalesOffset = p.scalesOffset as number;
      part.scalesLength = want.scales;
      regions.push({ shard: p.shard, start: part.scalesOffset, end: part.scalesOffset + want.scales, what: `${pw} scales` });
    } else if (p.scalesOffset !== undefined || p.scalesLength !== undefined) {
      bad(pw, `has scales but ${dtype} is not quantized`);
    }
    for (const [start, len] of [[part.offset, part.length], [part.scalesOffset ?? 0, part.scalesLength ?? 0]]) {
      if (start + len > shards[part.shard].bytes) bad(pw, `reaches byte ${start + len} of ${shards[part.shard].file}, which has ${shards[part.shard].bytes}`);
    }
    if (p.pieces !== undefined) part.pieces = parsePieces(p.pieces, `${pw}.pieces`, dtype, perUnit, part, bad);
    return part;
  });
  if (next !== units) bad(`${at}.parts`, `cover ${next} units; shape [${shape.join(', ')}] has ${units}`);
  const out: ManifestTensor = { name: o.name as string, dtype, source: o.source as SafetensorsDType, shape: [...shape], layer: o.layer as number | null, layout, parts };
  if (layerColumns !== undefined) out.layerColumns = layerColumns;
  return out;
}

/** Number of pieces of a part under a piece grid: unit blocks touched times element blocks per unit. */
export function pieceCount(part: Pick<TensorPart, 'first' | 'count'>, units: number, elements: number, perUnit: number): number {
  if (part.count === 0) return 0;
  const blocks = Math.floor((part.first + part.count - 1) / units) - Math.floor(part.first / units) + 1;
  return blocks * (perUnit / elements);
}

function parsePieces(v: unknown, where: string, dtype: StoredDType, perUnit: number, part: TensorPart, bad: (field: string, what: string) => never): PartPieces {
  if (!isRecord(v) || !isCount(v.units) || v.units < 1 || !isCount(v.elements) || v.elements < 1 || !Array.isArray(v.sha256)) {
    return bad(where, 'must be { units: integer >= 1, elements: integer >= 1, sha256: [hex digests] }');
  }
  const { units, elements } = v as { units: number; elements: number };
  if (perUnit % elements !== 0) bad(`${where}.elements`, `is ${elements}, which does not divide the ${perUnit} elements of a unit`);
  if (isQuantized(dtype) && elements % GROUP !== 0) bad(`${where}.elements`, `is ${elements}; ${dtype} pieces need whole ${GROUP}-element groups`);
  const want = pieceCount(part, units, elements, perUnit);
  const hashes = v.sha256 as unknown[];
  if (hashes.length !== want || !hashes.every((h) => typeof h === 'string' && /^[0-9a-f]{64}$/.test(h))) {
    bad(`${where}.sha256`, `must list ${want} sha256 digests (64 lowercase hex digits each)`);
  }
  return { units, elements, sha256: hashes as string[] };
}
