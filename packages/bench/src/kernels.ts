/**
 * Kernel benchmarks on the shapes of Gemma 3n E2B / E4B (spec §1.1, §7.1): the q/k/v/o projections,
 * the FFN at widths 8192 and 16384, the 262,400-row LM head (split by the binding limit), decode
 * attention at several context lengths, a prefill GEMM, the sparse layers' down_proj at decode (its
 * transposed weight gathered for a 5%-dense activation), and a plain copy as the bandwidth reference.
 * Every width is divided by `scale` on a software adapter. Weights are random, written on the device; on a hardware adapter each call rotates through enough copies of its operands to
 * defeat the last-level cache.
 */
import { createTensor, runOnce, scaleBytes, storageBytes, writeTensor, type Dispatch, type Gpu, type Tensor } from '@g3n/gpu';
import { attention, attentionScratchShape, copy, createTransposed, gatherScratchElements, linear, linearTransposed, transposeWeight } from '@g3n/kernels';
import { destroyMatrix, uploadMatrix, type MatrixWeight } from '@g3n/gemma3n';
import { fillRandom, fillWeight, seedOf, weightAmplitude } from './fill.ts';
import { timeCalls } from './timing.ts';
import { gateReads } from './traffic.ts';
import { shapeOnlyData, type BenchFormat } from './synthetic.ts';
import type { ConvModelShape } from './ort.ts';

export interface KernelCase {
  name: string;
  /** Which model has this shape ('E2B/E4B' when both do). */
  model: string;
  dtype: string;
  /**
   * [out, in] of a matrix, [rows, out, in] of a GEMM, [heads, kv heads, head_dim, keys] of attention, [n] of a copy;
   * vision (kernels-vision.ts): [in H, in W, in C, out C, k, stride, groups] of a conv, [queries, heads, key dim, keys] of MQA.
   */
  shape: number[];
  /** Bytes one call must read (weights, or the KV cache) and, for the copy, write. */
  bytes: number;
  flops: number;
  /** One copy of the operands: the dispatches that fill them, the call to time, and `destroy` to free them. */
  build(gpu: Gpu, copyIndex: number): BuiltCase;
}

export interface BuiltCase {
  fills: Dispatch[];
  call: Dispatch[];
  /** The call's buffers by role, so that another runtime can run the same call on the same values. */
  operands: CaseOperands;
  destroy(): void;
}

export type CaseOperands =
  | { kind: 'linear'; rows: number; x: Tensor; w: MatrixWeight; out: Tensor }
  | { kind: 'attention'; heads: number; kvHeads: number; headDim: number; context: number; capacity: number; window: number; q: Tensor; kCache: Tensor; vCache: Tensor; out: Tensor }
  | { kind: 'conv'; conv: ConvModelShape; x: Tensor; w: Tensor; bias: Tensor | null; out: Tensor }
  | { kind: 'mqa'; rows: number; keys: number; keyDim: number; q: Tensor; k: Tensor; v: Tensor; out: Tensor }
  | { kind: 'copy' };

/** The same call run by onnxruntime-web (see ort-run.ts), timed with `wall_ms` by one method. */
export interface SideBySide {
  /** Null where the case has no onnxruntime-web counterpart. */
  measure(gpu: Gpu, c: KernelCase, built: BuiltCase): Promise<SideBySideResult | null>;
}

export interface SideBySideResult {
  ort_ms: number;
  wall_ms: number;
  /** Largest |onnxruntime-web - g3n| over the output, divided by the largest |g3n|. */
  max_rel_diff: number;
}

export interface KernelResult {
  name: string;
  model: string;
  dtype: string;
  shape: number[];
  ms: number;
  gbps: number;
  gflops: number;
  bytes: number;
  flops: number;
  /**
   * Side by side with onnxruntime-web on the same adapter, operands and method (null where not
   * measured): its time, g3n's time by the same wall-clock method, ratio = ort_ms / wall_ms (above
   * 1: g3n is faster), and the largest output difference between the two relative to the largest
   * output of g3n.
   */
  ort_ms: number | null;
  wall_ms: number | null;
  ratio: number | null;
  ort_max_rel_diff: number | null;
}

function f32Tensor(gpu: Gpu, label: string, shape: number[], fills: Dispatch[], seed: number, amp = 1): Tensor {
  const t = createTensor(gpu, label, 'f32', shape);
  fills.push(fillRandom(gpu, { out: t, words: t.byteLength / 4, mode: 'f32', seed, amp }));
  return t;
}

/** A [rows, cols] weight in `dtype`, split into binding-sized parts like a loaded model's, filled on the device. */
function randomMatrix(gpu: Gpu, label: string, dtype: BenchFormat, rows: number, cols: number, fills: Dispatch[]): MatrixWeight {
  const m = uploadMatrix(gpu, label, shapeOnlyData(dtype, cols % 32 === 0), rows, cols, dtype);
  for (const p of m.parts) fills.push(...fillWeight(gpu, p.tensor, seedOf(label, p.row0), weightAmplitude(cols)));
  return m;
}

