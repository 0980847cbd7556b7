/**
 * Kernel cases on the vision tower's shapes (spec §4.3), each run by the dispatch the tower uses
 * (packages/gemma3n/src/vision/forward.ts): the stem (3x3 stride 2, 3 -> 64, with bias, 768 x 768
 * input), the stride-2 depthwise dw_mid of block 2.0 (5x5 over 1536 channels, 96 -> 48, SAME pads
 * (1, 2)), the pw_exp 1x1 of blocks 2.1-2.7 (640 -> 2560 at 48 x 48, the tiled GEMM) and the
 * attention of an MQA block of stage 3 (16 heads of 96 over 576 query and key pixels) and of stage 2
 * (12 heads of 64, 2304 queries over 576 keys): q K^T and P V as 1x1 convolutions, the row softmax
 * and V's transpose between them. Channel widths (and the key dims) are divided by `scale`; the
 * pixel counts are the published ones. Conv weights are stored f16 as the tower keeps them.
 */
import { createTensor, numel, storageBytes, type Dispatch, type Gpu, type Tensor } from '@g3n/gpu';
import { conv2d, linear, samePadding, softmaxRows, transposeWeight } from '@g3n/kernels';
import { fillRandom, fillWeight, seedOf, weightAmplitude } from './fill.ts';
import type { KernelCase } from './kernels.ts';
import type { ConvModelShape } from './ort.ts';

/** Scales at which every width of these cases divides exactly (the tower's VISION_SCALES). */
export const VISION_KERNEL_SCALES = [1, 2, 4, 8, 16, 32] as const;

type ConvWeight = 'f32' | 'f16';

function f32(gpu: Gpu, label: string, shape: number[], fills: Dispatch[], seed: number): Tensor {
  const t = createTensor(gpu, label, 'f32', shape);
  fills.push(fillRandom(gpu, { out: t, words: t.byteLength / 4, mode: 'f32', seed, amp: 1 }));
  return t;
}

/** The conv's shape with TF SAME padding (spec §4.2) on a square input. */
export function sameConv(size: number, inC: number, outC: number, k: number, stride: number, groups: number): ConvModelShape {
  const p = samePadding(size, k, stride);
  return { inH: size, inW: size, inC, outC, kh: k, kw: k, stride, pads: [p.before, p.before, p.after, p.after], outH: p.out, outW: p.out, groups };
}

/** A convolution case: conv2d, or the GEMM (linear) for a 1x1 of stride 1 as the tower runs pointwise layers. */
export function convCase(name: string, s: ConvModelShape, withBias: boolean, dtype: ConvWeight): KernelCase {
  const pointwise = s.kh === 1 && s.kw === 1 && s.stride === 1 && s.groups === 1;
  const wShape = [s.outC, s.inC / s.groups, s.kh, s.kw];
  const macs = s.outH * s.outW * s.outC * (s.inC / s.groups) * s.kh * s.kw;
  return {
    name,
    model: 'vision',
    dtype,
    shape: [s.inH, s.inW, s.inC, s.outC, s.kh, s.stride, s.groups],
    bytes: 4 * (s.inH * s.inW * s.inC + s.outH * s.outW * s.outC) + storageBytes(dtype, numel(wShape)) + (withBias ? 4 * s.outC : 0),
    flops: 2 * macs,
    build(gpu, i) {
      const fills: Dispatch[] = [];
      const x = f32(gpu, `${name}.x#${i}`, [s.inH * s.inW, s.inC], fills, seedOf(name, 3 * i));
      const w = createTensor(gpu, `${name}.w#${i}`, dtype, pointwise ? [s.outC, s.inC] : wShape);
      fills.push(...fillWeight(gpu, w, seedOf(name, 3 * i + 1), weightAmplitude(numel(wShape) / s.outC)));
      const bias = withBias ? f32(gpu, `${name}.b#${i}`, [s.outC], fills, seedOf(name, 3 * i + 2)) : null;
      const out = createTensor(gpu, `${name}.out#${i}`, 'f32', [s.outH * s.outW, s.outC]);
      const call = pointwise
        ? [linear(gpu, { x, w, out, rows: s.inH * s.inW })]
        : [conv2d(gpu, { x, w, bias, out, inH: s.inH, inW: s.inW, inC: s.inC, outC: s.outC, kh: s.kh, kw: s.kw, strideH: s.stride, strideW: s.stride, padTop: s.pads[0], padLeft: s.pads[1], outH: s.outH, outW: s.outW, groups: s.groups })];
      const destroy = () => [x, w, out, ...(bias ? [bias] : [])].forEach((t) => t.buffer.destroy());
      return { fills, call, operands: { kind: 'conv', conv: s, x, w, bias, out }, destroy };
    },
  };
}

