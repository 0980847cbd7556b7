/**
 * A Hugging Face checkpoint folder: config.json plus model.safetensors, or shards listed in
 * model.safetensors.index.json (`weight_map`: tensor name -> shard file).
 */
import { CheckpointError } from './errors.ts';
import { openSafetensors, type SafetensorsFile, type TensorEntry } from './safetensors.ts';
import { readChecked, type ByteOrigin, type ByteSource, type FileSource } from './sources.ts';

export const CONFIG_FILE = 'config.json';
export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';

/** JSON side files (config, index) larger than this are refused rather than read. */
const MAX_JSON_BYTES = 64 << 20;

export interface Checkpoint {
  /** The parsed config.json, unvalidated (see parseConfig in @g3n/gemma3n). */
  config: unknown;
  tensors: Map<string, TensorEntry>;
  /** Raw little-endian bytes of one tensor. */
  read(name: string): Promise<Uint8Array>;
  /** `byteLength` bytes starting `byteOffset` bytes into one tensor (a row range, a MatFormer slice). */
  readRange(name: string, byteOffset: number, byteLength: number): Promise<Uint8Array>;
  /** One float tensor as f32: BF16 exactly (bits << 16), F16 and F64 converted, F32 copied. */
  readF32(name: string): Promise<Float32Array>;
}

async function openRequired(files: FileSource, path: string, why: string): Promise<ByteSource> {
  const src = await files.open(path);
  if (!src) throw new CheckpointError('missing-file', `${files.base}: ${path} not found (${why}). Point the loader at a complete checkpoint folder.`, { file: path });
  return src;
}

/** Where bytes came from, for a message about them. */
export function originText(from: { origin: ByteOrigin; attempt: number }): string {
  if (from.origin === 'cache') return 'read from the browser cache, which no longer keeps it';
  if (from.origin === 'network') return `downloaded ${from.attempt > 1 ? `${from.attempt} times` : 'once'}, not cached`;
  return 'read from the local file';
}

/**
 * A JSON side file (config.json, tokenizer.json, an index), parsed as strict UTF-8. Bad bytes are never
 * kept: a cached copy that does not parse is dropped and downloaded again, a download that does not
 * parse is fetched once more and not cached; the error says where the bytes came from.
 */
export async function readJsonFile(src: ByteSource, name = src.name): Promise<unknown> {
  const size = await src.size();
  if (size > MAX_JSON_BYTES) throw new CheckpointError('bad-json', `${name}: ${size} bytes is too large for a JSON side file.`, { file: name });
  let value: unknown;
  await readChecked(src, 0, size, (bytes, from) => {
    try {
      value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    } catch (e) {
      throw new CheckpointError('bad-json', `${name} is not valid JSON (${e instanceof Error ? e.message : String(e)}; ${originText(from)}). Fix or replace the file, then load again.`, { file: name, origin: from.origin });
    }
  });
  return value;
}

const readJson = (src: ByteSource) => readJsonFile(src);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The weight_map of an index file, validated: names map to plain relative .safetensors paths. */
function weightMap(json: unknown, file: string): Map<string, string> {
  const wm = isRecord(json) ? json.weight_map : undefined;
  const bad = (what: string): never => {
    throw new CheckpointError('bad-index', `${file}: ${what}. Download the index again.`, { file });
  };
  if (!isRecord(wm)) return bad('no "weight_map" object');
  const out = new Map<string, string>();
  for (const [name, shard] of Object.entries(wm)) {
    if (typeof shard !== 'string' || shard === '' || shard.startsWith('/') || shard.split(/[\\/]/).includes('..')) {
      bad(`tensor "${name}" maps to ${JSON.stringify(shard)}, not a file in this folder`);
    }
    out.set(name, shard as string);
  }
  return out;
}

