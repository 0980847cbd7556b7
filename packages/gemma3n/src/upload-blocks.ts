/**
 * A matrix uploaded block by block as it is read (see @g3n/weights blocks.ts), so that a table larger
 * than any ArrayBuffer never exists whole in JS: each block goes straight into the row parts of the
 * GPU matrix (the splits of splitRows) it overlaps.
 *   full-width row blocks   appended to each part's data and scales buffers in row order; a write that
 *                           ends inside a u32 word keeps that word's bytes until the next block
 *                           completes it;
 *   column blocks           (a layer's columns of a layer-major table) written to a staging buffer,
 *                           then placed into every part they overlap by the copy_rows kernel, data
 *                           words and scale words apart.
 * Float blocks are converted to the storage dtype block by block (quantized to Q8/Q4 where the load
 * format asks for it), exactly as uploadMatrix converts the whole matrix.
 */
import { createTensor, runOnce, ShapeError, splitRows, type DType, type Dispatch, type Gpu, type Tensor } from '@g3n/gpu';
import { copyRows, encodeWeight } from '@g3n/kernels';
import { tensorDataToF32, type TensorBlock } from '@g3n/weights';
import type { MatrixWeight, TensorData } from './gpu-weights.ts';

/** Exact bytes of `n` elements in a storage dtype (unpadded). */
function elementBytes(dtype: DType, n: number): number {
  if (dtype === 'q4') return n / 2;
  if (dtype === 'q8') return n;
  return dtype === 'bf16' || dtype === 'f16' ? 2 * n : 4 * n;
}

const quantized = (dtype: DType): boolean => dtype === 'q8' || dtype === 'q4';
const scaleBytesOf = (dtype: DType, n: number): number => (quantized(dtype) ? (n / 32) * 2 : 0);

function bytesOf(v: ArrayBufferView, length: number): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, length);
}

/** A block's data (and scale halves) in `dtype`, exactly rows * cols elements of them. */
function encodeBlock(label: string, block: TensorBlock, dtype: DType): { data: Uint8Array; scales: Uint8Array | null } {
  const { data } = block;
  const n = block.rows * block.cols;
  const [dataLength, scaleLength] = [elementBytes(dtype, n), scaleBytesOf(dtype, n)];
  if (data.dtype === 'Q8' || data.dtype === 'Q4') {
    if (dtype !== data.dtype.toLowerCase()) throw new ShapeError(label, `stored as ${data.dtype}, cannot be uploaded as ${dtype}`);
    return { data: bytesOf(data.bytes, dataLength), scales: bytesOf(data.scales, scaleLength) };
  }
  const same = (dtype === 'bf16' && data.dtype === 'BF16') || (dtype === 'f16' && data.dtype === 'F16') || (dtype === 'f32' && data.dtype === 'F32');
  if (same) return { data: bytesOf(data.bytes, dataLength), scales: null };
  const enc = encodeWeight(dtype, tensorDataToF32(data), [block.rows, block.cols]);
  return { data: bytesOf(enc.data, dataLength), scales: enc.scales ? bytesOf(enc.scales, scaleLength) : null };
}

/** Appends bytes to a buffer in order, writing whole u32 words and holding a partial last word. */
class WordAppender {
  private written = 0;
  private readonly carry = new Uint8Array(4);
  private held = 0;

  constructor(
    private readonly gpu: Gpu,
    private readonly target: Tensor,
  ) {}

  /** Bytes appended so far. */
  get end(): number {
    return this.written + this.held;
  }

