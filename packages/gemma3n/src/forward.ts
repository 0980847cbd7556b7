import { G3nError, type Dispatch, type Gpu, type Tensor } from '@g3n/gpu';
import {
  add,
  addInplace,
  altupRescale,
  copy,
  embedGather,
  gatherScratchElements,
  linear,
  linearTransposed,
  rmsNorm,
  scale,
  softcap,
} from '@g3n/kernels';
import type { TextConfig } from './config.ts';
import type { MatrixWeight } from './gpu-weights.ts';
import type { TextWeights } from './text-weights.ts';
import { decoderLayer } from './layer.ts';
import type { SoftRowRun } from './soft-tokens.ts';
import { view, type KvCache, type Workspace } from './workspace.ts';

/** Everything a forward pass reads: configuration, weights, buffers, caches. */
export interface ForwardContext {
  gpu: Gpu;
  cfg: TextConfig;
  weights: TextWeights;
  ws: Workspace;
  caches: Array<KvCache | null>;
  /** Hard-token embeddings of the vision and audio vocabularies ([rows, D] each), computed at load. */
  mmTables: Array<{ table: Tensor; rowStart: number; rows: number }>;
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

/** Elements of the named intermediate (golden.safetensors names) for T tokens. */
export function captureElements(c: TextConfig, name: string, T: number): number {
  const D = c.hiddenSize;
  if (name === 'per_layer_inputs') return T * c.numLayers * c.hiddenSizePerLayerInput;
  if (name === 'altup_init' || /^layers\.\d+\.output$/.test(name)) return c.altupNumInputs * T * D;
  if (name === 'logits') return T * c.vocabSize;
  if (['inputs_embeds', 'final_hidden'].includes(name) || /^layers\.\d+\.(attn_out|mlp_out)$/.test(name)) return T * D;
  const gate = /^layers\.(\d+)\.mlp_gate$/.exec(name);
  if (gate && Number(gate[1]) < c.numLayers) return T * c.intermediateSize[Number(gate[1])];
  throw new G3nError('BAD_INPUT', `unknown intermediate '${name}'`);
}

/** Copy `src` (n elements) into a capture tensor at element `at`, when that name is being captured. */
export function captureCopy(gpu: Gpu, opts: ForwardOptions, name: string, src: Tensor, n: number, at = 0): Dispatch[] {
  const dst = opts.capture?.get(name);
  return dst ? [copy(gpu, { a: src, out: dst, n, outOffset: at })] : [];
}

/** The whole decoder over `tokens` tokens at positions pos0.., ids already in ws 'ids' / 'ple_ids'. */
export function forwardDispatches(ctx: ForwardContext, opts: ForwardOptions): Dispatch[] {
  const { gpu, cfg, weights: w, ws } = ctx;
  const T = opts.tokens;
  const D = cfg.hiddenSize;
  const L = cfg.numLayers;
  const P = cfg.hiddenSizePerLayerInput;
  const n = cfg.altupNumInputs;
  const S = ws.streamStride;
  const out: Dispatch[] = [];
  const ids = ws.at('ids', [T]);
  const x0 = ws.at('x0', [T, D]);

  // §3.1 token embeddings (text rows scaled by sqrt(D); multimodal ids from the hard-token table)
  for (const p of w.embedTokens.parts) {
    out.push(embedGather(gpu, { table: p.tensor, ids, out: x0, rowStart: p.row0, rows: p.rows, cols: D, scale: Math.sqrt(D), count: T }));
  }
  for (const m of ctx.mmTables) {
    out.push(embedGather(gpu, { table: m.table, ids, out: x0, rowStart: m.rowStart, rows: m.rows, cols: D, scale: 1, count: T }));
  }
  for (const r of opts.softRows ?? []) {
    out.push(copy(gpu, { a: r.src, out: x0, n: r.rows * D, aOffset: r.srcRow * D, outOffset: r.dstRow * D }));
  }
  out.push(...captureCopy(gpu, opts, 'inputs_embeds', x0, T * D));

  // §3.2 per-layer inputs: (RMSNorm(W x0 / sqrt(D)) + PLE row * sqrt(P)) / sqrt(2), layout [T, L, P]
  const pleIds = ws.at(opts.pleFromIds ? 'ids' : 'ple_ids', [T]);
  const pleRaw = ws.at('ple_raw', [T, L * P]);
  for (const p of w.embedTokensPerLayer.parts) {
    out.push(embedGather(gpu, { table: p.tensor, ids: pleIds, out: pleRaw, rowStart: p.row0, rows: p.rows, cols: L * P, scale: Math.sqrt(P), count: T }));
  }
  const pleProj = ws.at('ple_proj', [T, L * P]);
  const pleScaled = ws.at('ple_scaled', [T, L * P]);
  const pleNormed = ws.at('ple_normed', [T, L * P]);
  const perLayer = ws.at('per_layer', [T, L * P]);
  out.push(...linearAll(gpu, x0, w.perLayerModelProjection, pleProj, T));
  out.push(scale(gpu, pleProj, pleScaled, 1 / Math.sqrt(D)));
  out.push(rmsNorm(gpu, { x: pleScaled, out: pleNormed, weight: w.perLayerProjectionNorm, rows: T * L, cols: P, eps: cfg.rmsNormEps }));
  out.push(add(gpu, pleNormed, pleRaw, perLayer, Math.SQRT1_2));
  out.push(...captureCopy(gpu, opts, 'per_layer_inputs', perLayer, T * L * P));

  // §3.3 AltUp streams: X0 = x0, Xk = magnitude-matched projections of x0
  const streams = ws.raw('streams');
  const stream = (k: number) => view(streams, k * S, [T, D]);
  const tmp = ws.at('tmp', [T, D]);
  out.push(copy(gpu, { a: x0, out: stream(0), n: T * D }));
  for (let k = 1; k < n; k++) {
    out.push(...linearAll(gpu, x0, w.altupProjections[k - 1], tmp, T));
    out.push(altupRescale(gpu, { y: tmp, ref: x0, out: stream(k), tokens: T, dim: D }));
  }
  for (let k = 0; k < n; k++) out.push(...captureCopy(gpu, opts, 'altup_init', stream(k), T * D, k * T * D));

  out.push(...layerDispatches(ctx, opts, 0, L));
  out.push(...finalDispatches(ctx, opts));
  return out;
}

export function layerDispatches(ctx: ForwardContext, opts: ForwardOptions, from: number, to: number): Dispatch[] {
  const out: Dispatch[] = [];
  const S = ctx.ws.streamStride;
  const T = opts.tokens;
  const D = ctx.cfg.hiddenSize;
  for (let l = from; l < to; l++) {
    out.push(...decoderLayer(ctx, opts, l));
    for (let k = 0; k < ctx.cfg.altupNumInputs; k++) {
      out.push(...captureCopy(ctx.gpu, opts, `layers.${l}.output`, view(ctx.ws.raw('streams'), k * S, [T, D]), T * D, k * T * D));
    }
  }
  return out;
}

/** §3.6: AltUp unembedding, stream mean, final norm, tied LM head, soft-capping. */
export function finalDispatches(ctx: ForwardContext, opts: ForwardOptions): Dispatch[] {
  const { gpu, cfg, weights: w, ws } = ctx;
  const T = opts.tokens;
  const D = cfg.hiddenSize;
  const n = cfg.altupNumInputs;
  const S = ws.streamStride;
  const V = cfg.vocabSize;
  const out: Dispatch[] = [];
  const streams = ws.raw('streams');
  const pred = ws.raw('pred');
  const stream = (k: number) => view(streams, k * S, [T, D]);
  const tmp = ws.at('tmp', [T, D]);
  const fin = ws.at('fin', [T, D]);
  const fin2 = ws.at('fin2', [T, D]);
  const hfin = ws.at('hfin', [T, D]);
  out.push(copy(gpu, { a: stream(0), out: fin, n: T * D }));
  for (let k = 1; k < n; k++) {
    const z = view(pred, k * S, [T, D]);
    out.push(...linearAll(gpu, stream(k), w.altupUnembedProjections[k - 1], tmp, T));
    out.push(altupRescale(gpu, { y: tmp, ref: stream(0), out: z, tokens: T, dim: D }));
    out.push(addInplace(gpu, fin, z));
  }
  out.push(scale(gpu, fin, fin2, 1 / n));
  out.push(rmsNorm(gpu, { x: fin2, out: hfin, weight: w.norm, rows: T, cols: D, eps: cfg.rmsNormEps }));
  out.push(...captureCopy(gpu, opts, 'final_hidden', hfin, T * D));

  const rows = opts.allLogits ? T : 1;
  let headIn = hfin;
  if (!opts.allLogits) {
    headIn = ws.at('h_last', [1, D]);
    out.push(copy(gpu, { a: hfin, out: headIn, n: D, aOffset: (T - 1) * D }));
  }
  const logits = ws.at('logits', [rows, V]);
  out.push(...linearAll(gpu, headIn, w.embedTokens, logits, rows));
  if (cfg.finalLogitSoftcap !== null) out.push(softcap(gpu, { x: logits, n: rows * V, cap: cfg.finalLogitSoftcap }));
  out.push(...captureCopy(gpu, opts, 'logits', logits, rows * V));
  return out;
}
