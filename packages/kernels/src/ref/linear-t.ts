/**
 * CPU reference of the transposed weight layout (see linear-t.ts): the packed transpose of a standard
 * weight and the values a shader decodes from the transposed codes. The products themselves need no
 * reference of their own: they equal `linearRef` on the standard weight.
 */
import { GROUP_SIZE } from '@g3n/gpu';
import { f16BitsToF32, type WeightDType } from '../quant.ts';

const BITS: Record<WeightDType, number> = { f32: 32, bf16: 16, f16: 16, q8: 8, q4: 4 };

function codeAt(words: Uint32Array, bits: number, e: number): number {
  if (bits === 32) return words[e];
  const per = 32 / bits;
  return (words[Math.floor(e / per)] >>> (bits * (e % per))) & ((1 << bits) - 1);
}

/** The [cols, rows] transpose of a row-major [rows, cols] matrix of `bits`-wide codes packed into u32 words (low bits first). */
function transposeCodes(words: Uint32Array, bits: number, rows: number, cols: number): Uint32Array {
  const per = 32 / bits;
  const out = new Uint32Array(Math.ceil((rows * cols) / per));
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const e = c * rows + r;
      const code = codeAt(words, bits, r * cols + c);
      if (bits === 32) out[e] = code;
      else out[Math.floor(e / per)] = (out[Math.floor(e / per)] | (code << (bits * (e % per)))) >>> 0;
    }
  }
  return out;
}

/** The transposed layout [in, out] of a weight stored as `encodeWeight` stores W [out, in] (codes and, for q8/q4, scales). */
export function transposePacked(dtype: WeightDType, data: Uint32Array, scales: Uint32Array | undefined, outFeatures: number, inFeatures: number): { data: Uint32Array; scales?: Uint32Array } {
  const t = transposeCodes(data, BITS[dtype], outFeatures, inFeatures);
  if (dtype !== 'q8' && dtype !== 'q4') return { data: t };
  if (!scales) throw new Error(`transposePacked: ${dtype} needs scales`);
  return { data: t, scales: transposeCodes(scales, 16, outFeatures, inFeatures / GROUP_SIZE) };
}

/** The f32 values [in, out] that the shaders read from a transposed weight (element (i, o) at i * out + o). */
export function decodeTransposed(dtype: WeightDType, data: Uint32Array, scales: Uint32Array | undefined, inFeatures: number, outFeatures: number): Float32Array {
  const bits = BITS[dtype];
  const n = inFeatures * outFeatures;
  const out = new Float32Array(n);
  const f32 = new Float32Array(1);
  const f32Bits = new Uint32Array(f32.buffer);
  for (let e = 0; e < n; e++) {
    const code = codeAt(data, bits, e);
    switch (dtype) {
      case 'f32':
        f32Bits[0] = code;
        out[e] = f32[0];
        break;
      case 'bf16':
        f32Bits[0] = code << 16;
        out[e] = f32[0];
        break;
      case 'f16':
        out[e] = f16BitsToF32(Uint16Array.of(code))[0];
        break;
      default: {
        if (!scales) throw new Error(`decodeTransposed: ${dtype} needs scales`);
        const i = Math.floor(e / outFeatures);
        const s = Math.floor(i / GROUP_SIZE) * outFeatures + (e % outFeatures);
        const scale = f16BitsToF32(Uint16Array.of(codeAt(scales, 16, s)))[0];
        const q = dtype === 'q4' ? code - 8 : (code << 24) >> 24;
        out[e] = q * scale;
      }
    }
  }
  return out;
}
