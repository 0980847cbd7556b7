import { geluTanhRef } from './activation.ts';
import { linearRef } from './linear.ts';

/** f64 reference of one fused product: x W^T for one row (W [rows, cols], dequantized), GeGLU'd against `aux` when given. */
export function fusedMatvecRef(x: ArrayLike<number>, w: Float32Array, rows: number, cols: number, aux?: ArrayLike<number>): Float64Array {
  const y = linearRef(Float32Array.from(x), w, 1, cols, rows);
  return aux ? y.map((v, r) => geluTanhRef(v) * aux[r]) : y;
}

/** mv_pair: gelu(x gate^T) * (x up^T). */
export function pairGegluRef(x: ArrayLike<number>, gate: Float32Array, up: Float32Array, rows: number, cols: number): Float64Array {
  return fusedMatvecRef(x, gate, rows, cols, fusedMatvecRef(x, up, rows, cols));
}

/** mv_masked: gelu(mask) * (x up^T) where mask != 0, else 0. */
export function maskedGegluRef(x: ArrayLike<number>, up: Float32Array, mask: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const u = fusedMatvecRef(x, up, rows, cols);
  return u.map((v, r) => (mask[r] === 0 ? 0 : geluTanhRef(mask[r]) * v));
}
