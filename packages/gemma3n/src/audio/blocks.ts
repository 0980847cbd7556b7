/**
 * The dispatches of the audio tower's stages for one clip (spec §5.3–5.5), in the reference's order.
 * Shapes in comments: T2 sscp frames, D hidden, H heads x hd head_dim, FF = 4 D.
 */
import type { Dispatch, Gpu, Tensor } from '@g3n/gpu';
import { addInplace, clip, conv2d, cumulativeGroupNorm, glu, linear, localAttention, maskRows, rmsNorm, silu } from '@g3n/kernels';
import type { AudioConfig } from './config.ts';
import type { AudioLayerWeights, AudioWeights, FfwWeights } from './weights.ts';

/** Activations of one clip, sized for its frame count (each its own buffer). */
export interface ClipWorkspace {
  /** [T1, F1, C0] and [T2, F2, C1]: the SSCP conv outputs, channels-last. */
  c0: Tensor;
  c1: Tensor;
  /** [2 T1]: group-norm statistics. */
  stats: Tensor;
  /** [T2, D]: the residual stream. */
  x: Tensor;
  /** [T2, D]: a module's normed input and its output. */
  h: Tensor;
  /** [T2, max(FF, 3 D)]: FFN hidden, q|k|v rows, light-conv GLU input. */
  mid: Tensor;
  /** [T2, D]: attention output, GLU output. */
  att: Tensor;
  /** [T2, D]: depthwise conv output. */
  conv: Tensor;
  /** [span, D]: relative-position embeddings of the current layer. */
  rel: Tensor;
  /** u32 [T2]: 1 for real frames. */
  mask: Tensor;
}

/** Sub-sample conv projection: features [T, F] -> x [T2, D] (spec §5.3, §5.4). */
export function sscp(gpu: Gpu, c: AudioConfig, w: AudioWeights, ws: ClipWorkspace, features: Tensor, T: number, counts: { sscp: [number, number]; freq: [number, number] }): Dispatch[] {
  const [T1, T2] = counts.sscp;
  const [F1, F2] = counts.freq;
  const [C0, C1] = c.sscpChannels;
  const [[kh0, kw0], [kh1, kw1]] = c.sscpKernels;
  const [[sh0, sw0], [sh1, sw1]] = c.sscpStrides;
  const F = c.inputFeatSize;
  // time padded by kernel - 1 rows at the end (implied by outH), frequency by one column each side
  const common = { padTop: 0, padLeft: 1, groups: 1 };
  return [
    conv2d(gpu, { x: features, w: w.conv0, out: ws.c0, inH: T, inW: F, inC: 1, outC: C0, kh: kh0, kw: kw0, strideH: sh0, strideW: sw0, outH: T1, outW: F1, ...common }), // [T1, F1, C0]
    ...cumulativeGroupNorm(gpu, { x: ws.c0, weight: w.norm0, stats: ws.stats, rows: T1, rowLen: F1 * C0, channels: C0, eps: c.sscpEps, relu: true }),
    conv2d(gpu, { x: ws.c0, w: w.conv1, out: ws.c1, inH: T1, inW: F1, inC: C0, outC: C1, kh: kh1, kw: kw1, strideH: sh1, strideW: sw1, outH: T2, outW: F2, ...common }), // [T2, F2, C1]
    ...cumulativeGroupNorm(gpu, { x: ws.c1, weight: w.norm1, stats: ws.stats, rows: T2, rowLen: F2 * C1, channels: C1, eps: c.sscpEps, relu: true }),
    linear(gpu, { x: ws.c1, w: w.inputProj, out: ws.x, rows: T2 }), // [T2, D], input index f * C1 + c
  ];
}

/** x += residual_weight * RMSNorm_post(W2 silu(W1 RMSNorm_pre(clip(x)))), clip after W2 too (spec §5.5 1, 5). */
function ffw(gpu: Gpu, c: AudioConfig, w: FfwWeights, ws: ClipWorkspace, T: number): Dispatch[] {
  const D = c.hiddenSize;
  const g = c.gradientClipping;
  const eps = c.rmsNormEps;
  return [
    clip(gpu, { x: ws.x, out: ws.h, n: T * D, limit: g }),
    rmsNorm(gpu, { x: ws.h, out: ws.h, weight: w.preNorm, rows: T, cols: D, eps }),
    linear(gpu, { x: ws.h, w: w.w1, out: ws.mid, rows: T }), // [T, FF]
    silu(gpu, { x: ws.mid, n: T * c.ffnSize }),
    linear(gpu, { x: ws.mid, w: w.w2, out: ws.h, rows: T }), // [T, D]
    clip(gpu, { x: ws.h, n: T * D, limit: g }),
    rmsNorm(gpu, { x: ws.h, out: ws.h, weight: w.postNorm, rows: T, cols: D, eps }),
    addInplace(gpu, view(ws.x, T * D), view(ws.h, T * D), c.residualWeight),
  ];
}

