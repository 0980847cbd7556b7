import { defineKernel, ShapeError, type Dispatch, type Gpu, type Tensor } from '@g3n/gpu';
import source from '../../../shaders/image_resize.wgsl?raw';
import { guardCount, guardHolds, guardSeparate } from './norm.ts';

const WG_X = 16;
const WG_Y = 16;
export const imageResizeKernels = {
  horizontal: defineKernel('image_resize', source, 'resize_horizontal', { WG_X, WG_Y }),
  vertical: defineKernel('image_resize', source, 'resize_vertical', { WG_X, WG_Y }),
};

/** Largest image side either pass takes (f32 holds every pixel coordinate exactly well past it). */
export const IMAGE_RESIZE_MAX_SIDE = 32768;

export interface ImageResizeArgs {
  /** u32 RGBA8 pixels (R in the low byte), row y starting at word y * rowStride. */
  src: Tensor;
  /** u32 scratch of at least height * outWidth words: the horizontal pass, RGB8 packed. */
  mid: Tensor;
  /** f32 [3, outHeight, outWidth] output in [0, 1]. */
  out: Tensor;
  width: number;
  height: number;
  outWidth: number;
  outHeight: number;
  /** Pixels between input row starts (default width). */
  rowStride?: number;
}

function guardDtype(kernel: string, t: Tensor, dtype: Tensor['dtype']): void {
  if (t.dtype !== dtype) throw new ShapeError(kernel, `${t.label} must be ${dtype}, got ${t.dtype}`);
}

/**
 * Resize an RGBA8 image to CHW f32 [3, outHeight, outWidth] with the processor's antialiased
 * bilinear filter (shaders/image_resize.wgsl): the horizontal pass into `mid`, then the vertical
 * pass into `out`, each rounded to 8 bits; values are levels / 255. Two dispatches, in order.
 */
export function imageResize(gpu: Gpu, args: ImageResizeArgs): [Dispatch, Dispatch] {
  const { src, mid, out, width, height, outWidth, outHeight } = args;
  const rowStride = args.rowStride ?? width;
  const name = 'image_resize';
  for (const [n, v] of [['width', width], ['height', height], ['outWidth', outWidth], ['outHeight', outHeight]] as const) {
    guardCount(name, n, v, IMAGE_RESIZE_MAX_SIDE);
  }
  if (!Number.isInteger(rowStride) || rowStride < width) throw new ShapeError(name, `rowStride = ${rowStride} must be an integer >= width ${width}`);
  guardDtype(name, src, 'u32');
  guardDtype(name, mid, 'u32');
  guardDtype(name, out, 'f32');
  if ((height - 1) * rowStride + width > 0xffffffff) throw new ShapeError(name, `the input of ${height} rows of ${rowStride} exceeds u32 indexing`);
  guardHolds(name, src, (height - 1) * rowStride + width);
  guardHolds(name, mid, height * outWidth);
  guardHolds(name, out, 3 * outHeight * outWidth);
  guardSeparate(name, mid, src);
  guardSeparate(name, out, src, mid);

  const params = { in_w: width, in_h: height, row_stride: rowStride, out_w: outWidth, out_h: outHeight, scale_x: width / outWidth, scale_y: height / outHeight, _pad: 0 };
  const grid = (cols: number, rows: number): [number, number, number] => [Math.ceil(cols / WG_X), Math.ceil(rows / WG_Y), 1];
  return [
    { kernel: imageResizeKernels.horizontal, bindings: { src, mid }, params, workgroups: grid(outWidth, height) },
    { kernel: imageResizeKernels.vertical, bindings: { mid, out }, params, workgroups: grid(outWidth, outHeight) },
  ];
}
