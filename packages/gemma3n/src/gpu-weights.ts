import { createTensor, runOnce, ShapeError, splitRows, writeTensor, type DType, type Gpu, type Tensor } from '@g3n/gpu';
import { createTransposed, encodeWeight, transposedFits, transposeWeight } from '@g3n/kernels';
import { tensorDataToF32, type TensorData } from '@g3n/weights';

/** How weights are stored on the GPU: `auto` keeps the checkpoint's float type (lossless). */
export type WeightFormat = 'auto' | 'f32' | 'bf16' | 'f16' | 'q8' | 'q4';

/**
 * A matrix [rows, cols] on the GPU, split by rows into parts that each fit one storage binding
 * (only the 262k-row embedding and PLE tables need more than one part).
 */
export interface MatrixWeight {
  label: string;
  rows: number;
  cols: number;
  dtype: DType;
  parts: Array<{ row0: number; rows: number; tensor: Tensor }>;
  /**
   * The parts hold W^T, each [cols, part rows] in the transposed layout of @g3n/kernels' linear-t.ts: the
   * sparse layers' down_proj, whose one-token product reads only the rows of the nonzero inputs.
   */
  transposed?: boolean;
}

export type { FloatTensorData, QuantTensorData, TensorData } from '@g3n/weights';

export function storageDtype(format: WeightFormat, source: TensorData['dtype'], cols: number, quantizable: boolean): DType {
  if (source === 'Q8' || source === 'Q4') return source === 'Q8' ? 'q8' : 'q4';
  const lossless: DType = source === 'BF16' ? 'bf16' : source === 'F16' ? 'f16' : 'f32';
  if (format === 'auto') return lossless;
  if ((format === 'q8' || format === 'q4') && !(quantizable && cols % 32 === 0)) return lossless;
  return format;
}

/** Upload a small f32 vector (norm weights, scales, coefficients). */
export function uploadVector(gpu: Gpu, label: string, values: Float32Array, shape: number[] = [values.length]): Tensor {
  const t = createTensor(gpu, label, 'f32', shape);
  writeTensor(gpu, t, values);
  return t;
}

/**
 * Upload a [rows, cols] matrix in `dtype`, split into binding-sized row parts. Raw BF16/F16 bytes
 * are uploaded as they are when the storage dtype matches (no decode, no copy of the model in JS).
 */
export function uploadMatrix(gpu: Gpu, label: string, data: TensorData, rows: number, cols: number, dtype: DType): MatrixWeight {
  const parts = splitRows(gpu, dtype, rows, cols).map(({ row0, rows: n }) => {
    const tensor = createTensor(gpu, partLabel(label, row0, n, rows), dtype, [n, cols]);
    if (data.dtype === 'Q8' || data.dtype === 'Q4') {
      if (dtype !== data.dtype.toLowerCase()) throw new ShapeError(label, `stored as ${data.dtype}, cannot be uploaded as ${dtype}`);
      const rowBytes = data.dtype === 'Q8' ? cols : cols / 2;
      const scaleRowBytes = (cols / 32) * 2;
      writeTensor(gpu, tensor, data.bytes.subarray(row0 * rowBytes, (row0 + n) * rowBytes), data.scales.subarray(row0 * scaleRowBytes, (row0 + n) * scaleRowBytes));
      return { row0, rows: n, tensor };
    }
    const sameBits = (dtype === 'bf16' && data.dtype === 'BF16') || (dtype === 'f16' && data.dtype === 'F16') || (dtype === 'f32' && data.dtype === 'F32');
    const elemBytes = data.dtype === 'F32' ? 4 : 2;
    const slice = data.bytes.subarray(row0 * cols * elemBytes, (row0 + n) * cols * elemBytes);
    if (sameBits) {
      writeTensor(gpu, tensor, slice);
    } else {
      const enc = encodeWeight(dtype, tensorDataToF32({ dtype: data.dtype, bytes: slice }, label), [n, cols]);
      writeTensor(gpu, tensor, enc.data, enc.scales);
    }
    return { row0, rows: n, tensor };
  });
  return { label, rows, cols, dtype, parts };
}

function partLabel(label: string, row0: number, n: number, rows: number): string {
  return n === rows ? label : `${label}[${row0}:${row0 + n}]`;
}

/** Bytes a matrix occupies on the GPU (data and scales). */
export function matrixBytes(m: MatrixWeight): number {
  return m.parts.reduce((s, p) => s + p.tensor.byteLength + (p.tensor.scales?.byteLength ?? 0), 0);
}

/**
 * `m` with every part transposed on the GPU (bit for bit, the same bytes), the standard parts freed; `m`
 * itself where a part does not fit the transposed layout (then the standard kernels run).
 */
export async function transposeMatrix(gpu: Gpu, m: MatrixWeight): Promise<MatrixWeight> {
  if (m.transposed || !m.parts.every((p) => transposedFits(p.tensor))) return m;
  const parts: MatrixWeight['parts'] = [];
  try {
    for (const p of m.parts) parts.push({ ...p, tensor: createTransposed(gpu, p.tensor) });
    await runOnce(gpu, `${m.label}.T`, m.parts.flatMap((p, i) => transposeWeight(gpu, p.tensor, parts[i].tensor)));
  } catch (e) {
    destroyMatrix({ ...m, parts });
    throw e;
  }
  destroyMatrix(m);
  return { ...m, parts, transposed: true };
}

export function destroyMatrix(m: MatrixWeight): void {
  for (const p of m.parts) {
    p.tensor.buffer.destroy();
    p.tensor.scales?.buffer.destroy();
  }
}
