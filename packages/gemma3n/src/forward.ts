import type { Dispatch } from '@g3n/gpu';
import { add, addInplace, altupRescale, copy, embedGather, rmsNorm, scale, softcap } from '@g3n/kernels';
import { captureCopy, linearAll, type ForwardContext, type ForwardOptions } from './context.ts';
import { decoderLayer } from './layer.ts';
import { fusedStepDispatches, fusedStepFits } from './decode-step.ts';
import type { TextConfig } from './config.ts';
import { view } from './workspace.ts';

export { captureCopy, captureElements, linearAll, transposedScratchElements } from './context.ts';
export type { ForwardContext, ForwardOptions } from './context.ts';

/** The whole decoder over `tokens` tokens at positions pos0.., ids already in ws 'ids' / 'ple_ids'. */
export function forwardDispatches(ctx: ForwardContext, opts: ForwardOptions): Dispatch[] {
  if (!opts.unfused && fusedStepFits(ctx, opts)) return fusedStepDispatches(ctx, opts);
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
  const host = ctx.pleRows;
  const pleParts = host ? [{ tensor: host.table, ids: host.ids, row0: 0, rows: host.table.shape[0] }] : w.embedTokensPerLayer.parts.map((p) => ({ ...p, ids: pleIds }));
  for (const p of pleParts) {
    out.push(embedGather(gpu, { table: p.tensor, ids: p.ids, out: pleRaw, rowStart: p.row0, rows: p.rows, cols: L * P, scale: Math.sqrt(P), count: T }));
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

  const from = fastPrefillFrom(cfg);
  if (!fastPrefill(opts, from, L)) {
    out.push(...layerDispatches(ctx, opts, 0, L));
    out.push(...finalDispatches(ctx, opts));
    return out;
  }
  // KV sharing (spec §1.2): layers from `from` on write no cache, so only the last row's output is needed there.
  out.push(...layerDispatches(ctx, opts, 0, from));
  if (opts.outputUnused) return out;
  out.push(...lastRowToFirst(ctx, T));
  const last: ForwardOptions = { ...opts, tokens: 1, pos0: opts.pos0 + T - 1, softRows: undefined };
  out.push(...layerDispatches(ctx, last, from, L));
  out.push(...finalDispatches(ctx, last));
  return out;
}

/**
 * The first layer from which no layer writes a KV cache (every later layer reads a cache written
 * before it): numLayers when the last layer writes one.
 */
export function fastPrefillFrom(cfg: TextConfig): number {
  let from = cfg.numLayers;
  while (from > 0 && cfg.kvSource[from - 1] !== from - 1) from--;
  return from;
}

/** Whether a pass may run the layers from `from` on for its last row alone (or skip them, output unused). */
function fastPrefill(opts: ForwardOptions, from: number, L: number): boolean {
  if (opts.fullPrefill || opts.allLogits || (opts.capture?.size ?? 0) > 0) return false;
  return from < L && (opts.tokens > 1 || opts.outputUnused === true);
}

/**
 * Layer-rows a prefill of `tokens` rows runs (in any chunks): every row through the layers that write
 * KV caches, the last row alone through the rest.
 */
export function prefillLayerRows(cfg: TextConfig, tokens: number, fast = true): number {
  const L = cfg.numLayers;
  if (!fast) return tokens * L;
  const from = fastPrefillFrom(cfg);
  return tokens * from + (L - from);
}

/** Move the last row of every AltUp stream and of the per-layer inputs to row 0 (through scratch rows). */
function lastRowToFirst(ctx: ForwardContext, T: number): Dispatch[] {
  const { gpu, cfg, ws } = ctx;
  const D = cfg.hiddenSize;
  const LP = cfg.numLayers * cfg.hiddenSizePerLayerInput;
  const S = ws.streamStride;
  const streams = ws.raw('streams');
  const tmp = ws.at('tmp', [T, D]);
  const perLayer = ws.at('per_layer', [T, LP]);
  const pleRaw = ws.at('ple_raw', [T, LP]);
  const out: Dispatch[] = [];
  for (let k = 0; k < cfg.altupNumInputs; k++) {
    const stream = view(streams, k * S, [T, D]);
    out.push(copy(gpu, { a: stream, out: tmp, n: D, aOffset: (T - 1) * D }), copy(gpu, { a: tmp, out: stream, n: D }));
  }
  out.push(copy(gpu, { a: perLayer, out: pleRaw, n: LP, aOffset: (T - 1) * LP }), copy(gpu, { a: pleRaw, out: perLayer, n: LP }));
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