/** out [rows, M, kd] -> [rows, kd] of one multi-query attention: rows = query pixels x heads over M shared keys. */
export function mqaCase(name: string, queries: number, heads: number, keyDim: number, keys: number): KernelCase {
  const rows = queries * heads;
  return {
    name,
    model: 'vision',
    dtype: 'f32',
    shape: [queries, heads, keyDim, keys],
    bytes: 4 * (2 * rows * keyDim + 2 * keys * keyDim),
    flops: 4 * rows * keys * keyDim,
    build(gpu, i) {
      const fills: Dispatch[] = [];
      const q = f32(gpu, `${name}.q#${i}`, [rows, keyDim], fills, seedOf(name, 3 * i));
      const k = f32(gpu, `${name}.k#${i}`, [keys, keyDim], fills, seedOf(name, 3 * i + 1));
      const v = f32(gpu, `${name}.v#${i}`, [keys, keyDim], fills, seedOf(name, 3 * i + 2));
      const scores = createTensor(gpu, `${name}.scores#${i}`, 'f32', [rows, keys]);
      const vt = createTensor(gpu, `${name}.vt#${i}`, 'f32', [keyDim, keys]);
      const out = createTensor(gpu, `${name}.out#${i}`, 'f32', [rows, keyDim]);
      // out [rows, n] = x [rows, k] w^T with an f32 activation as the weight: the tower's 1x1-conv GEMM.
      const gemm = (x: Tensor, w: Tensor, y: Tensor, n: number, kk: number) =>
        conv2d(gpu, { x, w: { ...w, shape: [n, kk, 1, 1] }, bias: null, out: y, inH: 1, inW: rows, inC: kk, outC: n, kh: 1, kw: 1, strideH: 1, strideW: 1, padTop: 0, padLeft: 0, outH: 1, outW: rows, groups: 1 });
      const call = [
        gemm(q, k, scores, keys, keyDim),
        softmaxRows(gpu, { x: scores, rows, cols: keys, scale: 1 / Math.sqrt(keyDim) }),
        ...transposeWeight(gpu, v, vt),
        gemm(scores, vt, out, keyDim, keys),
      ];
      const destroy = () => [q, k, v, scores, vt, out].forEach((t) => t.buffer.destroy());
      return { fills, call, operands: { kind: 'mqa', rows, keys, keyDim, q, k, v, out }, destroy };
    },
  };
}

/** The vision cases at 1/scale of every channel width; names start with 'vision '. */
export function visionKernelCases(scale: number, dtype: ConvWeight = 'f16'): KernelCase[] {
  if (!(VISION_KERNEL_SCALES as readonly number[]).includes(scale)) throw new Error(`vision kernel scale must be one of ${VISION_KERNEL_SCALES.join(', ')}, got ${scale}`);
  const d = (n: number) => n / scale;
  return [
    convCase(`vision stem conv 3x3 s2 ${dtype}`, sameConv(768, 3, d(64), 3, 2, 1), true, dtype),
    convCase(`vision depthwise 5x5 s2 (2.0 dw_mid) ${dtype}`, sameConv(96, d(1536), d(1536), 5, 2, d(1536)), false, dtype),
    convCase(`vision pointwise expand 1x1 (2.1 pw_exp) ${dtype}`, sameConv(48, d(640), d(2560), 1, 1, 1), false, dtype),
    mqaCase('vision mqa attention (stage 3)', 24 * 24, 16, d(96), 24 * 24),
    mqaCase('vision mqa attention (stage 2)', 48 * 48, 12, d(64), 24 * 24),
  ];
}
