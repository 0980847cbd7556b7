/**
 * g3n's kernels side by side with onnxruntime-web's WebGPU execution provider, on one GPUDevice:
 * onnxruntime-web is handed g3n's device, so both runtimes read the very same buffers. A q4 linear
 * case runs as `MatMulNBits` (4 bits, block 32) whose initializers are g3n's codes and scales read
 * back from the device; a global decode attention case runs as one `GroupQueryAttention` decode step
 * over a copy of g3n's K/V cache, with g3n's query and its last cached position as the new K/V.
 *
 * Both are timed by one method: calls issued back to back (g3n: one submit per call;
 * onnxruntime-web: one `session.run` per call), outputs left on the GPU, then the wall-clock time
 * until the queue is idle, divided by the number of calls. After two warm-up calls each runtime
 * gets enough calls per measurement to last about MEASURE_MS (at least `reps`, at most MAX_REPS),
 * and the measurements of the two alternate, so that a change of load on a shared machine falls on
 * both; median of `trials`. The outputs of the two runtimes are then read back and compared.
 *
 * This module imports no onnxruntime-web code: the caller passes the module it loaded (Node:
 * ort-node.ts; a page: ort-browser.ts).
 */
import { createTensor, numel, Plan, readBytes, readF32, ShapeError, submitPlans, type Gpu, type Tensor } from '@g3n/gpu';
import { f16BitsToF32 } from '@g3n/kernels';
import type { MatrixWeight } from '@g3n/gemma3n';
import type { BuiltCase, CaseOperands, KernelCase, SideBySide, SideBySideResult } from './kernels.ts';
import { groupQueryAttentionModel, matMulNBitsModel } from './ort.ts';
import { convCall, mqaCall } from './ort-vision.ts';
import { gpuTensor, session, type OrtCall, type OrtModule } from './ort-session.ts';

export type { OrtCall, OrtModule } from './ort-session.ts';
import { median } from './timing.ts';


export interface OrtTimingOptions {
  /** Fewest calls per measurement. */
  reps: number;
  /** Measurements after the warm-up; the median is kept. */
  trials: number;
}

const MEASURE_MS = 100;
const MAX_REPS = 64;

type LinearOperands = Extract<CaseOperands, { kind: 'linear' }>;
type AttentionOperands = Extract<CaseOperands, { kind: 'attention' }>;

/**
 * What a case runs in onnxruntime-web, or null: q4 linear layers, global decode attention over a full
 * cache, the vision convolutions and MQA attention (ort-vision.ts).
 */
export function ortOpOf(op: CaseOperands): 'MatMulNBits' | 'GroupQueryAttention' | 'Conv' | 'MatMul+Softmax+MatMul' | null {
  if (op.kind === 'conv') return 'Conv';
  if (op.kind === 'mqa') return 'MatMul+Softmax+MatMul';
  if (op.kind === 'linear') return op.w.dtype === 'q4' ? 'MatMulNBits' : null;
  if (op.kind === 'attention') return op.window === 0 && op.capacity === op.context && op.context > 1 ? 'GroupQueryAttention' : null;
  return null;
}

/** Milliseconds per call of each of `runs`, by the method above. */
export async function timeSideBySide(gpu: Gpu, runs: Array<() => unknown>, options: OrtTimingOptions): Promise<number[]> {
  const perCall = async (run: () => unknown, reps: number) => {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) await run();
    await gpu.device.queue.onSubmittedWorkDone();
    return (performance.now() - t0) / reps;
  };
  const reps: number[] = [];
  for (const run of runs) {
    await perCall(run, 1);
    const ms = await perCall(run, 1);
    reps.push(Math.max(options.reps, Math.min(MAX_REPS, Math.ceil(MEASURE_MS / Math.max(ms, 1e-3)))));
  }
  const times: number[][] = runs.map(() => []);
  for (let t = 0; t < options.trials; t++) {
    for (let r = 0; r < runs.length; r++) times[r].push(await perCall(runs[r], reps[r]));
  }
  return times.map(median);
}