  append(at: number, bytes: Uint8Array): void {
    if (at !== this.end) throw new ShapeError(this.target.label, `blocks arrive out of order: byte ${at} after ${this.end}`);
    let rest = bytes;
    if (this.held > 0) {
      const take = Math.min(4 - this.held, rest.length);
      this.carry.set(rest.subarray(0, take), this.held);
      this.held += take;
      rest = rest.subarray(take);
      if (this.held < 4) return;
      this.gpu.device.queue.writeBuffer(this.target.buffer, this.target.offset + this.written, this.carry);
      this.written += 4;
      this.held = 0;
    }
    const whole = rest.length & ~3;
    if (whole > 0) this.gpu.device.queue.writeBuffer(this.target.buffer, this.target.offset + this.written, rest, 0, whole);
    this.written += whole;
    this.carry.set(rest.subarray(whole));
    this.held = rest.length - whole;
  }

  /** Write the partial last word, zero-padded. */
  flush(): void {
    if (this.held === 0) return;
    this.carry.fill(0, this.held);
    this.gpu.device.queue.writeBuffer(this.target.buffer, this.target.offset + this.written, this.carry);
    this.written += 4;
    this.held = 0;
  }
}

/** Where the blocks of one matrix go: its parts, their appenders, and a staging buffer for column blocks. */
class BlockTarget {
  private readonly appenders: Array<{ data: WordAppender; scales: WordAppender | null }>;
  private staging: Tensor | null = null;
  filled = 0;

  constructor(
    private readonly gpu: Gpu,
    readonly matrix: MatrixWeight,
  ) {
    this.appenders = matrix.parts.map((p) => ({ data: new WordAppender(gpu, p.tensor), scales: p.tensor.scales ? new WordAppender(gpu, p.tensor.scales) : null }));
  }

  async put(block: TensorBlock, enc: { data: Uint8Array; scales: Uint8Array | null }): Promise<void> {
    const m = this.matrix;
    if (block.row0 < 0 || block.rows < 1 || block.row0 + block.rows > m.rows || block.col0 < 0 || block.cols < 1 || block.col0 + block.cols > m.cols) {
      throw new ShapeError(m.label, `block rows [${block.row0}, +${block.rows}) x cols [${block.col0}, +${block.cols}) lies outside [${m.rows}, ${m.cols}]`);
    }
    if (block.col0 === 0 && block.cols === m.cols) this.append(block, enc);
    else await this.place(block, enc);
    this.filled += block.rows * block.cols;
  }

  private append(block: TensorBlock, enc: { data: Uint8Array; scales: Uint8Array | null }): void {
    const { dtype, cols } = this.matrix;
    this.matrix.parts.forEach((p, i) => {
      const lo = Math.max(block.row0, p.row0);
      const hi = Math.min(block.row0 + block.rows, p.row0 + p.rows);
      if (lo >= hi) return;
      const cut = (bytes: Uint8Array, per: (n: number) => number) => bytes.subarray(per((lo - block.row0) * cols), per((hi - block.row0) * cols));
      this.appenders[i].data.append(elementBytes(dtype, (lo - p.row0) * cols), cut(enc.data, (n) => elementBytes(dtype, n)));
      const sc = this.appenders[i].scales;
      if (sc && enc.scales) sc.append(scaleBytesOf(dtype, (lo - p.row0) * cols), cut(enc.scales, (n) => scaleBytesOf(dtype, n)));
    });
  }

  /** Words of `n` elements of one row, data and scales; null where they are not whole words. */
  private words(n: number): { data: number; scales: number } | null {
    const { dtype } = this.matrix;
    const [d, s] = [elementBytes(dtype, n), scaleBytesOf(dtype, n)];
    return d % 4 === 0 && s % 4 === 0 ? { data: d / 4, scales: s / 4 } : null;
  }

