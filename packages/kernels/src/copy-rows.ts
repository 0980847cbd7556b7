import { defineKernel, foldWorkgroups, ShapeError, type Dispatch, type Gpu, type Tensor } from '@g3n/gpu';
import source from '../../../shaders/copy_rows.wgsl?raw';

const WG = 256;
export const copyRowsKernels = {
  words: defineKernel('copy_rows', source, 'copy_rows', { WG }),
};

export interface CopyRowsArgs {
  /** Source words (any storage dtype: only its u32 words are read). */
  src: Tensor;
  /** Destination words; a different buffer from `src`. */
  dst: Tensor;
  rows: number;
  /** Words copied from each row. */
  rowWords: number;
  /** Word offset of the first source row and words from one source row to the next. */
  srcOffset: number;
  srcStride: number;
  /** Word offset of the first destination row and words from one destination row to the next. */
  dstOffset: number;
  dstStride: number;
}

function words(t: Tensor): number {
  return Math.floor(t.byteLength / 4);
}

/**
 * dst[dstOffset + r * dstStride + j] = src[srcOffset + r * srcStride + j] for r < rows, j < rowWords:
 * a block of rows placed into a wider table (or taken out of one), word for word.
 */
export function copyRows(gpu: Gpu, args: CopyRowsArgs): Dispatch {
  const { src, dst, rows, rowWords, srcOffset, srcStride, dstOffset, dstStride } = args;
  const name = 'copy_rows';
  for (const [what, x] of [['rows', rows], ['rowWords', rowWords]] as const) {
    if (!Number.isInteger(x) || x < 1 || x > 0xffffffff) throw new ShapeError(name, `${what} = ${x} must be an integer in [1, 2^32)`);
  }
  for (const [what, x] of [['srcOffset', srcOffset], ['srcStride', srcStride], ['dstOffset', dstOffset], ['dstStride', dstStride]] as const) {
    if (!Number.isInteger(x) || x < 0 || x > 0xffffffff) throw new ShapeError(name, `${what} = ${x} must be a u32`);
  }
  if (rows * rowWords > 0xffffffff) throw new ShapeError(name, `rows * rowWords = ${rows * rowWords} exceeds u32 indexing`);
  if (rows > 1 && (srcStride < rowWords || dstStride < rowWords)) throw new ShapeError(name, `strides (${srcStride}, ${dstStride}) are shorter than a row of ${rowWords} words; rows would overlap`);
  const last = (offset: number, stride: number) => offset + (rows - 1) * stride + rowWords;
  if (last(srcOffset, srcStride) > words(src)) throw new ShapeError(name, `reading up to word ${last(srcOffset, srcStride)} overruns ${src.label} (${words(src)} words)`);
  if (last(dstOffset, dstStride) > words(dst)) throw new ShapeError(name, `writing up to word ${last(dstOffset, dstStride)} overruns ${dst.label} (${words(dst)} words)`);
  if (src.buffer === dst.buffer) throw new ShapeError(name, `${src.label} and ${dst.label} share a GPU buffer; copy between separate buffers`);
  return {
    kernel: copyRowsKernels.words,
    bindings: { src, dst },
    params: { rows, row_words: rowWords, src_offset: srcOffset, src_stride: srcStride, dst_offset: dstOffset, dst_stride: dstStride },
    workgroups: foldWorkgroups(Math.ceil((rows * rowWords) / WG), gpu.caps.limits.maxComputeWorkgroupsPerDimension),
  };
}
