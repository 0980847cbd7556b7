/**
 * Model benchmarks on a synthetic model: time to first token and prefill tokens/s, decode
 * tokens/s, and per decode token the budgets of issue 7: dispatches, queue submits, bytes read
 * back, buffers / bind groups / pipelines created, and weight bytes read against the minimum.
 * What the sparse FFN layers read depends on the data: the gates of one decode step are read back
 * once, outside the timed and counted steps, to count the up_proj rows and down_proj blocks read.
 */
import type { Gpu, Profiler } from '@g3n/gpu';
import { eachWeight, GREEDY, matrixBytes, prefillLayerRows, type Gemma3nTextModel } from '@g3n/gemma3n';
import { DeviceCounters } from './counters.ts';
import { syntheticPleSource } from './ple.ts';
import { loadSyntheticModel, syntheticConfig, type BenchFormat, type SyntheticModel } from './synthetic.ts';
import { decodeWeightBytesMin, gateReads, planWeightBytes, sparseFfnReads, weightBuffers, type SparseFfnReads } from './traffic.ts';

export interface ModelBenchOptions {
  /** 'E2B', 'E4B' or a published MatFormer configuration. */
  model: string;
  format: BenchFormat;
  /** Every width divided by this (1 = full size). */
  scale: number;
  promptTokens: number;
  decodeTokens: number;
  /** Also time one prefill and one decode step kernel by kernel (needs timestamp queries). */
  breakdown?: boolean;
  /** Every FFN dense (activation sparsity 0 in every layer): a configuration without sparse layers. */
  denseFfn?: boolean;
  /** Where the PLE table lives (default 'gpu'); 'host' gathers its rows from a synthetic row source. */
  ple?: 'gpu' | 'host';
}

export interface KernelTime {
  key: string;
  ms: number;
  count: number;
}

export interface PrefillResult {
  tokens: number;
  tokens_per_s: number;
  /** Prompt in, first token sampled and read back (pipelines already compiled). */
  ttft_ms: number;
  /** The same prompt with every row through every layer (fast prefill off), in the same run. */
  ttft_full_prefill_ms: number;
  /** Layer-rows of the prompt (tokens x layers), and those fast prefill runs (the KV-sharing layers: last row only). */
  prefill_rows: number;
  prefill_rows_run: number;
}

export interface DecodeResult {
  tokens: number;
  tokens_per_s: number;
  ms_per_token: number;
  dispatches_per_token: number;
  submits_per_token: number;
  readback_bytes_per_token: number;
  /** Buffers + bind groups + pipelines created per token once the decode plan exists. */
  allocations_per_token: number;
  buffers_per_token: number;
  bind_groups_per_token: number;
  pipelines_per_token: number;
  /**
   * Weight bytes the recorded decode step reads: its bound weights (from its bind groups), with the
   * sparse layers' up_proj and down_proj counted as the rows and blocks one step's gates leave to read.
   */
  weight_bytes_per_token: number;
  /** Spec §9 minimum for this configuration and format (dense: sparse layers counted whole). */
  weight_bytes_min: number;
  weight_bytes_ratio: number;
  /** The decode step's bound weights counted whole (what it would read with every layer dense). */
  weight_bytes_dense: number;
  /** weight_bytes_dense - weight_bytes_per_token: the up_proj rows and down_proj blocks the sparse layers skip. */
  weight_bytes_sparse_saving: number;
  /** Per sparse layer: up_proj rows and down_proj 32-column blocks, and how many the measured step reads. */
  sparse_ffn: SparseFfnReads[];
  /** Weight bytes per token times tokens/s. */
  weight_gbps: number;
}

export interface ModelResult {
  model: string;
  format: BenchFormat;
  scale: number;
  layers: number;
  hidden_size: number;
  intermediate_size: number[];
  weight_bytes_resident: number;
  /** Where the PLE table was (--ple). */
  ple: 'gpu' | 'host';
  /** Peak bytes of the GPU buffers the run allocated (the device wrapper's count, above what was live before it). */
  gpu_bytes: number;
  /** PLE bytes the host wrote per decode token (one stored row with ple 'host'; 0 with the table on the GPU). */
  host_ple_bytes_per_token: number;
  load_ms: number;
  prefill: PrefillResult;
  decode: DecodeResult;
  /** GPU time per kernel key of one prefill and one decode step, largest first (with `breakdown`). */
  breakdown?: { prefill: KernelTime[]; decode: KernelTime[] };
}

function randomIds(n: number, vocab: number, seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return 3 + (s % (vocab - 3));
  });
}

/**
 * Feed `token` as one more step (T = 1, the sparse decode path) and read back the gate after top-k
 * of every sparse layer.
 */
async function decodeGates(model: Gemma3nTextModel, token: number): Promise<Map<number, Float32Array>> {
  const layers = model.cfg.activationSparsity.flatMap((s, l) => (s > 0 ? [l] : []));
  const { captures } = await model.prefill([token], { capture: layers.map((l) => `layers.${l}.mlp_gate`) });
  return new Map(layers.map((l) => [l, captures.get(`layers.${l}.mlp_gate`)!]));
}

/** Replay one prefill and one decode step with the profiler attached to the model's Gpu. */
async function kernelBreakdown(model: Gemma3nTextModel, gpu: Gpu, profiler: Profiler, prompt: number[], step: number): Promise<{ prefill: KernelTime[]; decode: KernelTime[] }> {
  const take = async (run: () => Promise<unknown>): Promise<KernelTime[]> => {
    profiler.totals.clear();
    gpu.profiler = profiler;
    try {
      await run();
      await profiler.collect();
      return profiler.report();
    } finally {
      gpu.profiler = null;
      profiler.totals.clear();
    }
  };
  model.reset();
  const prefill = await take(() => model.prefillSample(prompt, GREEDY));
  const decode = await take(() => model.decodeSample(GREEDY, step));
  return { prefill, decode };
}

