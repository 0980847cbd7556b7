/**
 * Audio encoder benchmark: the Gemma 3n audio tower (SSCP, conformer blocks, time reduction, soft
 * tokens) on one clip of log-mel frames (30 s = 2997 frames by default), with random bf16 weights at
 * the published sizes divided by `scale` (hidden 1536, 12 layers, 8 heads at scale 1). Reports the
 * wall time of an encode (pipelines compiled by a first, untimed run) and the GFLOP/s of its
 * multiply-adds (convolutions, linears, attention) counted from the shapes.
 */
import type { Gpu } from '@g3n/gpu';
import { audioFrameCounts, AudioTower, audioWeightTable, parseAudioConfig, parseConfig, type AudioConfig } from '@g3n/gemma3n';
import { f32ToBf16Bits } from '@g3n/kernels';
import { bytesMade } from './memory.ts';
import { towerHostTextConfig, type TowerEncodeResult } from './tower-config.ts';

/** Deterministic normal-ish values (mulberry32 + Box-Muller). */
function randn(n: number, seed: number, std: number): Float32Array {
  let s = seed >>> 0;
  const rand = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = std * Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand());
  return out;
}

/** `tokens`: encoder frames after time reduction, the soft tokens of one clip; weights as loaded (bf16 matrices). */
export interface AudioBenchResult extends TowerEncodeResult {
  name: 'audio_encoder';
  frames: number;
  hidden: number;
  layers: number;
  heads: number;
}

/** A Gemma 3n config.json whose audio tower has the published shape divided by `scale`. */
export function syntheticAudioConfigJson(scale: number): Record<string, unknown> {
  const heads = 8;
  const hidden = Math.max(heads * 2, Math.round(1536 / scale / heads) * heads);
  return {
    model_type: 'gemma3n',
    text_config: towerHostTextConfig(Math.max(64, Math.round(2048 / scale / 64) * 64)),
    audio_config: { hidden_size: hidden, conf_num_attention_heads: heads, conf_num_hidden_layers: 12, sscp_conv_channel_size: [Math.max(8, 128 / scale), Math.max(4, 32 / scale)] },
    audio_token_id: 262273,
    audio_soft_tokens_per_image: 188,
  };
}

/** Multiply-adds of one encode of `frames` frames (spec §5.7 cost: ~490 GMAC for 30 s at full size). */
export function audioEncoderMacs(c: AudioConfig, frames: number): number {
  const { sscp: [T1, T2], freq: [F1, F2], reduced } = audioFrameCounts(c, frames);
  const [C0, C1] = c.sscpChannels;
  const [[kh0, kw0], [kh1, kw1]] = c.sscpKernels;
  const D = c.hiddenSize;
  const span = c.maxPast + 1 + c.maxFuture;
  const sscp = T1 * F1 * C0 * kh0 * kw0 + T2 * F2 * C1 * C0 * kh1 * kw1 + T2 * D * F2 * C1;
  const layer = 2 * 2 * T2 * D * c.ffnSize + 4 * T2 * D * D + span * D * D + 2 * T2 * span * D + 3 * T2 * D * D + T2 * D * c.convKernel;
  return sscp + c.numLayers * layer + reduced * D * c.textHiddenSize;
}

export async function runAudioBench(gpu: Gpu, options: { scale: number; frames: number }): Promise<AudioBenchResult> {
  const cfg = parseConfig(syntheticAudioConfigJson(options.scale));
  const ac = parseAudioConfig(cfg);
  const table = new Map(audioWeightTable(ac).map((w) => [w.name, w]));
  let seed = 1;
  const read = async (name: string) => {
    const w = table.get(name)!;
    const n = w.shape.reduce((a, b) => a * b, 1);
    const fanIn = w.role === 'matrix' ? w.shape[1] : w.role === 'conv' ? n / w.shape[0] : 1;
    const values = w.role === 'vector' ? randn(n, seed++, 0.1).map((v) => v + (name.endsWith('per_dim_scale') ? 0 : 1)) : randn(n, seed++, 1 / Math.sqrt(fanIn));
    return { dtype: 'BF16' as const, bytes: new Uint8Array(f32ToBf16Bits(values).buffer) };
  };
  const { value: tower, bytes: weightBytes } = await bytesMade(gpu.device, () => AudioTower.load(gpu, cfg, read));
  try {
    const F = ac.inputFeatSize;
    const features = randn(options.frames * F, 7, 2).map((v) => v - 5);
    (await tower.encode(features, [options.frames, F])).destroy();
    const t0 = performance.now();
    const { value: enc, bytes: workspaceBytes } = await bytesMade(gpu.device, () => tower.encode(features, [options.frames, F]));
    const ms = performance.now() - t0;
    enc.destroy();
    const gflop = (2 * audioEncoderMacs(ac, options.frames)) / 1e9;
    return { name: 'audio_encoder', scale: options.scale, frames: options.frames, hidden: ac.hiddenSize, layers: ac.numLayers, heads: ac.numHeads, tokens: enc.frames, ms, gflop, gflops_per_s: gflop / (ms / 1000), weight_bytes: weightBytes, workspace_bytes: workspaceBytes };
  } finally {
    tower.destroy();
  }
}
