/**
 * What the text decoder's steps share: the forward context and options, the linear product over a
 * matrix's row parts, and the copy-out of named intermediates. forward.ts (embeddings, AltUp streams,
 * final head) and layer.ts (one decoder layer) both import it; neither imports the other's internals.
 */
import type { Dispatch, Gpu, Tensor } from '@g3n/gpu';
import { copy, gatherScratchElements, linear, linearTransposed } from '@g3n/kernels';
import { captureSize, type CaptureSheet } from './capture.ts';
import type { TextConfig } from './config.ts';
import type { MatrixWeight } from './gpu-weights.ts';
import type { SoftRowRun } from './soft-tokens.ts';
import type { TextWeights } from './text-weights.ts';
import type { KvCache, Workspace } from './workspace.ts';

/** Everything a forward pass reads: configuration, weights, buffers, caches. */
export interface ForwardContext {
  gpu: Gpu;
  cfg: TextConfig;
  weights: TextWeights;
  ws: Workspace;
  caches: Array<KvCache | null>;
  /** Hard-token embeddings of the vision and audio vocabularies ([rows, D] each), computed at load. */
  mmTables: Array<{ table: Tensor; rowStart: number; rows: number }>;
  /**
   * With the PLE table on the host (`ple: 'host'`): the staging tensor holding this pass's PLE rows
   * (row i for token i) and the local row indices 0.. that embedGather reads it with.
   */
  pleRows?: { table: Tensor; ids: Tensor } | null;
}

export interface ForwardOptions {
  tokens: number;
  pos0: number;
  /** Logits of every position (tests, the CLI) instead of only the last one. */
  allLogits: boolean;
  /** Intermediates to copy out, by the names golden.safetensors uses, into these tensors. */
  capture?: Map<string, Tensor>;
  /**
   * Gather the PLE rows with the token ids themselves (ws 'ids'), not with ws 'ple_ids': valid when
   * every id is below vocab_size_per_layer_input, as for tokens sampled on the GPU from that range.
   */
  pleFromIds?: boolean;
  /** Encoder rows that replace the input embeddings of placeholder positions of this chunk (spec §4.7, §5.7). */
  softRows?: readonly SoftRowRun[];
  /**
   * Run every layer for every row (tests that capture intermediates). By default a prefill pass runs
   * the layers that write no KV cache (KV sharing, spec §1.2) for its last row only: the last
   * position's logits and the caches are the same.
   */
  fullPrefill?: boolean;
  /** Nothing reads this pass's output (a prefill chunk before the last): only the KV caches matter. */
  outputUnused?: boolean;
  /** One token through the unfused kernels (decode-step.ts fuses them by default where it can). */
  unfused?: boolean;
}

/**
 * y = x W^T over every row part of W (parts write their own column range of the output). A transposed W
 * needs `scratch` for one row (at least `transposedScratchElements(w)` f32 values; the parts use it in turn).
 */
export function linearAll(gpu: Gpu, x: Tensor, w: MatrixWeight, out: Tensor, rows: number, scratch?: Tensor): Dispatch[] {
  if (w.transposed) return w.parts.flatMap((p) => linearTransposed(gpu, { x, w: p.tensor, out, rows, outOffset: p.row0, outStride: w.rows, scratch }));
  return w.parts.map((p) => linear(gpu, { x, w: p.tensor, out, rows, outOffset: p.row0, outStride: w.rows }));
}

/** The f32 scratch values a one-row `linearAll` through the transposed W needs (the largest part's). */
export function transposedScratchElements(w: MatrixWeight): number {
  return Math.max(...w.parts.map((p) => gatherScratchElements(w.cols, p.rows)));
}

/** The text decoder's intermediates (golden.safetensors names) and their elements for a pass of `tokens`. */
export const TEXT_CAPTURES: CaptureSheet<TextConfig, { tokens: number }> = [
  { pattern: /^per_layer_inputs$/, elements: (c, { tokens }) => tokens * c.numLayers * c.hiddenSizePerLayerInput },
  { pattern: /^(?:altup_init|layers\.\d+\.output)$/, elements: (c, { tokens }) => c.altupNumInputs * tokens * c.hiddenSize },
  { pattern: /^logits$/, elements: (c, { tokens }) => tokens * c.vocabSize },
  { pattern: /^(?:inputs_embeds|final_hidden|layers\.\d+\.(?:attn_out|mlp_out))$/, elements: (c, { tokens }) => tokens * c.hiddenSize },
  { pattern: /^layers\.(\d+)\.mlp_gate$/, elements: (c, { tokens }, m) => (Number(m[1]) < c.numLayers ? tokens * c.intermediateSize[Number(m[1])] : null) },
];

/** Elements of the named text intermediate for T tokens (TEXT_CAPTURES). */
export function captureElements(c: TextConfig, name: string, T: number): number {
  return captureSize(TEXT_CAPTURES, c, name, { tokens: T });
}

/** Copy `src` (n elements) into a capture tensor at element `at`, when that name is being captured. */
export function captureCopy(gpu: Gpu, opts: ForwardOptions, name: string, src: Tensor, n: number, at = 0): Dispatch[] {
  const dst = opts.capture?.get(name);
  return dst ? [copy(gpu, { a: src, out: dst, n, outOffset: at })] : [];
}
