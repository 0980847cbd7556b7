/**
 * f64 reference of the Gemma 3n image resize (the processor's antialiased bilinear, as Pillow's
 * resample does it): a separable triangle filter whose support grows with the downscale factor,
 * horizontal pass first, each pass rounded to 8 bits (half up, clamped), then rescaled by 1/255
 * into CHW [3, outH, outW]. Alpha is dropped.
 */

/** One output sample's input taps: the first input index and the normalised weights. */
export interface ResampleTaps {
  first: number;
  weights: Float64Array;
}

function triangle(x: number): number {
  const a = Math.abs(x);
  return a < 1 ? 1 - a : 0;
}

/**
 * Taps of output sample i for a resize of `inSize` samples to `outSize`: centre (i + 0.5) * scale,
 * support max(scale, 1), weights tri((j - centre + 0.5) / max(scale, 1)) over the input samples
 * j in [trunc(centre - support + 0.5), trunc(centre + support + 0.5)) clipped to the image,
 * normalised to sum 1.
 */
export function resampleTaps(inSize: number, outSize: number): ResampleTaps[] {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale;
  const taps: ResampleTaps[] = [];
  for (let i = 0; i < outSize; i++) {
    const centre = (i + 0.5) * scale;
    const lo = Math.max(Math.trunc(centre - support + 0.5), 0);
    const hi = Math.min(Math.trunc(centre + support + 0.5), inSize);
    const weights = new Float64Array(hi - lo);
    let total = 0;
    for (let j = lo; j < hi; j++) {
      const w = triangle((j - centre + 0.5) / filterScale);
      weights[j - lo] = w;
      total += w;
    }
    if (total !== 0) for (let k = 0; k < weights.length; k++) weights[k] /= total;
    taps.push({ first: lo, weights });
  }
  return taps;
}

export interface ResizeRefArgs {
  /** RGBA8, row-major; row y starts at byte y * rowStride * 4. */
  rgba: Uint8Array;
  width: number;
  height: number;
  outWidth: number;
  outHeight: number;
  /** Pixels between row starts (default width). */
  rowStride?: number;
}

/**
 * The horizontal pass before rounding: [height, outWidth, 3] weighted sums of the input levels
 * (round8 of these are the 8-bit intermediate image).
 */
export function resizeRowsRef(args: ResizeRefArgs): Float64Array {
  const { rgba, width, height, outWidth } = args;
  const stride = args.rowStride ?? width;
  const taps = resampleTaps(width, outWidth);
  const sums = new Float64Array(height * outWidth * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < outWidth; x++) {
      const { first, weights } = taps[x];
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let k = 0; k < weights.length; k++) s += weights[k] * rgba[(y * stride + first + k) * 4 + c];
        sums[(y * outWidth + x) * 3 + c] = s;
      }
    }
  }
  return sums;
}

/**
 * The vertical pass before rounding: from 8-bit levels `mid` [height, outWidth, 3] to CHW
 * [3, outHeight, outWidth] weighted sums (levels, not yet rounded nor divided by 255).
 */
export function resizeColumnsRef(mid: ArrayLike<number>, height: number, outWidth: number, outHeight: number): Float64Array {
  const taps = resampleTaps(height, outHeight);
  const plane = outWidth * outHeight;
  const sums = new Float64Array(3 * plane);
  for (let y = 0; y < outHeight; y++) {
    const { first, weights } = taps[y];
    for (let x = 0; x < outWidth; x++) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let k = 0; k < weights.length; k++) s += weights[k] * mid[((first + k) * outWidth + x) * 3 + c];
        sums[c * plane + y * outWidth + x] = s;
      }
    }
  }
  return sums;
}

/** Round a pass's weighted sums to 8-bit levels: floor(v + 0.5) clamped to [0, 255]. */
export function round8(v: number): number {
  return Math.min(255, Math.max(0, Math.floor(v + 0.5)));
}

/** CHW [3, outHeight, outWidth] in [0, 1]: both passes, each rounded to 8 bits, then / 255. */
export function imageResizeRef(args: ResizeRefArgs): Float64Array {
  const mid = resizeRowsRef(args).map(round8);
  return resizeColumnsRef(mid, args.height, args.outWidth, args.outHeight).map((v) => round8(v) / 255);
}
