/**
 * Weight storage formats, encoded and decoded on the CPU exactly as the linear shaders read them.
 *
 * - bf16, f16: 16-bit patterns packed two per u32, element e in word e >> 1, the low half when e is even.
 *   bf16 -> f32 is `bits << 16`; f16 -> f32 is IEEE binary16 (what `unpack2x16float` returns).
 * - q8: symmetric groups of 32 consecutive elements along the input axis; int8 codes packed four per u32
 *   (element e in byte e & 3 of word e >> 2, two's complement); scale = f16(absmax / 127);
 *   q = clamp(round(x / scale), -127, 127), rounding half away from zero.
 * - q4: the same groups; 4-bit codes packed eight per u32 (element e at bits 4 * (e & 7) of word e >> 3),
 *   code c stands for q = c - 8; scale = f16(absmax / 7); q = clamp(round(x / scale), -8, 7).
 * absmax / qmax is an f32 division rounded to f16 (nearest even); x / scale uses that f16 value, in f64.
 * Scales are f16 pairs (group g in word g >> 1) and value = q * scale, which is exact in f32 on both sides.
 * A group whose scale rounds to f16 zero (all zeros, or absmax / qmax below 2^-25) stores q = 0; a scale that
 * would overflow f16 is clamped to 65504. Weights are assumed finite.
 */
import { createTensor, GROUP_SIZE, ShapeError, writeTensor, type DType, type Gpu, type Tensor } from '@g3n/gpu';

export type QuantDType = 'q8' | 'q4';
export type WeightDType = 'f32' | 'bf16' | 'f16' | QuantDType;

const F16_MAX = 65504;

function f32Bits(x: Float32Array): Uint32Array {
  return new Uint32Array(x.buffer, x.byteOffset, x.length);
}

/** f32 -> bf16 bit patterns, round to nearest even; every NaN becomes 0x7fc0. */
export function f32ToBf16Bits(x: Float32Array): Uint16Array {
  const u = f32Bits(x);
  const out = new Uint16Array(x.length);
  for (let i = 0; i < u.length; i++) {
    const b = u[i];
    if ((b & 0x7fffffff) > 0x7f800000) out[i] = 0x7fc0;
    else out[i] = Math.floor((b + 0x7fff + ((b >>> 16) & 1)) / 65536);
  }
  return out;
}

/** bf16 bit patterns -> f32 (exact: bits << 16). */
export function bf16BitsToF32(b: Uint16Array): Float32Array {
  const out = new Float32Array(b.length);
  const u = f32Bits(out);
  for (let i = 0; i < b.length; i++) u[i] = b[i] << 16;
  return out;
}

/** One f32 bit pattern -> IEEE binary16, round to nearest even, with subnormals, overflow to inf, NaN -> quiet NaN. */
function f16FromF32Bits(b: number): number {
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | (mant ? 0x7e00 : 0x7c00);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    const shift = 14 - e;
    if (shift > 24) return sign;
    const m = mant | 0x800000;
    let r = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (r & 1) === 1)) r++;
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (r & 1) === 1)) r++;
  return sign | r;
}

/** f32 -> f16 bit patterns (IEEE round to nearest even, subnormals kept, overflow to inf). */
export function f32ToF16Bits(x: Float32Array): Uint16Array {
  const u = f32Bits(x);
  const out = new Uint16Array(x.length);
  for (let i = 0; i < u.length; i++) out[i] = f16FromF32Bits(u[i]);
  return out;
}

function f16ToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1024 + m) * 2 ** (e - 25);
}

/** f16 bit patterns -> f32 (exact). */
export function f16BitsToF32(b: Uint16Array): Float32Array {
  const out = new Float32Array(b.length);
  for (let i = 0; i < b.length; i++) out[i] = f16ToNumber(b[i]);
  return out;
}

/** Two 16-bit patterns per u32, the even element in the low half; an odd length is padded with zero. */
export function packHalves(bits: Uint16Array): Uint32Array {
  const out = new Uint32Array(Math.ceil(bits.length / 2));
  for (let i = 0; i < bits.length; i++) out[i >>> 1] |= bits[i] << (16 * (i & 1));
  return out;
}

function unpackHalves(words: Uint32Array, n: number): Uint16Array {
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = (words[i >>> 1] >>> (16 * (i & 1))) & 0xffff;
  return out;
}

const QUANT = {
  q8: { qmin: -127, qmax: 127, bits: 8, perWord: 4 },
  q4: { qmin: -8, qmax: 7, bits: 4, perWord: 8 },
} as const;

function roundHalfAway(v: number): number {
  return Math.sign(v) * Math.floor(Math.abs(v) + 0.5);
}

