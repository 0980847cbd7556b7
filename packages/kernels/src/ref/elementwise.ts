/** CPU references for the elementwise family (f64 math, f32 results). */
export function addRef(a: Float32Array, b: Float32Array, scale = 1): Float32Array {
  return a.map((x, i) => (x + b[i % b.length]) * scale);
}

export function mulRef(a: Float32Array, b: Float32Array, scale = 1): Float32Array {
  return a.map((x, i) => x * b[i % b.length] * scale);
}

export function scaleRef(a: Float32Array, s: number): Float32Array {
  return a.map((x) => x * s);
}