export async function openCheckpoint(files: FileSource): Promise<Checkpoint> {
  const config = await readJson(await openRequired(files, CONFIG_FILE, 'every checkpoint needs its config'));
  const shards = new Map<string, SafetensorsFile>();
  const tensors = new Map<string, TensorEntry>();
  const indexSource = await files.open(INDEX_FILE);
  if (indexSource) {
    const wm = weightMap(await readJson(indexSource), INDEX_FILE);
    const names = [...new Set(wm.values())].sort();
    const opened = await Promise.all(names.map(async (n) => openSafetensors(await openRequired(files, n, `listed in ${INDEX_FILE}`))));
    names.forEach((n, i) => shards.set(n, opened[i]));
    for (const [name, shard] of wm) {
      const entry = shards.get(shard)?.header.tensors.get(name);
      if (!entry) throw new CheckpointError('index-mismatch', `${INDEX_FILE} puts "${name}" in ${shard}, which has no such tensor. The index and the shards come from different downloads.`, { file: shard, tensor: name });
      tensors.set(name, { ...entry, file: shard });
    }
    for (const [shard, f] of shards) {
      for (const name of f.header.tensors.keys()) {
        if (wm.get(name) !== shard) {
          const where = wm.has(name) ? `maps it to ${wm.get(name)}` : 'does not list it';
          throw new CheckpointError('index-mismatch', `${shard} holds "${name}" but ${INDEX_FILE} ${where}. The index and the shards come from different downloads.`, { file: shard, tensor: name });
        }
      }
    }
  } else {
    const single = await openSafetensors(await openRequired(files, SINGLE_FILE, `and no ${INDEX_FILE} either`));
    shards.set(SINGLE_FILE, single);
    for (const [name, entry] of single.header.tensors) tensors.set(name, { ...entry, file: SINGLE_FILE });
  }

  const entryOf = (name: string): TensorEntry => {
    const e = tensors.get(name);
    if (!e) throw new CheckpointError('missing-tensor', `The checkpoint at ${files.base} has no tensor "${name}".`, { tensor: name });
    return e;
  };
  const readRange = async (name: string, byteOffset: number, byteLength: number): Promise<Uint8Array> => {
    const e = entryOf(name);
    const size = e.end - e.start;
    if (!Number.isSafeInteger(byteOffset) || !Number.isSafeInteger(byteLength) || byteOffset < 0 || byteLength < 0 || byteOffset + byteLength > size) {
      throw new CheckpointError('out-of-range', `"${name}": bytes [${byteOffset}, ${byteOffset + byteLength}) are outside its ${size} bytes.`, { file: e.file, tensor: name });
    }
    const bytes = await (shards.get(e.file) as SafetensorsFile).source.read(e.start + byteOffset, byteLength);
    if (bytes.length !== byteLength) throw new CheckpointError('truncated', `${e.file}: read ${bytes.length} of ${byteLength} bytes of "${name}".`, { file: e.file, tensor: name });
    return bytes;
  };
  const read = async (name: string): Promise<Uint8Array> => {
    const e = entryOf(name);
    return readRange(name, 0, e.end - e.start);
  };
  return {
    config,
    tensors,
    read,
    readRange,
    async readF32(name: string): Promise<Float32Array> {
      const e = entryOf(name);
      return toF32(await read(name), e);
    },
  };
}

let halfTable: Float32Array | null = null;

/** All 65536 half-precision values as f32 (exact: every f16 is representable in f32). */
function halfToF32Table(): Float32Array {
  if (halfTable) return halfTable;
  const table = new Float32Array(65536);
  const bits = new Uint32Array(table.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >> 10) & 0x1f;
    let mant = h & 0x3ff;
    if (exp === 31) bits[h] = sign | 0x7f800000 | (mant << 13);
    else if (exp !== 0) bits[h] = sign | ((exp + 112) << 23) | (mant << 13);
    else if (mant === 0) bits[h] = sign;
    else {
      let e = 113;
      while (!(mant & 0x400)) {
        mant <<= 1;
        e--;
      }
      bits[h] = sign | (e << 23) | ((mant & 0x3ff) << 13);
    }
  }
  halfTable = table;
  return table;
}

/** Decode raw little-endian tensor bytes to f32 (the host is little-endian, as every WebGPU host is). */
export function toF32(bytes: Uint8Array, entry: Pick<TensorEntry, 'name' | 'dtype' | 'file'>): Float32Array {
  const aligned = (size: number) => (bytes.byteOffset % size === 0 ? bytes : bytes.slice());
  switch (entry.dtype) {
    case 'F32': {
      const b = bytes.slice();
      return new Float32Array(b.buffer, 0, b.length / 4);
    }
    case 'BF16': {
      const src = aligned(2);
      const half = new Uint16Array(src.buffer, src.byteOffset, src.length / 2);
      const out = new Uint32Array(half.length);
      for (let i = 0; i < half.length; i++) out[i] = half[i] << 16;
      return new Float32Array(out.buffer);
    }
    case 'F16': {
      const src = aligned(2);
      const half = new Uint16Array(src.buffer, src.byteOffset, src.length / 2);
      const table = halfToF32Table();
      const out = new Float32Array(half.length);
      for (let i = 0; i < half.length; i++) out[i] = table[half[i]];
      return out;
    }
    case 'F64': {
      const src = aligned(8);
      return Float32Array.from(new Float64Array(src.buffer, src.byteOffset, src.length / 8));
    }
    default:
      throw new CheckpointError('bad-dtype', `${entry.file}: "${entry.name}" is ${entry.dtype}, not a float tensor.`, { file: entry.file, tensor: entry.name });
  }
}
