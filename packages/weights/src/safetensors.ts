/**
 * safetensors: an 8-byte little-endian header length N, N bytes of JSON
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__"?: { str: str } }`, then the
 * raw little-endian tensor data, offsets relative to the end of the header. Every field is checked
 * here, before a single tensor byte is read.
 */
import { CheckpointError } from './errors.ts';
import type { ByteSource } from './sources.ts';

export type SafetensorsDType = 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I8' | 'U8' | 'F64' | 'BOOL';

export const DTYPE_BYTES: Readonly<Record<SafetensorsDType, number>> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I8: 1, U8: 1, BOOL: 1 };

/** The safetensors reference implementation refuses larger headers. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Absolute byte offsets in `file`: [start, end). */
  start: number;
  end: number;
  file: string;
}

export interface SafetensorsHeader {
  headerLength: number;
  dataStart: number;
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string> | null;
}

export interface SafetensorsFile {
  source: ByteSource;
  header: SafetensorsHeader;
  /** Raw little-endian bytes of one tensor. */
  readTensor(name: string): Promise<Uint8Array>;
}

function fail(kind: ConstructorParameters<typeof CheckpointError>[0], file: string, what: string, tensor?: string): never {
  const where = tensor === undefined ? file : `${file}, tensor "${tensor}"`;
  throw new CheckpointError(kind, `${where}: ${what}. The file is damaged or not a safetensors file; download or convert it again.`, tensor === undefined ? { file } : { file, tensor });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Length of the JSON header, from the first 8 bytes; checked against the file size. */
export function readHeaderLength(first8: Uint8Array, fileSize: number, fileName: string): number {
  if (fileSize < 8 || first8.length < 8) fail('truncated', fileName, `${Math.min(fileSize, first8.length)} bytes, shorter than the 8-byte header length`);
  const view = new DataView(first8.buffer, first8.byteOffset, 8);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  if (hi !== 0 || lo > MAX_HEADER_BYTES) fail('header-length', fileName, `header length ${hi ? `${hi} * 2^32 + ${lo}` : lo} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (8 + lo > fileSize) fail('header-length', fileName, `header length ${lo} runs past the end of the ${fileSize}-byte file`);
  return lo;
}

/** Parse and validate the header; `prefix` holds at least the first 8 + headerLength bytes. */
export function parseSafetensorsHeader(prefix: Uint8Array, fileSize: number, fileName: string): SafetensorsHeader {
  const headerLength = readHeaderLength(prefix, fileSize, fileName);
  const dataStart = 8 + headerLength;
  if (prefix.length < dataStart) fail('truncated', fileName, `only ${prefix.length} of the ${dataStart} header bytes were given`);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(prefix.subarray(8, dataStart)));
  } catch (e) {
    fail('header-json', fileName, `header is not valid UTF-8 JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!isRecord(json)) fail('header-json', fileName, 'header is not a JSON object');

  let metadata: Record<string, string> | null = null;
  const entries: TensorEntry[] = [];
  for (const [name, info] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isRecord(info) || !Object.values(info).every((v) => typeof v === 'string')) fail('header-json', fileName, '__metadata__ is not a string-to-string map');
      metadata = info as Record<string, string>;
      continue;
    }
    entries.push(parseEntry(name, info, dataStart, fileName));
  }
  checkLayout(entries, dataStart, fileSize, fileName);
  return { headerLength, dataStart, tensors: new Map(entries.map((e) => [e.name, e])), metadata };
}

