/**
 * Per-layer embeddings kept off the GPU (`ple: 'host'`). The PLE table ([vocab_per_layer, L*P], about
 * 1.1 GB of E2B at q4) is never uploaded: a pass needs one row per token. Before each pass the rows of
 * its tokens are read from a `PleRowSource` (the model file, the artifact's pieces, the browser's
 * Origin Private File System) and written with queue.writeBuffer, in the table's own storage format
 * (data and, for Q8/Q4, the f16 scales), into a small staging tensor: [maxChunk rows] for prefill and
 * one row for the replayed decode plan. The same embedGather kernel reads the staging tensor with
 * local row indices 0..T-1, so the per-layer inputs are bit for bit those of a table on the GPU.
 */
import { createTensor, G3nError, ShapeError, writeTensor, type DType, type Gpu, type Tensor } from '@g3n/gpu';
import { encodeWeight } from '@g3n/kernels';
import { tensorDataToF32, type TensorBlock, type TensorData, type TensorSelection } from '@g3n/weights';

/** Where the PLE table lives: on the GPU, on the host (rows gathered per pass), or chosen by memory. */
export type PlePlacement = 'gpu' | 'host' | 'auto';

/** Random access to the rows of the PLE table as stored (no copy of the whole table in memory). */
export interface PleRowSource {
  /**
   * The stored rows `ids` (each below the table's rows; repeats allowed), in that order, as one
   * [ids.length, cols] block: Q8/Q4 data rows and their f16 scales apart, floats as stored.
   */
  readRows(ids: readonly number[]): Promise<TensorData>;
}

/** Reads a selection of a stored tensor in blocks (ModelWeights.readBlocks). */
export type SelectionBlocks = (selection: TensorSelection) => AsyncIterable<TensorBlock>;

/** Ascending, distinct ids as row runs [first, count]. */
function idRuns(sorted: readonly number[]): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  for (const id of sorted) {
    const last = runs[runs.length - 1];
    if (last && last[0] + last[1] === id) last[1]++;
    else runs.push([id, 1]);
  }
  return runs;
}

const isQuant = (d: TensorData['dtype']): boolean => d === 'Q8' || d === 'Q4';
function rowBytes(d: TensorData['dtype'], cols: number): { data: number; scales: number } {
  const data = d === 'Q4' ? cols / 2 : d === 'Q8' ? cols : d === 'F32' ? 4 * cols : 2 * cols;
  return { data, scales: isQuant(d) ? (cols / 32) * 2 : 0 };
}

/**
 * A row source over a stored tensor read by selection (an HF checkpoint's file, a g3n artifact's
 * shards or pieces): each call reads only the distinct rows asked for, as whole-row blocks, with
 * `elements` the per-row element runs a MatFormer slice keeps.
 */
export function selectionRowSource(readSelection: SelectionBlocks, cols: number, elements?: TensorSelection['elements']): PleRowSource {
  return {
    async readRows(ids) {
      const distinct = [...new Set(ids)].sort((a, b) => a - b);
      const where = new Map(distinct.map((id, i) => [id, i]));
      const selection: TensorSelection = elements ? { units: idRuns(distinct), elements } : { units: idRuns(distinct) };
      let dtype: TensorData['dtype'] | null = null;
      let data = new Uint8Array(0);
      let scales = new Uint8Array(0);
      for await (const block of readSelection(selection)) {
        if (block.col0 !== 0 || block.cols !== cols) throw new ShapeError('ple rows', `a block of columns [${block.col0}, +${block.cols}) is not a whole ${cols}-column row`);
        if (!dtype) {
          dtype = block.data.dtype;
          const b = rowBytes(dtype, cols);
          data = new Uint8Array(distinct.length * b.data);
          scales = new Uint8Array(distinct.length * b.scales);
        }
        const b = rowBytes(dtype, cols);
        data.set(block.data.bytes.subarray(0, block.rows * b.data), block.row0 * b.data);
        if (isQuant(dtype)) scales.set((block.data as { scales: Uint8Array }).scales.subarray(0, block.rows * b.scales), block.row0 * b.scales);
      }
      if (!dtype) throw new ShapeError('ple rows', `no rows were read for ${ids.length} ids`);
      // Rows in the order asked for (repeats too).
      const b = rowBytes(dtype, cols);
      const outData = new Uint8Array(ids.length * b.data);
      const outScales = new Uint8Array(ids.length * b.scales);
      ids.forEach((id, i) => {
        const r = where.get(id) as number;
        outData.set(data.subarray(r * b.data, (r + 1) * b.data), i * b.data);
        if (b.scales) outScales.set(scales.subarray(r * b.scales, (r + 1) * b.scales), i * b.scales);
      });
      return isQuant(dtype) ? { dtype: dtype as 'Q8' | 'Q4', bytes: outData, scales: outScales } : { dtype: dtype as 'F32' | 'F16' | 'BF16', bytes: outData };
    },
  };
}