/** q4 codes ([rows, cols / 2] bytes, MatMulNBits' B layout) and f32 scales of a matrix, read back from its parts. */
export async function readQ4Matrix(gpu: Gpu, w: MatrixWeight): Promise<{ codes: Uint8Array; scales: Float32Array }> {
  const codes = new Uint8Array((w.rows * w.cols) / 2);
  const scales = new Float32Array((w.rows * w.cols) / 32);
  for (const p of w.parts) {
    const t = p.tensor;
    if (t.dtype !== 'q4' || !t.scales) throw new ShapeError('MatMulNBits', `${t.label}: expected q4 with scales, got ${t.dtype}`);
    const n = p.rows * w.cols;
    codes.set(new Uint8Array(await readBytes(gpu, t.buffer, t.offset, n / 2)), (p.row0 * w.cols) / 2);
    const half = new Uint16Array(await readBytes(gpu, t.scales.buffer, t.scales.offset, (n / 32) * 2));
    scales.set(f16BitsToF32(half), (p.row0 * w.cols) / 32);
  }
  return { codes, scales };
}

/** Largest |a - b| divided by the largest |b|. */
export function maxRelDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new ShapeError('side by side', `outputs differ in length: ${a.length} != ${b.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return Number.isNaN(diff) ? Infinity : diff / (scale || 1);
}



/** Y[rows, out] = x W^T as MatMulNBits with W's q4 codes and scales; onnxruntime-web writes its own output buffer. */
export async function matMulNBitsCall(ort: OrtModule, gpu: Gpu, label: string, op: LinearOperands): Promise<OrtCall> {
  const { rows, w } = op;
  const { codes, scales } = await readQ4Matrix(gpu, w);
  const s = await session(ort, gpu, matMulNBitsModel(rows, w.rows, w.cols, codes, scales));
  const y = createTensor(gpu, `${label}.ort.Y`, 'f32', [rows, w.rows]);
  const feeds = { A: gpuTensor(ort, op.x, [rows, w.cols]) };
  const fetches = { Y: gpuTensor(ort, y, [rows, w.rows]) };
  return {
    run: () => s.run(feeds, fetches),
    outputs: async () => [await readF32(gpu, y), (await readF32(gpu, op.out)).subarray(0, numel(y.shape))],
    release: async () => (await s.release(), y.buffer.destroy()),
  };
}

/**
 * One GroupQueryAttention decode step over the same keys as g3n's call, in onnxruntime-web's
 * shared-buffer decode: its past/present K/V caches [1, kv, context, d] are copies of g3n's (made on
 * the device), the new K/V are g3n's last position (so writing them in place changes nothing), the
 * query is g3n's q; scale 1, seqlens_k = context - 1, total_sequence_length = context.
 */
export async function groupQueryAttentionCall(ort: OrtModule, gpu: Gpu, label: string, op: AttentionOperands): Promise<OrtCall> {
  const { heads, kvHeads: kv, headDim: d, context } = op;
  const made = (name: string, shape: number[]) => createTensor(gpu, `${label}.ort.${name}`, 'f32', shape);
  const t = {
    kCache: made('k_cache', [kv, context, d]),
    vCache: made('v_cache', [kv, context, d]),
    key: made('key', [kv * d]),
    value: made('value', [kv * d]),
    output: made('output', [heads * d]),
  };
  const enc = gpu.device.createCommandEncoder({ label: `${label}.ort.inputs` });
  for (const [ours, cache, row] of [[op.kCache, t.kCache, t.key], [op.vCache, t.vCache, t.value]] as const) {
    enc.copyBufferToBuffer(ours.buffer, ours.offset, cache.buffer, 0, cache.byteLength);
    for (let h = 0; h < kv; h++) enc.copyBufferToBuffer(ours.buffer, ours.offset + (h * context + context - 1) * d * 4, row.buffer, h * d * 4, d * 4);
  }
  gpu.device.queue.submit([enc.finish()]);
  const s = await session(ort, gpu, groupQueryAttentionModel(heads, kv, d, context));
  const cacheDims = [1, kv, context, d];
  const feeds = {
    query: gpuTensor(ort, op.q, [1, 1, heads * d]),
    key: gpuTensor(ort, t.key, [1, 1, kv * d]),
    value: gpuTensor(ort, t.value, [1, 1, kv * d]),
    past_key: gpuTensor(ort, t.kCache, cacheDims),
    past_value: gpuTensor(ort, t.vCache, cacheDims),
    seqlens_k: new ort.Tensor('int32', Int32Array.of(context - 1), [1]),
    total_sequence_length: new ort.Tensor('int32', Int32Array.of(context), []),
  };
  const fetches = {
    output: gpuTensor(ort, t.output, [1, 1, heads * d]),
    present_key: gpuTensor(ort, t.kCache, cacheDims),
    present_value: gpuTensor(ort, t.vCache, cacheDims),
  };
  return {
    run: () => s.run(feeds, fetches),
    outputs: async () => [await readF32(gpu, t.output), (await readF32(gpu, op.out)).subarray(0, heads * d)],
    release: async () => {
      await s.release();
      for (const x of Object.values(t)) x.buffer.destroy();
    },
  };
}

/** The onnxruntime-web call of a case, or null where it has none. */
export async function ortCallOf(ort: OrtModule, gpu: Gpu, label: string, op: CaseOperands): Promise<OrtCall | null> {
  const which = ortOpOf(op);
  if (which === 'MatMulNBits' && op.kind === 'linear') return matMulNBitsCall(ort, gpu, label, op);
  if (which === 'GroupQueryAttention' && op.kind === 'attention') return groupQueryAttentionCall(ort, gpu, label, op);
  if (op.kind === 'conv') return convCall(ort, gpu, label, op);
  if (op.kind === 'mqa') return mqaCall(ort, gpu, label, op);
  return null;
}

/** Time one case in both runtimes by the same method and compare their outputs. */
export async function measureSideBySide(ort: OrtModule, gpu: Gpu, c: KernelCase, built: BuiltCase, options: OrtTimingOptions): Promise<SideBySideResult | null> {
  const wall: Gpu = { ...gpu, profiler: null };
  const call = await ortCallOf(ort, wall, c.name, built.operands);
  if (!call) return null;
  const plan = await Plan.build(wall, `${c.name}.wall`, built.call);
  try {
    const [ortMs, wallMs] = await timeSideBySide(wall, [call.run, () => submitPlans(wall, [plan])], options);
    const [theirs, ours] = await call.outputs();
    return { ort_ms: ortMs, wall_ms: wallMs, max_rel_diff: maxRelDiff(theirs, ours) };
  } finally {
    plan.destroy();
    await call.release();
  }
}

/** The report's line on how onnxruntime-web was run (`baselineWasm`: V8's baseline compiler only). */
export function describeOrtRun(version: string, baselineWasm: boolean): string {
  return [
    `${version}, WebGPU provider, wasm on one thread${baselineWasm ? ' (V8 baseline compiler only)' : ''}, on g3n's device: `,
    'q4 linear as MatMulNBits (bits 4, block 32, the same codes and scales), global decode attention as GroupQueryAttention (shared KV buffer), ',
    'vision convolutions as Conv (NCHW, f32 weights of the same values), vision MQA attention as MatMul + Softmax + MatMul; ',
    'ort_ms and wall_ms: wall clock per call over back-to-back calls, outputs left on the GPU; ratio = ort_ms / wall_ms',
  ].join('');
}

/** The `sideBySide` option of runKernelBench for an onnxruntime-web module that runs on `gpu`'s device. */
export function ortSideBySide(ort: OrtModule, options: OrtTimingOptions): SideBySide {
  return { measure: (gpu, c, built) => measureSideBySide(ort, gpu, c, built, options) };
}
