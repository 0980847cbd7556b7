/**
 * One interface over both weight formats: a Hugging Face checkpoint (openCheckpoint) and a g3n artifact
 * (manifest + shards, from a directory, a URL or the browser cache). `readTensorData` hands the model
 * each tensor in the kernels' storage format, in the logical row-major [out, in] order: float tensors
 * as raw little-endian bytes, Q8/Q4 as their u32 data words and f16 scale words, unchanged.
 * `readBlocks` hands it over in blocks of bounded size instead (blocks.ts), for the tables too large
 * to hold whole.
 */
import { decodeWeight } from '@g3n/kernels';
import { openCheckpoint, toF32, type Checkpoint } from '../checkpoint.ts';
import { CheckpointError } from '../errors.ts';
import type { FileSource } from '../sources.ts';
import { checkpointBlocks, DEFAULT_BLOCK_BYTES, planBlocks, type BlockOptions, type TensorBlock } from './blocks.ts';
import { columnBlocksToRowMajor } from './encode.ts';
import { BadManifestError } from './errors.ts';
import { dataBytes, GROUP, isQuantized, MANIFEST_FILE, parseManifest, scaleWordBytes, storedUnits, type Manifest, type ManifestTensor, type StoredDType } from './manifest.ts';
import { verifiedShards, type ReadAhead } from './verify.ts';
import { readSelection, shardReaderWindows, wholeSelection, type NamedSelection, type TensorSelection, type WindowSource } from './ranges.ts';
import type { ShardReader, TensorData } from './types.ts';

export type { FloatTensorData, QuantTensorData, ShardReader, TensorData } from './types.ts';

export interface WeightInfo {
  name: string;
  dtype: StoredDType;
  /** Logical shape ([out, in] for linear weights), whatever the stored layout. */
  shape: number[];
}

export interface ModelWeights {
  format: 'safetensors' | 'g3n-artifact';
  /** The parsed config.json. */
  config: unknown;
  tensors: ReadonlyMap<string, WeightInfo>;
  /** One tensor's data bytes in row-major order (Q8/Q4: the data words only). */
  read(name: string): Promise<Uint8Array>;
  readTensorData(name: string): Promise<TensorData>;
  /** One tensor as f32 (Q8/Q4 dequantized exactly as the shaders do). */
  readF32(name: string): Promise<Float32Array>;
  /** One tensor, or a selection of an artifact's tensor, in blocks of at most about `maxBytes` (blocks.ts). */
  readBlocks(name: string, options?: BlockOptions): AsyncIterable<TensorBlock>;
}

export type CheckpointWeights = Checkpoint & ModelWeights & { format: 'safetensors' };

export interface Artifact extends ModelWeights {
  format: 'g3n-artifact';
  manifest: Manifest;
  tensors: Map<string, ManifestTensor>;
  /** Rows [row0, row0 + rows) of a row-major tensor, in the same format (an embedding row block, PLE rows). */
  readRows(name: string, row0: number, rows: number): Promise<TensorData>;
  /** Some units (and elements of each) of a stored tensor, exactly as stored (see ranges.ts). */
  readSelection(name: string, selection: TensorSelection): Promise<TensorData>;
  /**
   * Where every shard is read through a source that keeps what it reads (the weights cache): what reads
   * of `selections` will read, and fetching it ahead of them (downloaded, checked against the
   * manifest and stored, one piece at a time), so that those reads come from the cache (verify.ts).
   */
  readAhead?(selections: readonly NamedSelection[]): ReadAhead;
}

function asTensorData(dtype: StoredDType, name: string, bytes: Uint8Array, scales: Uint8Array | null): TensorData {
  if (dtype === 'Q8' || dtype === 'Q4') return { dtype, bytes, scales: scales as Uint8Array };
  if (dtype === 'F32' || dtype === 'F16' || dtype === 'BF16') return { dtype, bytes };
  throw new CheckpointError('bad-dtype', `"${name}" is ${dtype}; model weights must be F32, F16, BF16, Q8 or Q4.`, { tensor: name });
}

