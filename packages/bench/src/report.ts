/**
 * The benchmark report: one JSON object (a stable contract: `adapter`, `kernels`, `decode`,
 * `prefill` and the per-model results) and its console tables.
 */
import type { Gpu } from '@g3n/gpu';
import type { AudioBenchResult } from './audio.ts';
import type { AudioFeaturesBenchResult } from './audio-features.ts';
import type { KernelResult } from './kernels.ts';
import type { MemoryRow } from './ple.ts';
import type { VisionBenchResult } from './vision.ts';
import type { DecodeResult, ModelResult, PrefillResult } from './model.ts';
import type { TimingMethod } from './timing.ts';

export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  is_software: boolean;
  features: string[];
  limits: Record<string, number>;
}

export interface BenchReport {
  version: 1;
  date: string;
  machine: Record<string, string | number>;
  adapter: AdapterReport;
  options: Record<string, unknown>;
  timing: TimingMethod;
  /** Plain f32 copy, bytes read plus written per second: the bandwidth the fractions below are taken of. */
  reference_gbps: number | null;
  kernels: KernelResult[];
  /** The first model run (the contract's `decode` and `prefill`), then every model run. */
  decode: DecodeResult | null;
  prefill: PrefillResult | null;
  models: ModelResult[];
  /** Whether onnxruntime-web's side of `kernels` was measured, and how (or why not). */
  ort: { measured: boolean; note: string };
  /** The audio tower on one clip (absent with --no-audio). */
  audio_encoder?: AudioBenchResult | null;
  audio_features?: AudioFeaturesBenchResult | null;
  /** The vision tower on one image and a one-image TTFT (with --vision). */
  vision_encoder?: VisionBenchResult | null;
  /** Computed GPU memory of full-size E2B and E4B at q4/q8, PLE on the GPU and on the host (KV at 4,096 tokens). */
  memory?: MemoryRow[];
}

export function adapterReport(gpu: Gpu): AdapterReport {
  const limits: Record<string, number> = {};
  const l = gpu.device.limits as unknown as Record<string, unknown>;
  for (const key in l) if (typeof l[key] === 'number') limits[key] = l[key] as number;
  const a = gpu.caps.adapter;
  return {
    vendor: a.vendor,
    architecture: a.architecture,
    device: a.device,
    description: a.description,
    is_software: gpu.caps.isSoftware,
    features: [...gpu.device.features].sort(),
    limits,
  };
}

function fmt(x: number | null, digits = 2): string {
  if (x === null || !Number.isFinite(x)) return '-';
  if (x !== 0 && Math.abs(x) < 10 ** -digits) return x.toExponential(1);
  return x.toFixed(digits);
}

