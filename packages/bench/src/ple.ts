/**
 * The PLE table off the GPU in the benchmark: a row source for synthetic models (deterministic rows in
 * the storage format, as a model file would give them), and the computed GPU memory of full-size E2B
 * and E4B at q4 / q8 with the table on the GPU and on the host (the loader's own estimate:
 * textModelMemory, KV caches at 4,096 tokens).
 */
import { findPublishedSlice, textModelMemory, type ModelConfig, type PleRowSource, type TensorData } from '@g3n/gemma3n';
import { parentConfig, type BenchFormat } from './synthetic.ts';

/** Rows of a synthetic PLE table of `cols` columns stored in `format`: hashed bytes, finite small scales. */
export function syntheticPleSource(stored: BenchFormat, cols: number): PleRowSource {
  const format = storedFormat(stored, cols);
  const quant = format === 'q4' || format === 'q8';
  const dataBytes = format === 'q4' ? cols / 2 : format === 'q8' ? cols : format === 'f32' ? 4 * cols : 2 * cols;
  const scaleBytes = quant ? (cols / 32) * 2 : 0;
  return {
    async readRows(ids) {
      const bytes = new Uint8Array(ids.length * dataBytes);
      const scales = new Uint8Array(ids.length * scaleBytes);
      ids.forEach((id, r) => {
        let s = (id * 2654435761 + 1) >>> 0;
        for (let i = 0; i < dataBytes; i++) {
          s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
          bytes[r * dataBytes + i] = s >>> 24;
        }
        // Floats: keep exponents small (bf16 / f16 high bytes near 1/64), q8/q4 scales 2^-7 (f16 0x2000).
        if (!quant) for (let i = format === 'f32' ? 3 : 1; i < dataBytes; i += format === 'f32' ? 4 : 2) bytes[r * dataBytes + i] = (bytes[r * dataBytes + i] & 0x80) | (format === 'f16' ? 0x20 : 0x3c);
        for (let i = 0; i < scaleBytes; i += 2) scales[r * scaleBytes + i + 1] = 0x20;
      });
      const dtype = format === 'q4' ? 'Q4' : format === 'q8' ? 'Q8' : format === 'f32' ? 'F32' : format === 'f16' ? 'F16' : 'BF16';
      return (quant ? { dtype, bytes, scales } : { dtype, bytes }) as TensorData;
    },
  };
}

/** q8/q4 only for rows of whole 32-element groups, bf16 otherwise (as the loader stores them). */
function storedFormat(format: BenchFormat, cols: number): BenchFormat {
  return (format === 'q4' || format === 'q8') && cols % 32 !== 0 ? 'bf16' : format;
}

/** Stored bytes of one PLE row of `config` in `format` (data and scales). */
export function pleRowBytes(config: ModelConfig, stored: BenchFormat): number {
  const cols = config.text.numLayers * config.text.hiddenSizePerLayerInput;
  const format = storedFormat(stored, cols);
  const quant = format === 'q4' || format === 'q8';
  return (format === 'q4' ? cols / 2 : format === 'q8' ? cols : format === 'f32' ? 4 * cols : 2 * cols) + (quant ? (cols / 32) * 2 : 0);
}

export interface MemoryRow {
  model: string;
  format: 'q4' | 'q8';
  ple: 'gpu' | 'host';
  weights_bytes: number;
  kv_bytes: number;
  activations_bytes: number;
  total_bytes: number;
}

/** GPU memory of full-size E2B and E4B at q4 and q8, PLE on the GPU and on the host (KV at 4,096 tokens, prefill chunks of 128). */
export function memoryTable(): MemoryRow[] {
  const parent = parentConfig(1);
  const rows: MemoryRow[] = [];
  for (const model of ['E2B', 'E4B']) {
    const slice = findPublishedSlice(model);
    if (!slice) throw new Error(`no published configuration '${model}'`);
    for (const format of ['q4', 'q8'] as const) {
      for (const ple of ['gpu', 'host'] as const) {
        const m = textModelMemory(parent, slice, { format, ple, maxContext: 4096, maxChunk: 128 });
        rows.push({ model, format, ple, weights_bytes: m.weights, kv_bytes: m.kvCache, activations_bytes: m.activations, total_bytes: m.total });
      }
    }
  }
  return rows;
}
