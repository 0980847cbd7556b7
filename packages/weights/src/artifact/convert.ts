/**
 * Checkpoint -> artifact, streaming: shards are written one after another, each tensor part in row
 * blocks of at most `blockBytes` source bytes (a column-blocks down_proj is read whole, since every
 * stored unit holds a slice of every row; a layer-major table is read once per layer, in row blocks of
 * which that layer's columns are kept). Memory stays near one shard (kept until it is closed, to hash
 * its parts' pieces for range verification) plus one block or one down_proj, never the model.
 * The output depends only on the input bytes and the options: no timestamps, a fixed tensor order.
 */
import type { Checkpoint } from '../checkpoint.ts';
import { CheckpointError } from '../errors.ts';
import { DTYPE_BYTES } from '../safetensors.ts';
import { encodeBlock, encodeColumnBlocks, type Encoded } from './encode.ts';
import {
  ALIGN,
  ARTIFACT_FORMAT,
  ARTIFACT_MINOR,
  ARTIFACT_VERSION,
  dataBytes,
  GROUP,
  isQuantized,
  scaleWordBytes,
  storedUnits,
  type Manifest,
  type ManifestShard,
  type ManifestTensor,
  type TensorPart,
} from './manifest.ts';
import { defaultCut, DEFAULT_SHARD_BYTES, planArtifact, shardFileName, type StoragePolicy } from './plan.ts';
import { hashPieces, pieceGrid, pleColumnsOf } from './pieces.ts';
import { shardReaderWindows } from './ranges.ts';

export interface ConvertProgress {
  /** Tensors finished so far, of `tensorCount`. */
  tensorsDone: number;
  tensorCount: number;
  tensor: ManifestTensor;
  /** Shard bytes written so far, of `totalBytes`. */
  writtenBytes: number;
  totalBytes: number;
  /** Set when a shard was just closed. */
  shardDone?: ManifestShard;
}

export interface ConvertOptions extends StoragePolicy {
  modelId: string;
  revision: string;
  /** Largest shard, bytes (default 64 MiB). */
  shardBytes?: number;
  /** Source bytes read and encoded at a time (default 16 MiB). */
  blockBytes?: number;
  onProgress?: (p: ConvertProgress) => void;
}

export interface ShardWriter {
  write(bytes: Uint8Array): Promise<void>;
  /** Finish the file; its size and lowercase hex sha256. */
  close(): Promise<{ bytes: number; sha256: string }>;
}

/** Where the artifact goes (a directory in Node, memory in tests). The manifest is written last. */
export interface ArtifactSink {
  openShard(file: string): Promise<ShardWriter>;
  writeManifest(text: string): Promise<void>;
}

/** manifest.json text: one line per tensor and shard, keys in a fixed order. */
export function serializeManifest(m: Manifest): string {
  const lines = Object.entries(m).map(([k, v]) => {
    const value = (k === 'tensors' || k === 'shards') && Array.isArray(v) ? `[\n${v.map((x) => `    ${JSON.stringify(x)}`).join(',\n')}\n  ]` : JSON.stringify(v);
    return `  ${JSON.stringify(k)}: ${value}`;
  });
  return `{\n${lines.join(',\n')}\n}\n`;
}

const ZEROS = new Uint8Array(ALIGN);