function parseEntry(name: string, info: unknown, dataStart: number, file: string): TensorEntry {
  if (!isRecord(info)) fail('header-json', file, 'header entry is not an object', name);
  const { dtype, shape, data_offsets: offsets } = info;
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, dtype)) fail('unknown-dtype', file, `unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPE_BYTES).join(', ')})`, name);
  if (!Array.isArray(shape) || !shape.every(isCount)) fail('bad-shape', file, `shape ${JSON.stringify(shape)} is not a list of non-negative integers`, name);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
    fail('bad-offsets', file, `data_offsets ${JSON.stringify(offsets)} are not [begin, end] with 0 <= begin <= end`, name);
  }
  const [begin, end] = offsets as [number, number];
  const dt = dtype as SafetensorsDType;
  const numel = (shape as number[]).reduce((a, b) => a * b, 1);
  if (numel * DTYPE_BYTES[dt] !== end - begin) {
    fail('size-mismatch', file, `${end - begin} data bytes, but ${dt} ${JSON.stringify(shape)} needs ${numel * DTYPE_BYTES[dt]}`, name);
  }
  return { name, dtype: dt, shape: [...(shape as number[])], start: dataStart + begin, end: dataStart + end, file };
}

/** No two tensors share a byte; every tensor lies inside the file. */
function checkLayout(entries: TensorEntry[], dataStart: number, fileSize: number, file: string): void {
  const sorted = [...entries].sort((a, b) => a.start - b.start || a.end - b.end);
  let last: TensorEntry | undefined;
  let contiguous = true;
  let cursor = dataStart;
  for (const e of sorted) {
    if (e.start !== cursor) contiguous = false;
    cursor = Math.max(cursor, e.end);
    if (e.end === e.start) continue;
    const prev = last;
    if (prev !== undefined && e.start < prev.end) {
      fail('overlap', file, `data [${e.start - dataStart}, ${e.end - dataStart}) overlaps "${prev.name}" [${prev.start - dataStart}, ${prev.end - dataStart})`, e.name);
    }
    if (prev === undefined || e.end > prev.end) last = e;
  }
  const dataLength = fileSize - dataStart;
  if (cursor <= fileSize) return;
  if (contiguous) {
    fail('truncated', file, `the header describes ${cursor - dataStart} data bytes but the file holds only ${dataLength}: it was cut short`);
  }
  const first = sorted.find((e) => e.end > fileSize) as TensorEntry;
  fail('out-of-range', file, `data [${first.start - dataStart}, ${first.end - dataStart}) lies past the end of the ${dataLength}-byte data region`, first.name);
}

/** Read and validate the header of one safetensors file (two reads: the length, then the JSON). */
export async function openSafetensors(source: ByteSource): Promise<SafetensorsFile> {
  const fileSize = await source.size();
  const first8 = await source.read(0, Math.min(8, fileSize));
  const headerLength = readHeaderLength(first8, fileSize, source.name);
  const json = await source.read(8, headerLength);
  const prefix = new Uint8Array(8 + headerLength);
  prefix.set(first8);
  prefix.set(json, 8);
  const header = parseSafetensorsHeader(prefix, fileSize, source.name);
  return {
    source,
    header,
    async readTensor(name: string): Promise<Uint8Array> {
      const e = header.tensors.get(name);
      if (!e) throw new CheckpointError('missing-tensor', `${source.name} has no tensor "${name}".`, { file: source.name, tensor: name });
      const bytes = await source.read(e.start, e.end - e.start);
      if (bytes.length !== e.end - e.start) fail('truncated', source.name, `read ${bytes.length} of ${e.end - e.start} bytes`, name);
      return bytes;
    },
  };
}

export interface TensorToWrite {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Raw little-endian bytes. */
  data: Uint8Array;
}

/**
 * Serialize tensors as one safetensors file (sorted by name, header space-padded to 8 bytes, like
 * the reference writer). For tests and tools.
 */
export function writeSafetensors(tensors: TensorToWrite[], metadata: Record<string, string> | null = null): Uint8Array {
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const t of sorted) {
    const need = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];
    if (need !== t.data.length) throw new CheckpointError('size-mismatch', `writeSafetensors: "${t.name}" has ${t.data.length} bytes, ${t.dtype} ${JSON.stringify(t.shape)} needs ${need}.`, { tensor: t.name });
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  if (metadata) header.__metadata__ = metadata;
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of sorted) {
    out.set(t.data, at);
    at += t.data.length;
  }
  return out;
}
