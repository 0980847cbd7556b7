/**
 * Guards shared by the kernel families: each throws ShapeError (before any GPU work) naming the kernel
 * and the tensor at fault.
 */
import { numel, ShapeError, type Tensor } from '@g3n/gpu';

/**
 * True when `out` is `x` (same buffer and offset): the caller wants the in-place entry point.
 * Throws when they are other ranges of one buffer: WebGPU rejects a dispatch that binds a buffer
 * as writable storage and as anything else, even where the ranges are disjoint.
 */
export function isInPlace(kernel: string, x: Tensor, out: Tensor): boolean {
  if (x.buffer !== out.buffer) return false;
  if (x.offset === out.offset) return true;
  throw sharedBuffer(kernel, x, out);
}

/** Throws unless every tensor in `read` lives in a different GPU buffer from `written` (see isInPlace). */
export function guardSeparate(kernel: string, written: Tensor, ...read: Tensor[]): void {
  for (const r of read) if (r.buffer === written.buffer) throw sharedBuffer(kernel, r, written);
}

function sharedBuffer(kernel: string, read: Tensor, written: Tensor): ShapeError {
  return new ShapeError(
    kernel,
    `${read.label} and ${written.label} share a GPU buffer; WebGPU forbids binding one buffer as read-only and writable storage in one dispatch (use separate buffers, or the same tensor for in-place use)`,
  );
}

/** Guards shared with the rope, activation and embedding modules; each throws ShapeError. */
export function guardF32(kernel: string, ...ts: Tensor[]): void {
  for (const t of ts) if (t.dtype !== 'f32') throw new ShapeError(kernel, `${t.label} must be f32, got ${t.dtype}`);
}

export function guardCount(kernel: string, name: string, n: number, max = 0xffffffff): void {
  if (!Number.isInteger(n) || n < 1 || n > max) throw new ShapeError(kernel, `${name} = ${n} must be an integer in [1, ${max}]`);
}

export function guardHolds(kernel: string, t: Tensor, n: number): void {
  if (numel(t.shape) < n) throw new ShapeError(kernel, `${t.label} has ${numel(t.shape)} elements, needs ${n}`);
}
