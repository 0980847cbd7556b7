/** References of mask_rows.wgsl on [.., cols] row-major data. */
export function gatherRowsRef(x: Float32Array, mask: ArrayLike<number>, rows: number, cols: number, stride: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) if (mask[r * stride]) out.set(x.subarray(r * stride * cols, r * stride * cols + cols), r * cols);
  return out;
}

export function fillMaskedRowsRef(x: Float32Array, mask: ArrayLike<number>, fill: Float32Array, rows: number, cols: number): Float32Array {
  const out = x.slice(0, rows * cols);
  for (let r = 0; r < rows; r++) if (!mask[r]) out.set(fill.subarray(0, cols), r * cols);
  return out;
}
