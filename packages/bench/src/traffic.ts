/**
 * Weight bytes per decode step: the minimum a configuration must read (spec §9) and what a
 * recorded decode plan actually binds.
 */
import { scaleBytes, storageBytes, type DType, type Tensor } from '@g3n/gpu';
import { eachWeight, textWeightTable, weightBytes, type ModelConfig, type TextWeights, type WeightSpec } from '@g3n/gemma3n';
import type { RecordedBindGroup } from './counters.ts';
import { MATRIX_ROLES, type BenchFormat } from './synthetic.ts';

/** Storage of one weight under `format`: matrices in the format (bf16 where a q8/q4 row is not whole groups), the rest f32. */
export function storageFor(spec: WeightSpec, format: BenchFormat): DType {
  if (!MATRIX_ROLES.has(spec.role)) return 'f32';
  if ((format === 'q4' || format === 'q8') && !spec.quantizable) return 'bf16';
  return format;
}

/** Bytes of `n` consecutive elements of a row in `dtype`, with their share of group scales. */
function elementBytes(dtype: DType, n: number): number {
  return storageBytes(dtype, n) + (dtype === 'q4' || dtype === 'q8' ? scaleBytes(n) : 0);
}

/**
 * Spec §9: every weight one decode step multiplies, each read once (the text decoder without the
 * K/V projections and k_norm of KV-sharing layers, plus the tied LM head), one row of the
 * embedding and one row of the PLE table. Dense: the sparse layers' FFN counted whole.
 */
export function decodeWeightBytesMin(config: ModelConfig, format: BenchFormat): number {
  let bytes = 0;
  for (const s of textWeightTable(config)) {
    if (s.stage !== 'text' || !s.required) continue;
    const dt = storageFor(s, format);
    const row = elementBytes(dt, s.shape[s.shape.length - 1]);
    if (s.role === 'ple') bytes += row;
    else if (s.role === 'embedding') bytes += weightBytes(s, dt) + row;
    else bytes += weightBytes(s, dt);
  }
  return bytes;
}

interface WeightBuffer {
  name: string;
  /** Bytes of one row (gathers read one row per token). */
  rowBytes: number;
}

/** Every weight buffer of a loaded model (data and scales of each matrix part, and every vector). */
export function weightBuffers(weights: TextWeights): Map<GPUBuffer, WeightBuffer> {
  const out = new Map<GPUBuffer, WeightBuffer>();
  const add = (t: Tensor, name: string, rowBytes: number) => out.set(t.buffer, { name, rowBytes });
  for (const w of eachWeight(weights)) {
    if (!('parts' in w)) {
      add(w, w.label, w.byteLength);
      continue;
    }
    for (const p of w.parts) {
      add(p.tensor, w.label, storageBytes(w.dtype, w.cols));
      if (p.tensor.scales) add(p.tensor.scales, `${w.label}.scales`, scaleBytes(w.cols));
    }
  }
  return out;
}

/**
 * Weight bytes one replay of a recorded plan reads, from the bind groups it was built with: a
 * bound weight range counts whole, except under an embedding gather, which reads one row per
 * token of the table (counted once however many row parts the table was split into). A buffer
 * bound twice by one dispatch (the unused `scales` slot of a float matvec) counts once.
 */
export function planWeightBytes(bindGroups: readonly RecordedBindGroup[], buffers: ReadonlyMap<GPUBuffer, WeightBuffer>): number {
  let bytes = 0;
  const gathered = new Set<string>();
  for (const bg of bindGroups) {
    const gather = bg.label.startsWith('embedding/');
    const seen = new Set<string>();
    for (const e of bg.entries) {
      const w = buffers.get(e.buffer);
      if (!w) continue;
      const key = `${w.name}@${e.offset}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (!gather) bytes += e.size;
      else if (!gathered.has(w.name)) {
        gathered.add(w.name);
        bytes += w.rowBytes;
      }
    }
  }
  return bytes;
}