function matrixBytesOf(dtype: BenchFormat, rows: number, cols: number): number {
  const n = rows * cols;
  return storageBytes(dtype, n) + (dtype === 'q4' || dtype === 'q8' ? scaleBytes(n) : 0);
}

function linearCase(name: string, model: string, dtype: BenchFormat, rows: number, outF: number, inF: number): KernelCase {
  return {
    name,
    model,
    dtype,
    shape: rows === 1 ? [outF, inF] : [rows, outF, inF],
    bytes: matrixBytesOf(dtype, outF, inF),
    flops: 2 * rows * outF * inF,
    build(gpu, i) {
      const fills: Dispatch[] = [];
      const w = randomMatrix(gpu, `${name}.w#${i}`, dtype, outF, inF, fills);
      const x = f32Tensor(gpu, `${name}.x#${i}`, [rows, inF], fills, seedOf(name, i));
      const out = createTensor(gpu, `${name}.out#${i}`, 'f32', [rows, outF]);
      const call = w.parts.map((p) => linear(gpu, { x, w: p.tensor, out, rows, outOffset: p.row0, outStride: outF }));
      return { fills, call, operands: { kind: 'linear', rows, x, w, out }, destroy: () => (destroyMatrix(w), x.buffer.destroy(), out.buffer.destroy()) };
    },
  };
}

/** Fraction of the FFN activation that Gaussian top-k keeps in a sparse layer (spec §1.3: sparsity 0.95). */
const SPARSE_KEPT = 0.05;

/** An activation of n values with about `kept` of them non-zero, at positions and values fixed by `seed`. */
export function sparseActivation(n: number, kept: number, seed: number): Float32Array {
  const x = new Float32Array(n);
  let s = seed >>> 0 || 1;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  for (let i = 0; i < n; i++) if (next() < kept) x[i] = 2 * next() - 1 || 0.5;
  return x;
}

/**
 * One decode token through a sparse layer's down_proj [outF, inF]: the weight transposed as the loader
 * stores it, the activation 5% dense; `bytes` is what the gather reads. onnxruntime-web runs the same
 * product dense on the standard weight.
 */
function sparseDownCase(name: string, model: string, dtype: BenchFormat, outF: number, inF: number): KernelCase {
  const x0 = sparseActivation(inF, SPARSE_KEPT, seedOf(name));
  // The gather reads the rows of the non-zero inputs, and the scales (one f16 per output) of their groups.
  const { active_rows: kept, active_blocks: groups } = gateReads(0, x0);
  return {
    name,
    model,
    dtype,
    shape: [outF, inF],
    bytes: kept * storageBytes(dtype, outF) + (dtype === 'q4' || dtype === 'q8' ? groups * outF * 2 : 0),
    flops: 2 * outF * kept,
    build(gpu, i) {
      const fills: Dispatch[] = [];
      const w = randomMatrix(gpu, `${name}.w#${i}`, dtype, outF, inF, fills);
      const parts = w.parts.map((p) => ({ ...p, tensor: createTransposed(gpu, p.tensor) }));
      w.parts.forEach((p, k) => fills.push(...transposeWeight(gpu, p.tensor, parts[k].tensor)));
      const x = createTensor(gpu, `${name}.x#${i}`, 'f32', [1, inF]);
      writeTensor(gpu, x, x0);
      const out = createTensor(gpu, `${name}.out#${i}`, 'f32', [1, outF]);
      const scratch = createTensor(gpu, `${name}.scratch#${i}`, 'f32', [Math.max(...parts.map((p) => gatherScratchElements(inF, p.rows)))]);
      const call = parts.flatMap((p) => linearTransposed(gpu, { x, w: p.tensor, out, rows: 1, outOffset: p.row0, outStride: outF, scratch }));
      const destroy = () => (destroyMatrix(w), destroyMatrix({ ...w, parts }), [x, out, scratch].forEach((t) => t.buffer.destroy()));
      return { fills, call, operands: { kind: 'linear', rows: 1, x, w, out }, destroy };
    },
  };
}

function attentionCase(name: string, heads: number, kvHeads: number, headDim: number, context: number, window: number): KernelCase {
  const keys = window > 0 ? Math.min(window, context) : context;
  const capacity = window > 0 ? window : context;
  return {
    name,
    model: 'E2B/E4B',
    dtype: 'f32',
    shape: [heads, kvHeads, headDim, keys],
    bytes: 2 * kvHeads * keys * headDim * 4,
    flops: 4 * heads * keys * headDim,
    build(gpu, i) {
      const fills: Dispatch[] = [];
      const q = f32Tensor(gpu, `${name}.q#${i}`, [1, heads, headDim], fills, seedOf(name, 3 * i));
      const kCache = f32Tensor(gpu, `${name}.k#${i}`, [kvHeads, capacity, headDim], fills, seedOf(name, 3 * i + 1));
      const vCache = f32Tensor(gpu, `${name}.v#${i}`, [kvHeads, capacity, headDim], fills, seedOf(name, 3 * i + 2));
      const out = createTensor(gpu, `${name}.out#${i}`, 'f32', [1, heads * headDim]);
      const args = { q, kCache, vCache, out, rows: 1, nHeads: heads, nKV: kvHeads, headDim, pos0: context - 1, capacity, window, scale: 1 };
      const scratch = createTensor(gpu, `${name}.scratch#${i}`, 'f32', attentionScratchShape(args));
      const call = attention(gpu, { ...args, scratch });
      const operands: CaseOperands = { kind: 'attention', heads, kvHeads, headDim, context, capacity, window, q, kCache, vCache, out };
      return { fills, call, operands, destroy: () => [q, kCache, vCache, out, scratch].forEach((t) => t.buffer.destroy()) };
    },
  };
}

