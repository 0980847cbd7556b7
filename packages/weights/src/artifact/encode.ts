/**
 * Tensor bytes between the checkpoint's dtype and the artifact's stored dtype, and between the logical
 * [rows, cols] order and the column-blocks order ([cols/32][rows][32]) that down_proj is stored in.
 * Quantization is the kernels' own (quantizeQ8 / quantizeQ4 of @g3n/kernels), so the stored words are
 * exactly what the linear shaders read.
 */
import { f32ToBf16Bits, f32ToF16Bits, quantizeQ4, quantizeQ8 } from '@g3n/kernels';
import { toF32 } from '../checkpoint.ts';
import { CheckpointError } from '../errors.ts';
import { DTYPE_BYTES, type SafetensorsDType } from '../safetensors.ts';
import { GROUP, isQuantized, scaleWordBytes, type StoredDType } from './manifest.ts';

export interface Encoded {
  data: Uint8Array;
  /** f16 scale words of Q8/Q4 data: ceil(groups / 2) * 4 bytes, group g in the half at byte 2g. */
  scales?: Uint8Array;
}

function bytesOf(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/** Convert a row-major [rows, cols] block from the checkpoint dtype to the stored dtype. */
export function encodeBlock(src: Uint8Array, from: SafetensorsDType, to: StoredDType, rows: number, cols: number, name = ''): Encoded {
  if (to === from) return { data: src };
  const where = { tensor: name };
  if (!['F32', 'F16', 'BF16', 'F64'].includes(from)) throw new CheckpointError('bad-dtype', `"${name}" is ${from}; only float tensors can be stored as ${to}.`, where);
  const f = toF32(src, { name, dtype: from, file: '' });
  switch (to) {
    case 'F32':
      return { data: bytesOf(f) };
    case 'BF16':
      return { data: bytesOf(f32ToBf16Bits(f)) };
    case 'F16':
      return { data: bytesOf(f32ToF16Bits(f)) };
    case 'Q8':
    case 'Q4': {
      const q = to === 'Q8' ? quantizeQ8(f, rows, cols) : quantizeQ4(f, rows, cols);
      return { data: bytesOf(q.data), scales: bytesOf(q.scales) };
    }
    default:
      throw new CheckpointError('bad-dtype', `"${name}": cannot store ${from} as ${to}.`, where);
  }
}

/**
 * Transpose an [outer][inner] array of `groupBytes`-byte groups into [inner][outer]. With outer = rows and
 * inner = cols / 32 this takes row-major groups to column-blocks order; with the two swapped, back.
 */
export function transposeGroups(src: Uint8Array, groupBytes: number, outer: number, inner: number): Uint8Array {
  const out = new Uint8Array(outer * inner * groupBytes);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const from = (o * inner + i) * groupBytes;
      out.set(src.subarray(from, from + groupBytes), (i * outer + o) * groupBytes);
    }
  }
  return out;
}

/** Bytes of one 32-element group in `dtype`. */
export function groupBytes(dtype: StoredDType): number {
  if (dtype === 'Q8') return GROUP;
  if (dtype === 'Q4') return GROUP / 2;
  return GROUP * DTYPE_BYTES[dtype];
}

/** A whole [rows, cols] tensor in column-blocks order, encoded: quantization groups are the stored 32-element runs. */
export function encodeColumnBlocks(src: Uint8Array, from: SafetensorsDType, to: StoredDType, rows: number, cols: number, name = ''): Encoded {
  const blocks = cols / GROUP;
  const permuted = transposeGroups(src, GROUP * DTYPE_BYTES[from], rows, blocks);
  return encodeBlock(permuted, from, to, rows * blocks, GROUP, name);
}

/** Column-blocks data (and scale words) of a [rows, cols] tensor back in row-major order. */
export function columnBlocksToRowMajor(dtype: StoredDType, rows: number, cols: number, data: Uint8Array, scales?: Uint8Array): Encoded {
  const blocks = cols / GROUP;
  const out: Encoded = { data: transposeGroups(data, groupBytes(dtype), blocks, rows) };
  if (isQuantized(dtype) && scales) {
    const words = new Uint8Array(scaleWordBytes(rows * cols));
    words.set(transposeGroups(scales, 2, blocks, rows));
    out.scales = words;
  }
  return out;
}
