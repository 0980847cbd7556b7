/**
 * Weight bytes per decode step: the minimum a configuration must read (spec §9), what a recorded
 * decode plan binds, and what it actually reads where the sparse FFN kernels skip weights.
 */
import { GROUP_SIZE, scaleBytes, storageBytes, type DType, type Tensor } from '@g3n/gpu';
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
  /**
   * Read once per step whatever binds it: the fused decode step's packed copy of the vector weights
   * (each kernel binds all of it and reads its layer's vectors), counted as rowBytes = its size.
   */
  once?: boolean;
}

/** Every weight buffer of a loaded model (data and scales of each matrix part, and every vector). */
export function weightBuffers(weights: TextWeights, packed: Tensor | null = null): Map<GPUBuffer, WeightBuffer> {
  const out = new Map<GPUBuffer, WeightBuffer>();
  if (packed) out.set(packed.buffer, { name: 'decode.vecs', rowBytes: packed.byteLength, once: true });
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
 * Kernel keys of the one-token products that read only part of their weight (masked rows, zero blocks
 * skipped, rows of a transposed weight gathered for the nonzero inputs).
 */
const SPARSE_KERNEL = /^(matvec(_subgroups)?\/matvec_(masked|skip)|matvec_fused(_subgroups)?\/mv_masked|linear_t\/gather)\{/;

/**
 * Weight bytes one replay of a recorded plan reads, from the bind groups it was built with: a
 * bound weight range counts whole, except under an embedding gather, which reads one row per
 * token of the table (counted once however many row parts the table was split into), and under a
 * sparse matvec, which reads what `reads` says for that buffer (see sparseFfnReads; whole without
 * an entry). A buffer bound twice by one dispatch (the unused `scales` slot of a float matvec)
 * counts once.
 */
export function planWeightBytes(bindGroups: readonly RecordedBindGroup[], buffers: ReadonlyMap<GPUBuffer, WeightBuffer>, reads: ReadonlyMap<GPUBuffer, number> = new Map()): number {
  let bytes = 0;
  const gathered = new Set<string>();
  for (const bg of bindGroups) {
    const gather = bg.label.startsWith('embedding/');
    const sparse = SPARSE_KERNEL.test(bg.label);
    const seen = new Set<string>();
    for (const e of bg.entries) {
      const w = buffers.get(e.buffer);
      if (!w) continue;
      const key = `${w.name}@${e.offset}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (sparse && reads.has(e.buffer)) bytes += reads.get(e.buffer)!;
      else if (!gather && !w.once) bytes += e.size;
      else if (!gathered.has(w.name)) {
        gathered.add(w.name);
        bytes += w.rowBytes;
      }
    }
  }
  return bytes;
}

/** Columns per block that the down_proj kernel skips when the activation is all zero there (one quantization group). */
export const SPARSE_BLOCK = GROUP_SIZE;

/** What one token's gate (after Gaussian top-k) leaves to read in a sparse layer's FFN. */
export interface SparseFfnReads {
  layer: number;
  /** up_proj rows (the gate's length I) and those with a non-zero gate value, which are read. */
  rows: number;
  active_rows: number;
  /** 32-column blocks of down_proj (ceil(I / 32)) and those holding a non-zero gate value, which are read. */
  blocks: number;
  active_blocks: number;
}

/** Count the non-zero gate values and the 32-value blocks holding one. */
export function gateReads(layer: number, gate: Float32Array): SparseFfnReads {
  let active = 0;
  let blocks = 0;
  for (let b = 0; b * SPARSE_BLOCK < gate.length; b++) {
    let n = 0;
    for (let i = b * SPARSE_BLOCK; i < Math.min(gate.length, (b + 1) * SPARSE_BLOCK); i++) if (gate[i] !== 0) n++;
    active += n;
    if (n > 0) blocks++;
  }
  return { layer, rows: gate.length, active_rows: active, blocks: Math.ceil(gate.length / SPARSE_BLOCK), active_blocks: blocks };
}

/**
 * Bytes each buffer of the sparse layers' up_proj and down_proj parts is read for one token, given
 * each layer's gate after top-k: up_proj reads the rows whose gate value is non-zero (with their
 * scales). A transposed down_proj (the layout sparse layers load in) reads the rows of the non-zero
 * gate values (where gelu(gate) * up is non-zero), and the scales of every 32-input group holding
 * one; a standard down_proj reads, in every row, the 32-column blocks holding a non-zero gate value
 * (with their group scales).
 */
export function sparseFfnReads(weights: TextWeights, gates: ReadonlyMap<number, Float32Array>): Map<GPUBuffer, number> {
  const out = new Map<GPUBuffer, number>();
  const groupScale = 2; // one f16 scale per group of 32
  for (const [l, gate] of gates) {
    const { upProj, downProj } = weights.layers[l];
    if (gate.length !== upProj.rows || gate.length !== downProj.cols) throw new Error(`layer ${l}: a gate of ${gate.length} values does not fit up_proj [${upProj.rows}, ${upProj.cols}]`);
    for (const p of upProj.parts) {
      let n = 0;
      for (let i = p.row0; i < p.row0 + p.rows; i++) if (gate[i] !== 0) n++;
      out.set(p.tensor.buffer, n * storageBytes(upProj.dtype, upProj.cols));
      if (p.tensor.scales) out.set(p.tensor.scales.buffer, n * (upProj.cols / GROUP_SIZE) * groupScale);
    }
    const { active_rows: active, active_blocks: groups } = gateReads(l, gate);
    let rowBytes = 0;
    for (let c = 0; c < gate.length; c += SPARSE_BLOCK) {
      const width = Math.min(SPARSE_BLOCK, gate.length - c);
      if (gate.subarray(c, c + width).some((v) => v !== 0)) rowBytes += storageBytes(downProj.dtype, width);
    }
    for (const p of downProj.parts) {
      if (downProj.transposed) out.set(p.tensor.buffer, active * storageBytes(downProj.dtype, p.rows));
      else out.set(p.tensor.buffer, p.rows * rowBytes);
      if (p.tensor.scales) out.set(p.tensor.scales.buffer, p.rows * groups * groupScale);
    }
  }
  return out;
}
