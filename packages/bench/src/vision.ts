/**
 * Vision encoder benchmark (opt-in, `--vision`): the Gemma 3n vision tower (MobileNet-V5-300M and the
 * embed_vision soft path) on one image, with random bf16 weights at the published widths (spec §4.3)
 * divided by `scale` (1: full size), loaded through the tower's own loader so that its GPU memory is
 * that of the storage format. Reports:
 * - `ms`: wall time of one `VisionTower.encode` (upload of the pixels, one submit, awaited) after a first
 *   encode that compiled the pipelines; `gflop` = 2 x the multiply-adds counted from the shapes (436.8 G
 *   at 768 x 768 and scale 1, the spec's ~436 GMAC), `gflops_per_s`;
 * - `share`: with timestamp queries, the GPU time of every dispatch of the first encode (each in its own
 *   pass), grouped by the block kind its weights belong to (stem, EdgeResidual, UIR with / without a
 *   depthwise conv, MQA, fusion adapter, embedder); a dispatch that binds no weight (GELU, residual add,
 *   attention) counts for the block of the dispatch before it;
 * - `weight_bytes` (buffers the loader made) and `workspace_bytes` (buffers one encode made);
 * - `ttft`: one image prompt (256 soft tokens + 6 text tokens) on the synthetic E2B text model at the same
 *   scale, q4: image encode + prefill to the first sampled token, pipelines warm.
 */
import { Profiler, type Gpu, type Tensor } from '@g3n/gpu';
import { GREEDY, parseConfig, VisionTower, type PixelValues } from '@g3n/gemma3n';
import { DeviceCounters } from './counters.ts';
import { bytesMade } from './memory.ts';
import type { TowerEncodeResult } from './tower-config.ts';
import { loadSyntheticModel, SCALES, syntheticConfig } from './synthetic.ts';
import { kindOfTensor, syntheticVisionConfigJson, visionMacs, visionTensorShapes, VISION_KINDS, type VisionKind } from './vision-shapes.ts';

/** Weights as loaded: bf16 matrices and convolutions, f32 norms. */
export interface VisionBenchResult extends TowerEncodeResult {
  name: 'vision_encoder';
  height: number;
  width: number;
  /** GFLOP per block kind, and the share of GPU time per kind (null without timestamp queries). */
  gflop_by_kind: Record<VisionKind, number>;
  share: Record<VisionKind, number> | null;
  dispatches: number;
  /** Time to first token of a one-image prompt (null when not run). */
  ttft: { model: string; format: 'q4'; prompt_tokens: number; encode_ms: number; prefill_ms: number; ttft_ms: number } | null;
}

/** Uniform values in [-amp, amp) as bf16 bits (xorshift32), or `base` + that as f32 bytes. */
function randomData(n: number, seed: number, amp: number, asF32: boolean, base = 0): { dtype: 'BF16' | 'F32'; bytes: Uint8Array } {
  let s = (seed | 1) >>> 0;
  const f = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    f[i] = base + amp * ((s >>> 0) / 2147483648 - 1);
  }
  if (asF32) return { dtype: 'F32', bytes: new Uint8Array(f.buffer) };
  const bits = new Uint32Array(f.buffer);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = bits[i] >>> 16;
  return { dtype: 'BF16', bytes: new Uint8Array(out.buffer) };
}

/** A profiler that keys each timed pass by its index in submission order. */
class IndexProfiler extends Profiler {
  private n = 0;
  override slot(_key: string): GPUComputePassTimestampWrites | undefined {
    return super.slot(String(this.n++));
  }
}

export async function loadSyntheticVisionTower(gpu: Gpu, scale: number): Promise<{ tower: VisionTower; weightBytes: number; shapes: Map<string, number[]> }> {
  const shapes = visionTensorShapes(scale);
  const tensors = new Map([...shapes].map(([name, shape]) => [name, { shape }]));
  let seed = 1;
  const readTensorData = async (name: string) => {
    const shape = shapes.get(name)!;
    const n = shape.reduce((a, b) => a * b, 1);
    if (shape.length === 1) return randomData(n, seed++, name.endsWith('gamma') ? 0.05 : 0.1, true, name.endsWith('gamma') || name.endsWith('bias') ? 0 : 1);
    const fanIn = n / shape[0];
    return randomData(n, seed++, Math.sqrt(3 / fanIn), false);
  };
  const { value: tower, bytes } = await bytesMade(gpu.device, () => VisionTower.load(gpu, parseConfig(syntheticVisionConfigJson(scale)), { tensors, readTensorData }));
  return { tower, weightBytes: bytes, shapes };
}

/**
 * GPU ms per block kind of one encode with every dispatch timed in its own pass (`gpu` is the tower's
 * own device object, its profiler set for this encode only); null when the device has no timestamp
 * queries or not every pass could be timed.
 */
