/**
 * The 16 official MatFormer configurations of Gemma 3n E4B (`google/gemma3n-slicing-configs`,
 * spec §8), as SliceConfigs against the E4B parent (35 layers, FFN 16384), and what a slice costs:
 * its effective (non-embedding text decoder) parameters and the bytes of the weights it loads.
 */
import type { ModelConfig } from '../config.ts';
import { textWeightTable } from '../weight-table.ts';
import { planSlice, type SliceConfig } from './slice.ts';

export interface PublishedSlice extends SliceConfig {
  numLayers: number;
  /** Short names that also find this configuration (e.g. 'E2B'). */
  aliases: string[];
  /** Published `# Effective Params (B)`. */
  effectiveParamsB: number;
  /** Published `MMLU PT accuracy`, in percent. */
  mmlu: number;
}

const E4B_LAYERS = 35;
const FULL = 16_384;
const HALF = 8_192;

/** '4, 9-24, 29' -> [4, 9, 10, ..., 24, 29]; 'all' -> every layer; '' -> none. */
function indices(spec: string, n: number): number[] {
  if (spec === 'all') return Array.from({ length: n }, (_, i) => i);
  return spec
    .split(',')
    .filter((s) => s.trim() !== '')
    .flatMap((part) => {
      const [a, b = a] = part.split('-').map((x) => Number(x.trim()));
      return Array.from({ length: b - a + 1 }, (_, k) => a + k);
    });
}

/** One row of the official table: "16384 at" lists layer indices of the SLICED model. */
function row(name: string, aliases: string[], numLayers: number, effectiveParamsB: number, mmlu: number, wideAt: string, skipped: string): PublishedSlice {
  const wide = new Set(indices(wideAt, numLayers));
  return {
    name,
    aliases,
    numLayers,
    layersSkipped: indices(skipped, E4B_LAYERS),
    ffnHiddenDims: Array.from({ length: numLayers }, (_, j) => (wide.has(j) ? FULL : HALF)),
    effectiveParamsB,
    mmlu,
  };
}

export const publishedSlices: readonly PublishedSlice[] = [
  row('Main model (E4B)', ['E4B'], 35, 3.98, 62.3, 'all', ''),
  row('Config for official E2B Model', ['E2B'], 30, 1.91, 50.9, '', '20-24'),
  row('E1.96B (layer-level)', [], 30, 1.96, 53.4, '4', '20-24'),
  row('E2.54B (layer-level)', [], 35, 2.54, 55.4, '4, 20-24', ''),
  row('E2.69B (layer-level)', [], 35, 2.69, 57.7, '4, 9, 14, 19, 20-24', ''),
  row('E2.98B (layer-level)', [], 35, 2.98, 59.5, '15-24, 30-34', ''),
  row('E3.18B (layer-level)', [], 35, 3.18, 61.8, '4, 9-24, 29, 34', ''),
  row('E3.39B (layer-level)', [], 35, 3.39, 63.0, '4, 9-29, 34', ''),
  row('E3.59B (layer-level)', [], 35, 3.59, 63.4, '4-29, 34', ''),
  row('E3.79B (layer-level)', [], 35, 3.79, 63.4, '4-34', ''),
  row('E2.49B (block-level)', [], 35, 2.49, 54.5, '20-24', ''),
  row('E2.73B (block-level)', [], 35, 2.73, 57.1, '15-24', ''),
  row('E2.98B (block-level)', [], 35, 2.98, 59.5, '10-24', ''),
  row('E3.24B (block-level)', [], 35, 3.24, 60.7, '10-29', ''),
  row('E3.49B (block-level)', [], 35, 3.49, 61.4, '5-29', ''),
  row('"E3.79B" (block-level)', [], 35, 3.74, 62.0, '5-34', ''),
];

const fold = (s: string): string => s.replaceAll('"', '').trim().toLowerCase();

/** A published configuration by its published name or alias (exact first, then ignoring case and double quotes). */
export function findPublishedSlice(name: string): PublishedSlice | undefined {
  const exact = publishedSlices.find((s) => s.name === name || s.aliases.includes(name));
  if (exact) return exact;
  const key = fold(name);
  return publishedSlices.find((s) => fold(s.name) === key || s.aliases.some((a) => fold(a) === key));
}

export type StorageFormat = 'bf16' | 'f16' | 'f32' | 'q8' | 'q4';

export interface SliceStats {
  /** Non-embedding text-decoder parameters (spec §7.4): every text tensor but embed_tokens and embed_tokens_per_layer. */
  effectiveParams: number;
  /** Bytes of the text-decoder tensors the slice loads, per weight storage format. */
  bytes: Record<StorageFormat, number>;
}

/**
 * One text-decoder tensor of the weight table: `matrix` ones take the storage format, `f32` ones (norms,
 * scales, AltUp coefficients and router) stay f32 in every format, as the loader keeps them.
 */
interface TextTensor {
  elements: number;
  kind: 'matrix' | 'f32';
  cols: number;
  embedding: boolean;
  /** false for the K/V projections and k_norm of KV-sharing layers, which the loader never reads. */
  loaded: boolean;
}

function* textTensors(cfg: ModelConfig): Generator<TextTensor> {
  for (const s of textWeightTable(cfg)) {
    if (s.stage !== 'text') continue;
    const elements = s.shape.reduce((a, b) => a * b, 1);
    const embedding = s.role === 'embedding' || s.role === 'ple';
    yield { elements, kind: s.load === 'matrix' ? 'matrix' : 'f32', cols: s.shape[s.shape.length - 1], embedding, loaded: s.slot !== null };
  }
}

/** Bytes per element of a matrix in `format`; q8/q4 carry an f16 scale per group of 32 and fall back to bf16 when a row is not whole groups. */
function matrixElementBytes(format: StorageFormat, cols: number): number {
  if ((format === 'q8' || format === 'q4') && cols % 32 !== 0) return 2;
  return { bf16: 2, f16: 2, f32: 4, q8: 1 + 2 / 32, q4: 0.5 + 2 / 32 }[format];
}

/** Parameters and load size of `slice` cut from `parent` (both derived from the sliced config). */
export function sliceStats(parent: ModelConfig, slice: SliceConfig): SliceStats {
  const { config } = planSlice(parent, slice);
  let effectiveParams = 0;
  const bytes: Record<StorageFormat, number> = { bf16: 0, f16: 0, f32: 0, q8: 0, q4: 0 };
  for (const t of textTensors(config)) {
    if (!t.embedding) effectiveParams += t.elements;
    if (!t.loaded) continue;
    for (const f of Object.keys(bytes) as StorageFormat[]) bytes[f] += t.elements * (t.kind === 'f32' ? 4 : matrixElementBytes(f, t.cols));
  }
  return { effectiveParams, bytes };
}
