/**
 * The onnxruntime-web side of the vision cases (kernels-vision.ts), on g3n's device: a convolution as
 * one ONNX `Conv` (NCHW), an MQA block's attention as `MatMul` + `Softmax` + `MatMul`. g3n keeps
 * activations channels-last, so the input is transposed to NCHW here, once, before timing, and
 * onnxruntime-web's NCHW output is transposed back on the CPU for the comparison. The conv weight and
 * bias are g3n's values (f16 storage widened to f32) as initializers.
 */
import { createTensor, numel, readBytes, readF32, writeTensor, type Gpu, type Tensor } from '@g3n/gpu';
import { f16BitsToF32 } from '@g3n/kernels';
import type { CaseOperands } from './kernels.ts';
import { convModel, mqaAttentionModel } from './ort.ts';
import { gpuTensor, session, type OrtCall, type OrtModule } from './ort-session.ts';

type ConvOperands = Extract<CaseOperands, { kind: 'conv' }>;
type MqaOperands = Extract<CaseOperands, { kind: 'mqa' }>;

/** [h * w, c] (channels-last) -> [c, h * w] (NCHW of one image), or back with the arguments swapped. */
export function transposePlanes(x: Float32Array, pixels: number, channels: number): Float32Array {
  const out = new Float32Array(pixels * channels);
  for (let p = 0; p < pixels; p++) for (let c = 0; c < channels; c++) out[c * pixels + p] = x[p * channels + c];
  return out;
}

async function weightF32(gpu: Gpu, w: Tensor): Promise<Float32Array> {
  if (w.dtype === 'f32') return readF32(gpu, w);
  if (w.dtype !== 'f16') throw new Error(`${w.label}: the onnxruntime-web conv takes f32 or f16 weights, got ${w.dtype}`);
  const n = numel(w.shape);
  return f16BitsToF32(new Uint16Array(await readBytes(gpu, w.buffer, w.offset, n * 2), 0, n));
}



/** g3n's conv as an ONNX Conv over an NCHW copy of its input; outputs compared channels-last. */
export async function convCall(ort: OrtModule, gpu: Gpu, label: string, op: ConvOperands): Promise<OrtCall> {
  const s = op.conv;
  const inPixels = s.inH * s.inW;
  const outPixels = s.outH * s.outW;
  const x = createTensor(gpu, `${label}.ort.X`, 'f32', [s.inC, inPixels]);
  writeTensor(gpu, x, transposePlanes((await readF32(gpu, op.x)).subarray(0, inPixels * s.inC), inPixels, s.inC));
  const y = createTensor(gpu, `${label}.ort.Y`, 'f32', [s.outC, outPixels]);
  const bias = op.bias ? await readF32(gpu, op.bias) : null;
  const sess = await session(ort, gpu, convModel(s, await weightF32(gpu, op.w), bias));
  const feeds = { X: gpuTensor(ort, x, [1, s.inC, s.inH, s.inW]) };
  const fetches = { Y: gpuTensor(ort, y, [1, s.outC, s.outH, s.outW]) };
  return {
    run: () => sess.run(feeds, fetches),
    outputs: async () => [transposePlanes(await readF32(gpu, y), s.outC, outPixels), (await readF32(gpu, op.out)).subarray(0, outPixels * s.outC)],
    release: async () => (await sess.release(), x.buffer.destroy(), y.buffer.destroy()),
  };
}

/** The attention as MatMul(Q, KT) -> Softmax -> MatMul(., V) on g3n's q and v, with KT = K^T / sqrt(d) made here. */
export async function mqaCall(ort: OrtModule, gpu: Gpu, label: string, op: MqaOperands): Promise<OrtCall> {
  const { rows, keys, keyDim: d } = op;
  const k = (await readF32(gpu, op.k)).subarray(0, keys * d);
  const kt = transposePlanes(k, keys, d);
  const scale = 1 / Math.sqrt(d);
  for (let i = 0; i < kt.length; i++) kt[i] *= scale;
  const ktT = createTensor(gpu, `${label}.ort.KT`, 'f32', [d, keys]);
  writeTensor(gpu, ktT, kt);
  const o = createTensor(gpu, `${label}.ort.O`, 'f32', [rows, d]);
  const sess = await session(ort, gpu, mqaAttentionModel(rows, keys, d));
  const feeds = { Q: gpuTensor(ort, op.q, [rows, d]), KT: gpuTensor(ort, ktT, [d, keys]), V: gpuTensor(ort, op.v, [keys, d]) };
  const fetches = { O: gpuTensor(ort, o, [rows, d]) };
  return {
    run: () => sess.run(feeds, fetches),
    outputs: async () => [await readF32(gpu, o), (await readF32(gpu, op.out)).subarray(0, rows * d)],
    release: async () => (await sess.release(), ktT.buffer.destroy(), o.buffer.destroy()),
  };
}