async function shareByKind(gpu: Gpu, timestamps: boolean, tower: VisionTower, image: PixelValues): Promise<{ share: Record<VisionKind, number> | null; dispatches: number }> {
  if (!timestamps) {
    (await tower.encode([image]))[0].softTokens.buffer.destroy();
    return { share: null, dispatches: 0 };
  }
  const profiler = new IndexProfiler(gpu.device);
  const counters = new DeviceCounters(gpu.device);
  counters.recording = [];
  gpu.profiler = profiler;
  try {
    (await tower.encode([image]))[0].softTokens.buffer.destroy();
  } finally {
    gpu.profiler = null;
    counters.dispose();
  }
  // Plan.build makes one bind group per dispatch, in dispatch order, as the passes are timed.
  const groups = counters.recording ?? [];
  const times = new Map(profiler.report().map((r) => [Number(r.key), r.ms]));
  if (groups.length === 0 || times.size !== groups.length) return { share: null, dispatches: groups.length };
  const ms = Object.fromEntries(VISION_KINDS.map((k) => [k, 0])) as Record<VisionKind, number>;
  let kind: VisionKind = 'stem';
  groups.forEach((g, i) => {
    const named = g.entries.map((e) => kindOfTensor(e.buffer.label)).find((k) => k !== null);
    if (named) kind = named;
    else if (/resize|avg_pool/.test(g.label)) kind = 'msfa';
    ms[kind] += times.get(i) ?? 0;
  });
  const total = VISION_KINDS.reduce((n, k) => n + ms[k], 0);
  const share = Object.fromEntries(VISION_KINDS.map((k) => [k, total > 0 ? ms[k] / total : 0])) as Record<VisionKind, number>;
  return { share, dispatches: groups.length };
}

export async function runVisionBench(gpuIn: Gpu, options: { scale: number; size: number; ttft: boolean }): Promise<VisionBenchResult> {
  const { scale, size } = options;
  const gpu: Gpu = { ...gpuIn, profiler: null };
  const { tower, weightBytes, shapes } = await loadSyntheticVisionTower(gpu, scale);
  try {
    const image: PixelValues = { data: new Float32Array(randomData(3 * size * size, 99, 0.5, true, 0.5).bytes.buffer), shape: [3, size, size] };
    // First encode: compiles the pipelines; with timestamp queries, also the per-dispatch profile.
    const { share, dispatches } = await shareByKind(gpu, gpuIn.profiler !== null, tower, image);
    const t0 = performance.now();
    const { value: encoded, bytes: workspaceBytes } = await bytesMade(gpu.device, () => tower.encode([image]));
    const ms = performance.now() - t0;
    const soft = encoded[0].softTokens;
    const tokens = soft.shape[0];
    const macs = visionMacs(shapes, size, size);
    const gflopByKind = Object.fromEntries(VISION_KINDS.map((k) => [k, (2 * macs[k]) / 1e9])) as Record<VisionKind, number>;
    const gflop = VISION_KINDS.reduce((n, k) => n + gflopByKind[k], 0);
    let ttft: VisionBenchResult['ttft'] = null;
    try {
      if (options.ttft) ttft = await oneImageTtft(gpu, tower, image, soft, scale);
    } finally {
      soft.buffer.destroy();
    }
    return { name: 'vision_encoder', scale, height: size, width: size, tokens, ms, gflop, gflops_per_s: gflop / (ms / 1000), weight_bytes: weightBytes, workspace_bytes: workspaceBytes, gflop_by_kind: gflopByKind, share, dispatches, ttft };
  } finally {
    tower.destroy();
  }
}

/** One image prompt on the synthetic E2B (q4) at `scale`: encode + prefill to the first token, after a warm-up prefill with `warm`'s soft tokens. */
async function oneImageTtft(gpu: Gpu, tower: VisionTower, image: PixelValues, warm: Tensor, scale: number): Promise<VisionBenchResult['ttft']> {
  if (!(SCALES as readonly number[]).includes(scale)) return null;
  const config = syntheticConfig('E2B', scale);
  const placeholder = 7;
  const prompt = [2, 105, 3, ...Array<number>(tower.config.tokensPerImage).fill(placeholder), 4, 106, 5];
  const { model } = await loadSyntheticModel(gpu, config, 'q4', { maxContext: prompt.length + 8, maxChunk: Math.min(prompt.length, 512) });
  const soft = (embeds: Tensor) => ({ softTokens: [{ tokenId: placeholder, embeds, count: tower.config.tokensPerImage }] });
  try {
    await model.prefillSample(prompt, GREEDY, 0, soft(warm));
    const run = async () => {
      model.reset();
      const t0 = performance.now();
      const [enc] = await tower.encode([image]);
      const t1 = performance.now();
      try {
        await model.prefillSample(prompt, GREEDY, 0, soft(enc.softTokens));
      } finally {
        enc.softTokens.buffer.destroy();
      }
      const t2 = performance.now();
      return { encode_ms: t1 - t0, prefill_ms: t2 - t1, ttft_ms: t2 - t0 };
    };
    return { model: `synthetic E2B 1/${scale}`, format: 'q4', prompt_tokens: prompt.length, ...(await run()) };
  } finally {
    model.destroy();
  }
}
