/**
 * The types the artifact modules share (reader, ranges, blocks, loaders), kept apart so that those
 * modules import one another one way only.
 */

/** A float tensor as stored in a checkpoint or an artifact: raw little-endian bytes. */
export interface FloatTensorData {
  dtype: 'F32' | 'F16' | 'BF16';
  bytes: Uint8Array;
}

/** A tensor quantized in the kernels' format (an artifact): data words and f16 scale pairs. */
export interface QuantTensorData {
  dtype: 'Q8' | 'Q4';
  bytes: Uint8Array;
  scales: Uint8Array;
}

/** One tensor in the kernels' storage format, in logical row-major [out, in] order. */
export type TensorData = FloatTensorData | QuantTensorData;

/** Exactly `length` bytes at `offset` of shard `shard`. */
export type ShardReader = (shard: number, offset: number, length: number) => Promise<Uint8Array>;