  private async place(block: TensorBlock, enc: { data: Uint8Array; scales: Uint8Array | null }): Promise<void> {
    const m = this.matrix;
    const [row, col, width] = [this.words(block.cols), this.words(block.col0), this.words(m.cols)];
    if (!row || !col || !width) throw new ShapeError(m.label, `a block of columns [${block.col0}, +${block.cols}) of ${m.cols} is not whole u32 words in ${m.dtype}; read whole rows`);
    const dataWords = row.data * block.rows;
    const need = dataWords + row.scales * block.rows;
    if (!this.staging || this.staging.byteLength < 4 * need) {
      this.staging?.buffer.destroy();
      this.staging = createTensor(this.gpu, `${m.label}.staging`, 'u32', [need]);
    }
    const staging = this.staging;
    this.gpu.device.queue.writeBuffer(staging.buffer, 0, enc.data);
    if (enc.scales) this.gpu.device.queue.writeBuffer(staging.buffer, 4 * dataWords, enc.scales);
    const ds: Dispatch[] = [];
    for (const p of m.parts) {
      const lo = Math.max(block.row0, p.row0);
      const hi = Math.min(block.row0 + block.rows, p.row0 + p.rows);
      if (lo >= hi) continue;
      const at = { rows: hi - lo, srcRow: lo - block.row0, dstRow: lo - p.row0 };
      ds.push(copyRows(this.gpu, { src: staging, dst: p.tensor, rows: at.rows, rowWords: row.data, srcOffset: at.srcRow * row.data, srcStride: row.data, dstOffset: at.dstRow * width.data + col.data, dstStride: width.data }));
      if (p.tensor.scales && row.scales > 0) {
        const srcOffset = dataWords + at.srcRow * row.scales;
        ds.push(copyRows(this.gpu, { src: staging, dst: p.tensor.scales, rows: at.rows, rowWords: row.scales, srcOffset, srcStride: row.scales, dstOffset: at.dstRow * width.scales + col.scales, dstStride: width.scales }));
      }
    }
    await runOnce(this.gpu, `${m.label}.place`, ds);
  }

  finish(): void {
    for (const a of this.appenders) {
      a.data.flush();
      a.scales?.flush();
    }
    this.staging?.buffer.destroy();
    this.staging = null;
  }
}

/** The blocks of a tensor: as stored, or (`wholeRows`) full-width row blocks only. */
export type OpenBlocks = (wholeRows: boolean) => AsyncIterable<TensorBlock>;

/**
 * Upload a [rows, cols] matrix from its blocks into binding-sized row parts. `dtypeOf` gives the
 * storage dtype from the stored one (the first block's). When that converts a float table stored by
 * columns, the blocks are read again as whole rows (a quantization group may span two column blocks).
 */
export async function uploadMatrixBlocks(gpu: Gpu, label: string, open: OpenBlocks, rows: number, cols: number, dtypeOf: (source: TensorData['dtype']) => DType): Promise<MatrixWeight> {
  let target: BlockTarget | null = null;
  let wholeRows = false;
  try {
    for (;;) {
      let restart = false;
      for await (const block of open(wholeRows)) {
        if (!target) {
          const dtype = dtypeOf(block.data.dtype);
          const parts = splitRows(gpu, dtype, rows, cols).map(({ row0, rows: n }) => ({ row0, rows: n, tensor: createTensor(gpu, n === rows ? label : `${label}[${row0}:${row0 + n}]`, dtype, [n, cols]) }));
          target = new BlockTarget(gpu, { label, rows, cols, dtype, parts });
        }
        const dtype = target.matrix.dtype;
        const converts = block.data.dtype.toLowerCase() !== dtype;
        if (converts && !wholeRows && (block.col0 !== 0 || block.cols !== cols)) {
          restart = true;
          break;
        }
        await target.put(block, encodeBlock(label, block, dtype));
      }
      if (!restart) break;
      wholeRows = true;
    }
    if (!target || target.filled !== rows * cols) throw new ShapeError(label, `its blocks hold ${target?.filled ?? 0} of its ${rows * cols} elements`);
    target.finish();
    return target.matrix;
  } catch (e) {
    target?.finish();
    for (const p of target?.matrix.parts ?? []) {
      p.tensor.buffer.destroy();
      p.tensor.scales?.buffer.destroy();
    }
    throw e;
  }
}