function copyCase(n: number): KernelCase {
  return {
    name: 'copy (bandwidth reference)',
    model: '-',
    dtype: 'f32',
    shape: [n],
    bytes: 8 * n,
    flops: 0,
    build(gpu, i) {
      const fills: Dispatch[] = [];
      const a = f32Tensor(gpu, `copy.a#${i}`, [n], fills, seedOf('copy', i));
      const out = createTensor(gpu, `copy.out#${i}`, 'f32', [n]);
      return { fills, call: [copy(gpu, { a, out, n })], operands: { kind: 'copy' }, destroy: () => (a.buffer.destroy(), out.buffer.destroy()) };
    },
  };
}

/** The benchmark cases at 1/scale of every width, for each weight dtype; the copy fits one binding of `maxBinding` bytes. */
export function kernelCases(scale: number, dtypes: readonly BenchFormat[], maxBinding: number): KernelCase[] {
  const s = scale;
  const D = 2048 / s;
  const hd = 256 / s;
  const q = 8 * hd;
  const kv = 2 * hd;
  const I2 = 8192 / s;
  const I4 = 16_384 / s;
  const V = 262_400 / s;
  const T = Math.max(8, 512 / s);
  const cases: KernelCase[] = [copyCase(Math.min((64 << 20) / (s * s), Math.floor(maxBinding / 4)))];
  for (const dt of dtypes) {
    cases.push(
      linearCase(`q_proj/o_proj ${dt}`, 'E2B/E4B', dt, 1, q, D),
      linearCase(`k_proj/v_proj ${dt}`, 'E2B/E4B', dt, 1, kv, D),
      linearCase(`gate/up_proj ${dt}`, 'E2B', dt, 1, I2, D),
      linearCase(`down_proj ${dt}`, 'E2B', dt, 1, D, I2),
      sparseDownCase(`down_proj sparse 5% ${dt}`, 'E2B', dt, D, I2),
      linearCase(`gate/up_proj ${dt}`, 'E4B', dt, 1, I4, D),
      linearCase(`down_proj ${dt}`, 'E4B', dt, 1, D, I4),
      linearCase(`lm_head ${dt}`, 'E2B/E4B', dt, 1, V, D),
      linearCase(`prefill gate/up_proj ${dt}`, 'E2B', dt, T, I2, D),
    );
  }
  for (const ctx of [512, 2048, 8192, 32_768]) cases.push(attentionCase(`attention decode global ctx=${ctx / s}`, 8, 2, hd, ctx / s, 0));
  cases.push(attentionCase(`attention decode sliding ctx=${32_768 / s}`, 8, 2, hd, 32_768 / s, 512 / s));
  return cases;
}

export interface KernelBenchOptions {
  /** Bytes of distinct operands one measurement cycles through (0: one copy, e.g. on a software adapter). */
  workingSet: number;
  reps: number;
  trials: number;
  /** Also run each case that has a counterpart there in onnxruntime-web. */
  sideBySide?: SideBySide;
  /** Called after each case (progress). */
  onResult?: (r: KernelResult) => void;
}

/** Run every case: build its operand copies, fill them, time the call, free them. */
export async function runKernelBench(gpu: Gpu, cases: readonly KernelCase[], options: KernelBenchOptions): Promise<KernelResult[]> {
  const out: KernelResult[] = [];
  for (const c of cases) {
    const copies = Math.max(1, Math.min(64, Math.ceil(options.workingSet / c.bytes)));
    const built = Array.from({ length: copies }, (_, i) => c.build(gpu, i));
    try {
      await runOnce({ ...gpu, profiler: null }, `${c.name}.fill`, built.flatMap((b) => b.fills));
      const ms = await timeCalls(gpu, c.name, built.map((b) => b.call), { reps: Math.max(options.reps, copies), trials: options.trials });
      const side = options.sideBySide ? await options.sideBySide.measure(gpu, c, built[0]) : null;
      const r: KernelResult = {
        name: c.name,
        model: c.model,
        dtype: c.dtype,
        shape: c.shape,
        ms,
        gbps: c.bytes / (ms * 1e6),
        gflops: c.flops / (ms * 1e6),
        bytes: c.bytes,
        flops: c.flops,
        ort_ms: side?.ort_ms ?? null,
        wall_ms: side?.wall_ms ?? null,
        ratio: side ? side.ort_ms / side.wall_ms : null,
        ort_max_rel_diff: side?.max_rel_diff ?? null,
      };
      out.push(r);
      options.onResult?.(r);
    } finally {
      for (const b of built) b.destroy();
    }
  }
  return out;
}