/** f32 values of tensor data (bf16 exactly, q8/q4 as q * scale). */
export function tensorDataToF32(d: TensorData, name = ''): Float32Array {
  if (d.dtype === 'Q8' || d.dtype === 'Q4') {
    const words = new Uint32Array(d.bytes.slice().buffer);
    const n = d.dtype === 'Q8' ? d.bytes.length : d.bytes.length * 2;
    return decodeWeight(d.dtype === 'Q8' ? 'q8' : 'q4', words, new Uint32Array(d.scales.slice().buffer), n);
  }
  return toF32(d.bytes, { name, dtype: d.dtype, file: '' });
}

/** The artifact reader over any shard byte source (`windows` for selections: by default whole windows from `readShard`). */
export function artifactReader(manifest: Manifest, readShard: ShardReader, windows: WindowSource = shardReaderWindows(readShard)): Artifact {
  const tensors = new Map(manifest.tensors.map((t) => [t.name, t]));
  const entryOf = (name: string): ManifestTensor => {
    const t = tensors.get(name);
    if (!t) throw new CheckpointError('missing-tensor', `The artifact ${manifest.model.id}@${manifest.model.revision} has no tensor "${name}".`, { tensor: name });
    return t;
  };
  /** Units [first, first + count) in stored order: data bytes and (Q8/Q4) scale words. */
  const readStored = async (t: ManifestTensor, first: number, count: number): Promise<{ data: Uint8Array; scales: Uint8Array | null }> => {
    const { perUnit } = storedUnits(t);
    const n = count * perUnit;
    const data = new Uint8Array(dataBytes(t.dtype, n));
    const scales = isQuantized(t.dtype) ? new Uint8Array(scaleWordBytes(n)) : null;
    for (const p of t.parts) {
      const lo = Math.max(first, p.first);
      const hi = Math.min(first + count, p.first + p.count);
      if (lo >= hi) continue;
      const at = (units: number) => dataBytes(t.dtype, units * perUnit);
      data.set(await readShard(p.shard, p.offset + at(lo - p.first), at(hi - lo)), at(lo - first));
      if (scales && p.scalesOffset !== undefined) {
        const half = (units: number) => ((units * perUnit) / GROUP) * 2;
        scales.set(await readShard(p.shard, p.scalesOffset + half(lo - p.first), half(hi - lo)), half(lo - first));
      }
    }
    return { data, scales };
  };
  const readTensorData = async (name: string): Promise<TensorData> => {
    const t = entryOf(name);
    if (t.layout === 'layer-major') return readSelection(t, wholeSelection(t), windows);
    const { units } = storedUnits(t);
    const { data, scales } = await readStored(t, 0, units);
    if (t.layout === 'column-blocks') {
      const back = columnBlocksToRowMajor(t.dtype, t.shape[0], t.shape[1], data, scales ?? undefined);
      return asTensorData(t.dtype, name, back.data, back.scales ?? null);
    }
    return asTensorData(t.dtype, name, data, scales);
  };
  return {
    format: 'g3n-artifact',
    manifest,
    config: manifest.config,
    tensors,
    readTensorData,
    async read(name: string) {
      return (await readTensorData(name)).bytes;
    },
    async readF32(name: string) {
      return tensorDataToF32(await readTensorData(name), name);
    },
    async readRows(name: string, row0: number, rows: number) {
      const t = entryOf(name);
      const units = t.shape.slice(0, -1).reduce((a, b) => a * b, 1);
      if (t.layout === 'column-blocks') throw new CheckpointError('out-of-range', `"${name}" is stored in ${t.layout} order; read it whole.`, { tensor: name });
      if (!Number.isSafeInteger(row0) || !Number.isSafeInteger(rows) || row0 < 0 || rows < 0 || row0 + rows > units) {
        throw new CheckpointError('out-of-range', `"${name}": rows [${row0}, ${row0 + rows}) are outside its ${units} rows.`, { tensor: name });
      }
      if (t.layout === 'layer-major') return readSelection(t, { units: [[row0, rows]] }, windows);
      const { data, scales } = await readStored(t, row0, rows);
      return asTensorData(t.dtype, name, data, scales);
    },
    readSelection: (name, selection) => readSelection(entryOf(name), selection, windows),
    async *readBlocks(name, options = {}) {
      const t = entryOf(name);
      for (const b of planBlocks(t, options.selection ?? wholeSelection(t), options.maxBytes ?? DEFAULT_BLOCK_BYTES, options.wholeRows)) {
        yield { row0: b.row0, rows: b.rows, col0: b.col0, cols: b.cols, data: await readSelection(t, b.selection, windows) };
      }
    },
  };
}