export async function runModelBench(gpuIn: Gpu, options: ModelBenchOptions): Promise<ModelResult> {
  const gpu: Gpu = { ...gpuIn, profiler: null };
  const { promptTokens: P, decodeTokens: N } = options;
  if (!Number.isInteger(P) || P < 1 || !Number.isInteger(N) || N < 1) throw new Error(`prompt and decode token counts must be positive integers (got ${P}, ${N})`);
  const named = syntheticConfig(options.model, options.scale);
  const config = options.denseFfn ? { ...named, text: { ...named.text, activationSparsity: named.text.activationSparsity.map(() => 0) } } : named;
  const t = config.text;
  const counters = new DeviceCounters(gpu.device);
  let loaded: SyntheticModel | null = null;
  const ple = options.ple ?? 'gpu';
  const baseBytes = gpu.buffers.liveBytes;
  gpu.buffers.peakBytes = baseBytes;
  try {
    const pleSource = ple === 'host' ? syntheticPleSource(options.format, t.numLayers * t.hiddenSizePerLayerInput) : undefined;
    loaded = await loadSyntheticModel(gpu, config, options.format, { maxContext: P + N + 8, maxChunk: Math.min(P, 128), ple, pleSource });
    const { model, loadMs } = loaded;
    const prompt = randomIds(P, t.vocabSizePerLayerInput, 1234);
    // Warm-up: compile the prefill pipelines, then record the decode plan (its bind groups kept).
    await model.prefillSample(prompt, GREEDY);
    counters.recording = [];
    const next = await model.decodeSample(GREEDY, 1);
    const plan = counters.recording;
    counters.recording = null;
    const gates = await decodeGates(model, next);

    model.reset();
    const t0 = performance.now();
    await model.prefillSample(prompt, GREEDY);
    const ttft = performance.now() - t0;
    // The same prompt with fast prefill off (pipelines of the shared layers' many-row path compiled first).
    model.fastPrefill = false;
    model.reset();
    await model.prefillSample(prompt, GREEDY);
    model.reset();
    const t2 = performance.now();
    await model.prefillSample(prompt, GREEDY);
    const ttftFull = performance.now() - t2;
    model.fastPrefill = true;
    model.reset();
    await model.prefillSample(prompt, GREEDY);

    const before = { ...counters.snapshot(), pipelines: gpu.pipelines.created, pleBytes: model.hostPle?.bytesRead ?? 0 };
    const t1 = performance.now();
    for (let i = 1; i <= N; i++) await model.decodeSample(GREEDY, i);
    const decodeMs = performance.now() - t1;
    const plePerToken = ((model.hostPle?.bytesRead ?? 0) - before.pleBytes) / N;
    const after = counters.snapshot();
    const per = (x: number) => x / N;
    const buffers = per(after.buffers - before.buffers);
    const bindGroups = per(after.bindGroups - before.bindGroups);
    const pipelines = per(gpu.pipelines.created - before.pipelines);
    const weightBufs = weightBuffers(model.weights, model.decodeVectors);
    const denseBytes = planWeightBytes(plan, weightBufs);
    const weightBytes = planWeightBytes(plan, weightBufs, sparseFfnReads(model.weights, gates));
    const weightMin = decodeWeightBytesMin(config, options.format);
    const tokensPerS = N / (decodeMs / 1000);
    const breakdown = options.breakdown && gpuIn.profiler ? await kernelBreakdown(model, gpu, gpuIn.profiler, prompt, N + 1) : undefined;
    let resident = 0;
    for (const w of eachWeight(model.weights)) resident += 'parts' in w ? matrixBytes(w) : w.byteLength;
    return {
      model: options.model,
      format: options.format,
      scale: options.scale,
      layers: t.numLayers,
      hidden_size: t.hiddenSize,
      intermediate_size: [...new Set(t.intermediateSize)],
      weight_bytes_resident: resident,
      ple,
      gpu_bytes: gpu.buffers.peakBytes - baseBytes,
      host_ple_bytes_per_token: plePerToken,
      load_ms: loadMs,
      prefill: {
        tokens: P,
        tokens_per_s: P / (ttft / 1000),
        ttft_ms: ttft,
        ttft_full_prefill_ms: ttftFull,
        prefill_rows: prefillLayerRows(t, P, false),
        prefill_rows_run: prefillLayerRows(t, P),
      },
      decode: {
        tokens: N,
        tokens_per_s: tokensPerS,
        ms_per_token: decodeMs / N,
        dispatches_per_token: per(after.dispatches - before.dispatches),
        submits_per_token: per(after.submits - before.submits),
        readback_bytes_per_token: per(after.readbackBytes - before.readbackBytes),
        allocations_per_token: buffers + bindGroups + pipelines,
        buffers_per_token: buffers,
        bind_groups_per_token: bindGroups,
        pipelines_per_token: pipelines,
        weight_bytes_per_token: weightBytes,
        weight_bytes_min: weightMin,
        weight_bytes_ratio: weightBytes / weightMin,
        weight_bytes_dense: denseBytes,
        weight_bytes_sparse_saving: denseBytes - weightBytes,
        sparse_ffn: [...gates].map(([l, gate]) => gateReads(l, gate)),
        weight_gbps: (weightBytes * tokensPerS) / 1e9,
      },
      ...(breakdown ? { breakdown } : {}),
    };
  } finally {
    counters.dispose();
    loaded?.model.destroy();
  }
}
