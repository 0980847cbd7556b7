import type { Gpu } from './device.ts';
import { ShapeError } from './errors.ts';

/**
 * Storage dtypes. bf16/f16 are packed two per u32 (element i in the low half when i is even),
 * q8/q4 are symmetric group-32 quantized along the last (input) axis with a separate `scales`
 * tensor of f16 pairs, one scale per 32 elements.
 */
export type DType = 'f32' | 'f16' | 'bf16' | 'q8' | 'q4' | 'u32' | 'i32';

/** A GPU buffer range holding one tensor (row-major). */
export interface Tensor {
  label: string;
  dtype: DType;
  shape: number[];
  buffer: GPUBuffer;
  /** Byte offset inside `buffer`; a multiple of minStorageBufferOffsetAlignment. */
  offset: number;
  /** Bytes of the binding (a multiple of 4). */
  byteLength: number;
  /** Group scales of q8/q4 tensors: f16 pairs, `numel / 32` values. */
  scales?: Tensor;
}

export const GROUP_SIZE = 32;

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Bytes that `n` elements occupy in storage, rounded up to whole u32 words. */
export function storageBytes(dtype: DType, n: number): number {
  switch (dtype) {
    case 'f32':
    case 'u32':
    case 'i32':
      return 4 * n;
    case 'f16':
    case 'bf16':
      return 4 * Math.ceil(n / 2);
    case 'q8':
      return 4 * Math.ceil(n / 4);
    case 'q4':
      return 4 * Math.ceil(n / 8);
  }
}

/** Bytes of the f16 scale pairs of a quantized tensor of `n` elements. */
export function scaleBytes(n: number): number {
  return 4 * Math.ceil(n / GROUP_SIZE / 2);
}

export const STORAGE = 0x80 | 0x4 | 0x8; // STORAGE | COPY_SRC | COPY_DST (numeric so Node needs no globals)

export function createBuffer(gpu: Gpu, label: string, size: number, usage: number = STORAGE): GPUBuffer {
  const bytes = Math.max(4, Math.ceil(size / 4) * 4);
  if (bytes > gpu.caps.limits.maxBufferSize) {
    throw new ShapeError(label, `buffer of ${bytes} bytes exceeds maxBufferSize ${gpu.caps.limits.maxBufferSize}; split it`);
  }
  return gpu.device.createBuffer({ label, size: bytes, usage });
}

/** A fresh tensor in its own buffer. Throws if it could not be bound whole (split it instead). */
export function createTensor(gpu: Gpu, label: string, dtype: DType, shape: number[]): Tensor {
  const n = numel(shape);
  const byteLength = storageBytes(dtype, n);
  if (byteLength > gpu.caps.limits.maxStorageBufferBindingSize) {
    throw new ShapeError(
      label,
      `${byteLength} bytes exceed maxStorageBufferBindingSize ${gpu.caps.limits.maxStorageBufferBindingSize}; split it by rows`,
    );
  }
  const tensor: Tensor = { label, dtype, shape, buffer: createBuffer(gpu, label, byteLength), offset: 0, byteLength };
  if (dtype === 'q8' || dtype === 'q4') {
    const sb = scaleBytes(n);
    tensor.scales = { label: `${label}.scales`, dtype: 'f16', shape: [n / GROUP_SIZE], buffer: createBuffer(gpu, `${label}.scales`, sb), offset: 0, byteLength: sb };
  }
  return tensor;
}

/** Copy bytes into a tensor (the caller provides data already in the storage layout). */
export function writeTensor(gpu: Gpu, t: Tensor, data: ArrayBufferView, scales?: ArrayBufferView): void {
  writeBytes(gpu, t.buffer, t.offset, data);
  if (scales) {
    if (!t.scales) throw new ShapeError(t.label, 'scales given for an unquantized tensor');
    writeBytes(gpu, t.scales.buffer, t.scales.offset, scales);
  }
}

export function writeBytes(gpu: Gpu, buffer: GPUBuffer, offset: number, data: ArrayBufferView): void {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const whole = bytes.byteLength & ~3;
  if (whole > 0) gpu.device.queue.writeBuffer(buffer, offset, bytes, 0, whole);
  if (whole < bytes.byteLength) {
    const tail = new Uint8Array(4);
    tail.set(bytes.subarray(whole));
    gpu.device.queue.writeBuffer(buffer, offset + whole, tail);
  }
}