function quantize(dtype: QuantDType, w: Float32Array, rows: number, cols: number): { data: Uint32Array; scales: Uint32Array } {
  if (cols % GROUP_SIZE !== 0) throw new ShapeError(`quantize_${dtype}`, `cols ${cols} is not a multiple of ${GROUP_SIZE}`);
  if (w.length !== rows * cols) throw new ShapeError(`quantize_${dtype}`, `${w.length} values for [${rows}, ${cols}]`);
  const { qmin, qmax, bits, perWord } = QUANT[dtype];
  const mask = (1 << bits) - 1;
  const n = rows * cols;
  const groups = n / GROUP_SIZE;
  const data = new Uint32Array(Math.ceil(n / perWord));
  const scaleBits = new Uint16Array(groups);
  const one = new Float32Array(1);
  const oneBits = new Uint32Array(one.buffer);
  for (let g = 0; g < groups; g++) {
    const e0 = g * GROUP_SIZE;
    let absmax = 0;
    for (let i = 0; i < GROUP_SIZE; i++) absmax = Math.max(absmax, Math.abs(w[e0 + i]));
    one[0] = Math.min(absmax / qmax, F16_MAX);
    const sb = f16FromF32Bits(oneBits[0]);
    const scale = f16ToNumber(sb);
    scaleBits[g] = scale === 0 ? 0 : sb;
    if (scale === 0) {
      if (dtype === 'q4') data.fill(0x88888888, e0 / perWord, (e0 + GROUP_SIZE) / perWord);
      continue;
    }
    for (let i = 0; i < GROUP_SIZE; i++) {
      const e = e0 + i;
      const q = Math.min(qmax, Math.max(qmin, roundHalfAway(w[e] / scale)));
      const code = dtype === 'q4' ? q + 8 : q & mask;
      data[Math.floor(e / perWord)] |= code << (bits * (e % perWord));
    }
  }
  return { data, scales: packHalves(scaleBits) };
}

/** Symmetric int8 group-32 quantization of a row-major [rows, cols] matrix (cols % 32 == 0). */
export function quantizeQ8(w: Float32Array, rows: number, cols: number): { data: Uint32Array; scales: Uint32Array } {
  return quantize('q8', w, rows, cols);
}

/** Symmetric 4-bit group-32 quantization of a row-major [rows, cols] matrix (cols % 32 == 0). */
export function quantizeQ4(w: Float32Array, rows: number, cols: number): { data: Uint32Array; scales: Uint32Array } {
  return quantize('q4', w, rows, cols);
}

/** The f32 values of `n` quantized elements, q * scale, as the shaders compute them. */
export function dequantize(dtype: QuantDType, data: Uint32Array, scales: Uint32Array, n: number): Float32Array {
  const { bits, perWord } = QUANT[dtype];
  const mask = (1 << bits) - 1;
  const s = f16BitsToF32(unpackHalves(scales, Math.ceil(n / GROUP_SIZE)));
  const out = new Float32Array(n);
  for (let e = 0; e < n; e++) {
    const code = (data[Math.floor(e / perWord)] >>> (bits * (e % perWord))) & mask;
    const q = dtype === 'q4' ? code - 8 : (code << 24) >> 24;
    out[e] = q * s[Math.floor(e / GROUP_SIZE)];
  }
  return out;
}

function splitShape(shape: number[], n: number): { rows: number; cols: number } {
  const cols = shape[shape.length - 1];
  const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  if (shape.length === 0 || rows * cols !== n) throw new ShapeError('encode_weight', `${n} values for shape [${shape.join(', ')}]`);
  return { rows, cols };
}

/** A weight in its storage layout (`scales` for q8/q4); the shape's last axis is the input axis. */
export function encodeWeight(dtype: DType, w: Float32Array, shape: number[]): { data: Uint32Array; scales?: Uint32Array } {
  const { rows, cols } = splitShape(shape, w.length);
  switch (dtype) {
    case 'f32':
      return { data: new Uint32Array(Float32Array.from(w).buffer) };
    case 'bf16':
      return { data: packHalves(f32ToBf16Bits(w)) };
    case 'f16':
      return { data: packHalves(f32ToF16Bits(w)) };
    case 'q8':
      return quantizeQ8(w, rows, cols);
    case 'q4':
      return quantizeQ4(w, rows, cols);
    default:
      throw new ShapeError('encode_weight', `${dtype} is not a weight dtype`);
  }
}

/** The f32 values the GPU sees for `n` elements stored as `dtype` (scales only for q8/q4). */
export function decodeWeight(dtype: DType, data: Uint32Array, scales: Uint32Array | undefined, n: number): Float32Array {
  switch (dtype) {
    case 'f32':
      return new Float32Array(data.buffer, data.byteOffset, n).slice();
    case 'bf16':
      return bf16BitsToF32(unpackHalves(data, n));
    case 'f16':
      return f16BitsToF32(unpackHalves(data, n));
    case 'q8':
    case 'q4':
      if (!scales) throw new ShapeError('decode_weight', `${dtype} needs scales`);
      return dequantize(dtype, data, scales, n);
    default:
      throw new ShapeError('decode_weight', `${dtype} is not a weight dtype`);
  }
}

/** Encode a weight and upload it into a fresh tensor of `shape` (with its scales tensor for q8/q4). */
export function uploadWeight(gpu: Gpu, label: string, dtype: DType, w: Float32Array, shape: number[]): Tensor {
  const { data, scales } = encodeWeight(dtype, w, shape);
  const t = createTensor(gpu, label, dtype, shape);
  writeTensor(gpu, t, data, scales);
  return t;
}