export interface OpenArtifactOptions {
  /** Check every byte against the manifest before returning (reads always check what they read, see verify.ts). */
  verify?: boolean;
}

async function readManifest(files: FileSource): Promise<Manifest | null> {
  const src = await files.open(MANIFEST_FILE);
  if (!src) return null;
  const size = await src.size();
  if (size > 256 << 20) throw new BadManifestError('(root)', `is ${size} bytes, too large for a manifest`);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(await src.read(0, size)));
  } catch (e) {
    throw new BadManifestError('(root)', `is not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  return parseManifest(json);
}

/**
 * A g3n artifact in a directory or under a URL (any FileSource). Shard sizes are checked on open;
 * every read is checked against the manifest's sha256s (verify.ts): a damaged piece is an IntegrityError.
 */
export async function openArtifact(files: FileSource, options: OpenArtifactOptions = {}): Promise<Artifact> {
  const manifest = await readManifest(files);
  if (!manifest) throw new CheckpointError('missing-file', `${files.base}: no ${MANIFEST_FILE}; this is not a g3n artifact.`, { file: MANIFEST_FILE });
  return openShards(files, manifest, options);
}

async function openShards(files: FileSource, manifest: Manifest, options: OpenArtifactOptions): Promise<Artifact> {
  const sources = await Promise.all(
    manifest.shards.map(async (s) => {
      const src = await files.open(s.file);
      if (!src) throw new CheckpointError('missing-file', `${files.base}: shard ${s.file} listed in ${MANIFEST_FILE} is missing. Download or convert the artifact again.`, { file: s.file });
      const size = await src.size();
      if (size !== s.bytes) throw new CheckpointError('size-mismatch', `${files.base}: shard ${s.file} has ${size} bytes, the manifest says ${s.bytes}. Download or convert it again.`, { file: s.file });
      return src;
    }),
  );
  const shards = verifiedShards(manifest, sources);
  if (options.verify) await shards.verifyAll();
  const artifact = artifactReader(manifest, shards.read);
  return sources.every((s) => s.keep) ? { ...artifact, readAhead: (selections) => shards.ahead(selections) } : artifact;
}

/** A Hugging Face checkpoint with `readTensorData` (its float tensors' raw bytes). */
export function checkpointWeights(ckpt: Checkpoint): CheckpointWeights {
  return {
    ...ckpt,
    format: 'safetensors',
    async readTensorData(name: string): Promise<TensorData> {
      const e = ckpt.tensors.get(name);
      if (!e) throw new CheckpointError('missing-tensor', `The checkpoint has no tensor "${name}".`, { tensor: name });
      return asTensorData(e.dtype, name, await ckpt.read(name), null);
    },
    readBlocks(name: string, options?: BlockOptions): AsyncIterable<TensorBlock> {
      const e = ckpt.tensors.get(name);
      if (!e) throw new CheckpointError('missing-tensor', `The checkpoint has no tensor "${name}".`, { tensor: name });
      return checkpointBlocks(e, (offset, length) => ckpt.readRange(name, offset, length), options);
    },
  };
}

/** The model in a directory or under a URL: the artifact when manifest.json exists, else the HF checkpoint. */
export async function openModelDir(files: FileSource, options: OpenArtifactOptions = {}): Promise<Artifact | CheckpointWeights> {
  const manifest = await readManifest(files);
  if (manifest) return openShards(files, manifest, options);
  return checkpointWeights(await openCheckpoint(files));
}