/** Fixed-width text table: right-aligned numbers, left-aligned text. */
export function table(header: string[], rows: string[][]): string {
  const width = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i < 2 ? c.padEnd(width[i]) : c.padStart(width[i]))).join('  ');
  return [line(header), width.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function kernelTable(kernels: readonly KernelResult[], referenceGbps: number | null): string {
  return table(
    ['kernel', 'model', 'shape', 'ms', 'GB/s', 'GFLOP/s', '% ref', 'wall ms', 'ort ms', 'ratio', 'ort diff'],
    kernels.map((k) => [
      k.name,
      k.model,
      k.shape.join('x'),
      fmt(k.ms, 3),
      fmt(k.gbps),
      fmt(k.gflops),
      referenceGbps ? fmt((100 * k.gbps) / referenceGbps, 1) : '-',
      fmt(k.wall_ms, 3),
      fmt(k.ort_ms, 3),
      fmt(k.ratio),
      k.ort_max_rel_diff === null ? '-' : k.ort_max_rel_diff.toExponential(1),
    ]),
  );
}

export function modelTable(models: readonly ModelResult[], referenceGbps: number | null): string {
  return table(
    ['model', 'format', 'scale', 'TTFT ms', 'TTFT all rows ms', 'layer-rows run', 'prefill tok/s', 'decode tok/s', 'dispatches', 'submits', 'readback B', 'allocs', 'weight MB/token', 'min MB', 'ratio', 'sparse saved MB', 'GB/s', '% ref', 'PLE', 'GPU MB', 'PLE B/token'],
    models.map((m) => {
      const d = m.decode;
      return [
        m.model,
        m.format,
        `1/${m.scale}`,
        fmt(m.prefill.ttft_ms, 1),
        fmt(m.prefill.ttft_full_prefill_ms, 1),
        `${m.prefill.prefill_rows_run} / ${m.prefill.prefill_rows}`,
        fmt(m.prefill.tokens_per_s),
        fmt(d.tokens_per_s),
        fmt(d.dispatches_per_token, 0),
        fmt(d.submits_per_token),
        fmt(d.readback_bytes_per_token, 0),
        fmt(d.allocations_per_token),
        fmt(d.weight_bytes_per_token / 1e6, 3),
        fmt(d.weight_bytes_min / 1e6, 3),
        fmt(d.weight_bytes_ratio, 4),
        fmt(d.weight_bytes_sparse_saving / 1e6, 3),
        fmt(d.weight_gbps, 3),
        referenceGbps ? fmt((100 * d.weight_gbps) / referenceGbps, 1) : '-',
        m.ple,
        fmt(m.gpu_bytes / 1e6, 1),
        fmt(m.host_ple_bytes_per_token, 0),
      ];
    }),
  );
}

/** The console summary: adapter, kernels, models. */
export function formatReport(r: BenchReport): string {
  const a = r.adapter;
  const head = [
    `g3n bench ${r.date}  adapter: ${a.description || a.device || a.vendor} (${a.vendor} ${a.architecture})${a.is_software ? ' [software]' : ''}`,
    `timing: ${r.timing}; reference copy bandwidth: ${fmt(r.reference_gbps)} GB/s; features: ${a.features.join(', ')}`,
  ];
  const parts = [head.join('\n')];
  if (r.kernels.length) parts.push(kernelTable(r.kernels, r.reference_gbps));
  if (r.models.length) parts.push(modelTable(r.models, r.reference_gbps));
  if (r.audio_encoder) {
    const e = r.audio_encoder;
    parts.push(`audio encoder (hidden ${e.hidden}, ${e.layers} layers, ${e.heads} heads; 1/${e.scale}): ${e.frames} frames -> ${e.tokens} tokens in ${e.ms.toFixed(1)} ms, ${e.gflop.toFixed(2)} GFLOP, ${e.gflops_per_s.toFixed(1)} GFLOP/s; weights ${mib(e.weight_bytes)} MiB, workspace ${mib(e.workspace_bytes)} MiB`);
  }
  if (r.audio_features) {
    const f = r.audio_features;
    parts.push(`audio features: ${f.seconds} s (${f.frames} frames x 128 mel) in ${f.ms.toFixed(1)} ms; resampling ${f.seconds} s to 16 kHz on the CPU: from 48 kHz ${f.resample_48k_ms.toFixed(1)} ms, from 44.1 kHz ${f.resample_44k1_ms.toFixed(1)} ms`);
  }
  if (r.vision_encoder) parts.push(visionLines(r.vision_encoder));
  if (r.memory) parts.push(memoryTableText(r.memory));
  parts.push(`onnxruntime-web: ${r.ort.note}`);
  return parts.join('\n\n');
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

/** The computed full-size memory table: weights + KV (4,096 tokens) + activations, PLE on the GPU and on the host. */
export function memoryTableText(rows: readonly MemoryRow[]): string {
  const gb = (n: number) => (n / 1e9).toFixed(3);
  return `GPU memory, full size (KV at 4,096 tokens; GB):\n${table(
    ['model', 'format', 'PLE', 'weights', 'KV', 'activations', 'total'],
    rows.map((m) => [m.model, m.format, m.ple, gb(m.weights_bytes), gb(m.kv_bytes), gb(m.activations_bytes), gb(m.total_bytes)]),
  )}`;
}

function visionLines(v: VisionBenchResult): string {
  const lines = [
    `vision encoder (MobileNet-V5-300M, widths 1/${v.scale}): ${v.height} x ${v.width} -> ${v.tokens} tokens in ${v.ms.toFixed(1)} ms, ${v.gflop.toPrecision(3)} GFLOP, ${v.gflops_per_s.toPrecision(3)} GFLOP/s; weights ${mib(v.weight_bytes)} MiB, workspace ${mib(v.workspace_bytes)} MiB; ${v.dispatches} dispatches`,
  ];
  if (v.share) {
    const kinds = Object.entries(v.share).sort((a, b) => b[1] - a[1]);
    lines.push(`  GPU time by block kind: ${kinds.map(([k, f]) => `${k} ${(100 * f).toFixed(1)}% (${v.gflop_by_kind[k as keyof typeof v.gflop_by_kind].toPrecision(3)} GFLOP)`).join(', ')}`);
  }
  if (v.ttft) lines.push(`  one-image prompt (${v.ttft.prompt_tokens} tokens) on ${v.ttft.model} ${v.ttft.format}: TTFT ${v.ttft.ttft_ms.toFixed(1)} ms = encode ${v.ttft.encode_ms.toFixed(1)} + prefill ${v.ttft.prefill_ms.toFixed(1)}`);
  return lines.join('\n');
}