export async function convertCheckpoint(ckpt: Checkpoint, options: ConvertOptions, sink: ArtifactSink): Promise<Manifest> {
  const config = ckpt.config;
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new CheckpointError('bad-json', 'config.json is not a JSON object; it cannot go into the manifest.');
  const inputs = [...ckpt.tensors.values()].map((e) => ({ name: e.name, dtype: e.dtype, shape: e.shape }));
  const pleColumns = options.pleColumns === undefined ? pleColumnsOf(config) : options.pleColumns;
  const plan = planArtifact(inputs, { ...options, pleColumns }, options.shardBytes ?? DEFAULT_SHARD_BYTES);
  const totalBytes = plan.shardBytes.reduce((a, b) => a + b, 0);
  const blockBytes = options.blockBytes ?? 16 << 20;
  const byShard: Array<Array<{ tensor: ManifestTensor; part: TensorPart; index: number }>> = plan.shardBytes.map(() => []);
  plan.tensors.forEach((tensor, index) => {
    for (const part of tensor.parts) byShard[part.shard].push({ tensor, part, index });
  });

  const shards: ManifestShard[] = [];
  let written = 0;
  let whole: { name: string; enc: Encoded } = { name: '', enc: { data: new Uint8Array(0) } };
  for (let s = 0; s < plan.shardBytes.length; s++) {
    const file = shardFileName(s);
    const out = await sink.openShard(file);
    const copy = new Uint8Array(plan.shardBytes[s]);
    let pos = 0;
    const emit = async (bytes: Uint8Array) => {
      await out.write(bytes);
      copy.set(bytes, pos);
      pos += bytes.length;
      written += bytes.length;
    };
    const padTo = async (at: number) => {
      while (pos < at) await emit(ZEROS.subarray(0, Math.min(ALIGN, at - pos)));
    };
    for (const { tensor, part, index } of byShard[s].sort((a, b) => a.part.offset - b.part.offset)) {
      const entry = ckpt.tensors.get(tensor.name);
      if (!entry) throw new CheckpointError('missing-tensor', `The checkpoint lost tensor "${tensor.name}" during conversion.`, { tensor: tensor.name });
      await padTo(part.offset);
      let scales: Uint8Array | null = null;
      if (tensor.layout === 'column-blocks') {
        if (whole.name !== tensor.name) {
          const [rows, cols] = tensor.shape;
          whole = { name: tensor.name, enc: encodeColumnBlocks(await ckpt.read(tensor.name), entry.dtype, tensor.dtype, rows, cols, tensor.name) };
        }
        const { perUnit } = storedUnits(tensor);
        const { data, scales: sc } = whole.enc;
        await emit(data.subarray(dataBytes(tensor.dtype, part.first * perUnit), dataBytes(tensor.dtype, (part.first + part.count) * perUnit)));
        if (sc) scales = sc.subarray(((part.first * perUnit) / GROUP) * 2, (((part.first + part.count) * perUnit) / GROUP) * 2);
      } else {
        scales = await writeRows(ckpt, tensor, part, entry.dtype, blockBytes, emit);
      }
      if (part.scalesOffset !== undefined && scales) {
        await padTo(part.scalesOffset);
        const words = new Uint8Array(part.scalesLength as number);
        words.set(scales);
        await emit(words);
      }
      if (part === tensor.parts[tensor.parts.length - 1]) {
        if (whole.name === tensor.name) whole = { name: '', enc: { data: new Uint8Array(0) } };
        options.onProgress?.({ tensorsDone: index + 1, tensorCount: plan.tensors.length, tensor, writtenBytes: written, totalBytes });
      }
    }
    await padTo(plan.shardBytes[s]);
    const done = await out.close();
    if (done.bytes !== plan.shardBytes[s]) throw new Error(`${file}: wrote ${done.bytes} bytes, planned ${plan.shardBytes[s]}`);
    const shard = { file, bytes: done.bytes, sha256: done.sha256 };
    shards.push(shard);
    const windows = shardReaderWindows(async (_s, offset, length) => copy.subarray(offset, offset + length));
    for (const { tensor, part } of byShard[s]) part.pieces = await hashPieces(tensor, part, pieceGrid(tensor, config, (options.cutOf ?? defaultCut)(tensor.name)), windows);
    const last = byShard[s][byShard[s].length - 1];
    if (last) options.onProgress?.({ tensorsDone: last.index + 1, tensorCount: plan.tensors.length, tensor: last.tensor, writtenBytes: written, totalBytes, shardDone: shard });
  }
  const manifest: Manifest = {
    format: ARTIFACT_FORMAT,
    version: ARTIFACT_VERSION,
    minor: ARTIFACT_MINOR,
    model: { id: options.modelId, revision: options.revision },
    config: config as Record<string, unknown>,
    quant: options.quant,
    tensors: plan.tensors,
    shards,
    totalBytes,
    layout: { alignment: ALIGN, groupSize: GROUP, layers: plan.layers },
  };
  await sink.writeManifest(serializeManifest(manifest));
  return manifest;
}

/**
 * Encode and write a row-major or layer-major part block by block; returns its scale halves (Q8/Q4)
 * for the caller to write after the data. Unit u of a layer-major table is row u % V of layer
 * floor(u / V): a block of its units is rows of the checkpoint, of which the layer's columns are kept.
 */
async function writeRows(
  ckpt: Checkpoint,
  tensor: ManifestTensor,
  part: TensorPart,
  from: ManifestTensor['source'],
  blockBytes: number,
  emit: (b: Uint8Array) => Promise<void>,
): Promise<Uint8Array | null> {
  const { perUnit } = storedUnits(tensor);
  const eb = DTYPE_BYTES[from];
  const cols = tensor.shape.length ? tensor.shape[tensor.shape.length - 1] : 1;
  const rows = tensor.layout === 'layer-major' ? tensor.shape[0] : Number.MAX_SAFE_INTEGER;
  const rowBytes = cols * eb;
  const step = Math.max(1, Math.floor(blockBytes / Math.max(rowBytes, 1)));
  const quant = isQuantized(tensor.dtype);
  const halves = quant ? new Uint8Array(scaleWordBytes(part.count * perUnit)) : null;
  for (let r = 0; r < part.count; ) {
    const u = part.first + r;
    const [layer, row] = tensor.layout === 'layer-major' ? [Math.floor(u / rows), u % rows] : [0, u];
    const n = Math.min(step, part.count - r, rows - row);
    const src = await ckpt.readRange(tensor.name, row * rowBytes, n * rowBytes);
    const enc = encodeBlock(perUnit === cols ? src : keepColumns(src, n, rowBytes, layer * perUnit * eb, perUnit * eb), from, tensor.dtype, n, perUnit, tensor.name);
    await emit(enc.data);
    if (halves && enc.scales) halves.set(enc.scales.subarray(0, ((n * perUnit) / GROUP) * 2), ((r * perUnit) / GROUP) * 2);
    r += n;
  }
  return halves;
}

/** Bytes [start, start + length) of each of `rows` rows of `rowBytes` bytes, one after another. */
function keepColumns(src: Uint8Array, rows: number, rowBytes: number, start: number, length: number): Uint8Array {
  const out = new Uint8Array(rows * length);
  for (let i = 0; i < rows; i++) out.set(src.subarray(i * rowBytes + start, i * rowBytes + start + length), i * length);
  return out;
}