/** A tensor's first n values as a flat tensor (the elementwise kernels take their length from the shape). */
function view(t: Tensor, n: number): Tensor {
  return { ...t, shape: [n] };
}

/** One conformer block on x [T, D], in place (spec §5.5). `sinusoid` is the relative-position table [span, D]. */
export function conformerBlock(gpu: Gpu, c: AudioConfig, w: AudioLayerWeights, sinusoid: Tensor, ws: ClipWorkspace, T: number): Dispatch[] {
  const D = c.hiddenSize;
  const g = c.gradientClipping;
  const eps = c.rmsNormEps;
  const span = c.maxPast + 1 + c.maxFuture;
  return [
    // 1. FFN start
    ...ffw(gpu, c, w.ffwStart, ws, T),
    // 2. attention: x += RMSNorm_post(clip(post . Attn(RMSNorm_pre(clip(x)))))
    clip(gpu, { x: ws.x, out: ws.h, n: T * D, limit: g }),
    rmsNorm(gpu, { x: ws.h, out: ws.h, weight: w.preAttnNorm, rows: T, cols: D, eps }),
    linear(gpu, { x: ws.h, w: w.qProj, out: ws.mid, rows: T, outStride: 3 * D, outOffset: 0 }), // [T, 3D]: q | k | v
    linear(gpu, { x: ws.h, w: w.kProj, out: ws.mid, rows: T, outStride: 3 * D, outOffset: D }),
    linear(gpu, { x: ws.h, w: w.vProj, out: ws.mid, rows: T, outStride: 3 * D, outOffset: 2 * D }),
    linear(gpu, { x: sinusoid, w: w.posProj, out: ws.rel, rows: span }), // [span, D]
    localAttention(gpu, {
      qkv: ws.mid,
      rowStride: 3 * D,
      qOffset: 0,
      kOffset: D,
      vOffset: 2 * D,
      rel: ws.rel,
      qscale: w.qScale,
      mask: ws.mask,
      out: ws.att,
      rows: T,
      heads: c.numHeads,
      headDim: c.headDim,
      left: c.maxPast,
      right: c.maxFuture,
      chunk: c.chunkSize,
      cap: c.logitCap,
    }), // [T, D]
    linear(gpu, { x: ws.att, w: w.post, out: ws.h, rows: T }),
    clip(gpu, { x: ws.h, n: T * D, limit: g }),
    rmsNorm(gpu, { x: ws.h, out: ws.h, weight: w.postNorm, rows: T, cols: D, eps }),
    addInplace(gpu, view(ws.x, T * D), view(ws.h, T * D)),
    // 3. padded frames to zero
    maskRows(gpu, { x: ws.x, mask: ws.mask, rows: T, cols: D }),
    // 4. light conv: x += linear_end(silu(RMSNorm_conv(clip(dwconv_causal(GLU(linear_start(RMSNorm_pre(x))))))))
    rmsNorm(gpu, { x: ws.x, out: ws.h, weight: w.lconvPreNorm, rows: T, cols: D, eps }),
    linear(gpu, { x: ws.h, w: w.linearStart, out: ws.mid, rows: T }), // [T, 2D]
    glu(gpu, { x: ws.mid, out: ws.att, rows: T, cols: D }), // [T, D]
    conv2d(gpu, { x: ws.att, w: w.depthwise, out: ws.conv, inH: T, inW: 1, inC: D, outC: D, kh: c.convKernel, kw: 1, strideH: 1, strideW: 1, padTop: c.convKernel - 1, padLeft: 0, outH: T, outW: 1, groups: D }),
    clip(gpu, { x: ws.conv, n: T * D, limit: g }),
    rmsNorm(gpu, { x: ws.conv, out: ws.conv, weight: w.convNorm, rows: T, cols: D, eps }),
    silu(gpu, { x: ws.conv, n: T * D }),
    linear(gpu, { x: ws.conv, w: w.linearEnd, out: ws.h, rows: T }),
    addInplace(gpu, view(ws.x, T * D), view(ws.h, T * D)),
    // 5. FFN end
    ...ffw(gpu, c, w.ffwEnd, ws, T),
    // 6. x = RMSNorm_norm(clip(x))
    clip(gpu, { x: ws.x, n: T * D, limit: g }),
    rmsNorm(gpu, { x: ws.x, out: ws.x, weight: w.norm, rows: T, cols: D, eps }),
  ];
}