const storedDtype = (d: DType): TensorData['dtype'] => (d === 'q4' ? 'Q4' : d === 'q8' ? 'Q8' : d === 'f32' ? 'F32' : d === 'f16' ? 'F16' : 'BF16');

/** Rows in the GPU storage dtype: stored bytes as they are, floats converted as the uploader converts them. */
function toStorage(rows: TensorData, dtype: DType, n: number, cols: number): { data: Uint8Array; scales: Uint8Array | null } {
  if (rows.dtype === 'Q8' || rows.dtype === 'Q4') {
    if (dtype !== rows.dtype.toLowerCase()) throw new ShapeError('ple rows', `stored as ${rows.dtype}, cannot be staged as ${dtype}`);
    return { data: rows.bytes, scales: rows.scales };
  }
  const same = (dtype === 'bf16' && rows.dtype === 'BF16') || (dtype === 'f16' && rows.dtype === 'F16') || (dtype === 'f32' && rows.dtype === 'F32');
  if (same) return { data: rows.bytes, scales: null };
  const enc = encodeWeight(dtype, tensorDataToF32(rows), [n, cols]);
  const bytes = (v: ArrayBufferView) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  return { data: bytes(enc.data), scales: enc.scales ? bytes(enc.scales) : null };
}

/** The host side of `ple: 'host'`: the staging tensors and the local row indices embedGather reads them with. */
export class HostPle {
  /** [maxChunk, cols]: the rows of a prefill chunk. */
  readonly prefill: Tensor;
  /** [1, cols]: the row of a decode step's token, bound by the replayed decode plans. */
  readonly decode: Tensor;
  /** u32 [maxChunk] = 0, 1, ...: row i of a pass reads staging row i. */
  readonly localIds: Tensor;
  /** Stored bytes of one row (data and scales), as read from the source. */
  readonly rowBytes: number;
  /** Rows read from the source so far, and their bytes. */
  rowsRead = 0;
  bytesRead = 0;

  constructor(
    private readonly gpu: Gpu,
    private readonly source: PleRowSource,
    readonly dtype: DType,
    readonly cols: number,
    maxChunk: number,
  ) {
    this.prefill = createTensor(gpu, 'ple.host.prefill', dtype, [maxChunk, cols]);
    this.decode = createTensor(gpu, 'ple.host.decode', dtype, [1, cols]);
    this.localIds = createTensor(gpu, 'ple.host.ids', 'u32', [maxChunk]);
    writeTensor(gpu, this.localIds, Uint32Array.from({ length: maxChunk }, (_, i) => i));
    const b = rowBytes(storedDtype(dtype), cols);
    this.rowBytes = b.data + b.scales;
  }

  /** Write the rows of `ids` (ids below vocab_size_per_layer_input) into rows 0.. of `target` (prefill or decode). */
  async write(target: Tensor, ids: readonly number[]): Promise<void> {
    if (ids.length > target.shape[0]) throw new ShapeError(target.label, `${ids.length} rows do not fit its ${target.shape[0]}`);
    const rows = await this.source.readRows(ids);
    const enc = toStorage(rows, this.dtype, ids.length, this.cols);
    const want = rowBytes(storedDtype(this.dtype), this.cols);
    if (enc.data.length < ids.length * want.data || (enc.scales?.length ?? 0) < ids.length * want.scales) {
      throw new G3nError('BAD_INPUT', `the PLE row source returned ${enc.data.length} bytes for ${ids.length} rows of ${this.cols} ${this.dtype}`);
    }
    writeTensor(this.gpu, target, enc.data.subarray(0, ids.length * want.data), enc.scales?.subarray(0, ids.length * want.scales));
    this.rowsRead += ids.length;
    this.bytesRead += rows.bytes.length + (isQuant(rows.dtype) ? (rows as { scales: Uint8Array }).scales.length : 0);
  }

  /** GPU bytes of the staging tensors. */
  bytes(): number {
    return [this.prefill, this.decode, this.localIds].reduce((s, t) => s + t.byteLength + (t.scales?.byteLength ?? 0), 0);
  }

  destroy(): void {
    for (const t of [this.prefill, this.decode, this.localIds]) {
      t.buffer.destroy();
      t.scales?.buffer.destroy();
    }
  }
}