/** Read `size` bytes of a buffer back to the CPU (one copy and one map; for tests, debugging and final outputs). */
export async function readBytes(gpu: Gpu, buffer: GPUBuffer, offset: number, size: number): Promise<ArrayBuffer> {
  const bytes = Math.ceil(size / 4) * 4;
  const staging = gpu.device.createBuffer({ label: `${buffer.label}.readback`, size: bytes, usage: 0x1 | 0x8 }); // MAP_READ | COPY_DST
  const enc = gpu.device.createCommandEncoder({ label: 'readback' });
  enc.copyBufferToBuffer(buffer, offset, staging, 0, bytes);
  gpu.device.queue.submit([enc.finish()]);
  await staging.mapAsync(0x1);
  const out = staging.getMappedRange().slice(0, size);
  staging.unmap();
  staging.destroy();
  return out;
}

export async function readF32(gpu: Gpu, t: Tensor): Promise<Float32Array> {
  if (t.dtype !== 'f32') throw new ShapeError(t.label, `readF32 needs an f32 tensor, got ${t.dtype}`);
  return new Float32Array(await readBytes(gpu, t.buffer, t.offset, 4 * numel(t.shape)));
}

export async function readU32(gpu: Gpu, t: Tensor): Promise<Uint32Array> {
  return new Uint32Array(await readBytes(gpu, t.buffer, t.offset, 4 * numel(t.shape)));
}

/** An f32 tensor initialised from data. */
export function tensorFromF32(gpu: Gpu, label: string, shape: number[], data: Float32Array): Tensor {
  const t = createTensor(gpu, label, 'f32', shape);
  writeTensor(gpu, t, data);
  return t;
}

/** A view of rows [row0, row0 + rows) of a row-major tensor in the same buffer (offset must stay aligned). */
export function rowView(gpu: Gpu, t: Tensor, row0: number, rows: number): Tensor {
  const rowElems = numel(t.shape.slice(1));
  const start = storageBytes(t.dtype, row0 * rowElems);
  if (t.dtype !== 'f32' && t.dtype !== 'u32' && t.dtype !== 'i32' && (row0 * rowElems) % (t.dtype === 'q4' ? 8 : t.dtype === 'q8' ? 4 : 2) !== 0) {
    throw new ShapeError(t.label, `row ${row0} does not start on a word boundary`);
  }
  const offset = t.offset + start;
  if (offset % gpu.caps.limits.minStorageBufferOffsetAlignment !== 0) {
    throw new ShapeError(t.label, `row view at byte ${offset} is not aligned to ${gpu.caps.limits.minStorageBufferOffsetAlignment}`);
  }
  return { label: `${t.label}[${row0}:${row0 + rows}]`, dtype: t.dtype, shape: [rows, ...t.shape.slice(1)], buffer: t.buffer, offset, byteLength: storageBytes(t.dtype, rows * rowElems) };
}

/**
 * Row ranges that split a [rows, rowElems] tensor so that each part fits one storage binding
 * (and one buffer): every part but the last has a row count that keeps byte offsets word- and
 * 256-byte aligned.
 */
export function splitRows(gpu: Gpu, dtype: DType, rows: number, rowElems: number): Array<{ row0: number; rows: number }> {
  const limit = Math.min(gpu.caps.limits.maxStorageBufferBindingSize, gpu.caps.limits.maxBufferSize);
  const rowBytes = (dtype === 'q4' ? rowElems / 2 : dtype === 'q8' ? rowElems : dtype === 'f32' || dtype === 'u32' || dtype === 'i32' ? 4 * rowElems : 2 * rowElems);
  let perPart = Math.floor(limit / rowBytes);
  if (perPart < 1) throw new ShapeError(dtype, `one row of ${rowBytes} bytes exceeds the binding limit ${limit}`);
  // Keep part boundaries at multiples of 64 rows where possible, so that any view stays aligned.
  if (perPart >= 64) perPart -= perPart % 64;
  const parts: Array<{ row0: number; rows: number }> = [];
  for (let r = 0; r < rows; r += perPart) parts.push({ row0: r, rows: Math.min(perPart, rows - r) });
  return parts;
}
