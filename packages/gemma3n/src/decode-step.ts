/**
 * One decode step (one token) with the fused kernels of @g3n/kernels' decode-step.ts: the same
 * computation as forward.ts + layer.ts for T = 1, in about 12 dispatches per layer instead of about 42.
 * Per layer: layer_in (the previous layer's per-layer input, AltUp router + predict, input norm, LAuReL
 * left), q/k/v in one matvec, qkv_post (q/k/v norms, RoPE, KV append), attention (2), o_proj, post_attn
 * (LAuReL right, residual, pre-FFN norm), the FFN (gate+up+GeGLU in one; sparse layers: gate, top-k,
 * masked up+GeGLU), down_proj, layer_out (post-FFN norm, residual, AltUp router + correct, output scale),
 * the per-layer-input gate with GeGLU, and its projection.
 *
 * The step's vectors live in two arenas (`a`, `b`: a kernel that reads one writes the other, so the
 * unfused kernels used between the fused ones never bind one buffer read-only and read-write at once) at
 * the offsets of `stepLayout`; the f32 vector weights are packed once into one buffer (`packedVectors`).
 * A pass that captures intermediates, replaces embeddings or has more than one token runs the unfused path.
 */
import type { Dispatch, Tensor } from '@g3n/gpu';
import {
  attention,
  attentionScratchShape,
  DECODE_MAX_STREAMS,
  decodeRow,
  embedGather,
  fusedMatvec,
  gaussianTopK,
  linearSkipZeroBlocks,
  linearTransposed,
  matvecFits,
  ropeInvFreqTensor,
  softcap,
  sparsityZ,
  type ArenaRef,
  type DecodeRowParams,
  type MvSegment,
} from '@g3n/kernels';
import { linearAll, transposedScratchElements, type ForwardContext, type ForwardOptions } from './context.ts';
import type { TextConfig } from './config.ts';
import type { MatrixWeight } from './gpu-weights.ts';
import type { LayerWeights, TextWeights } from './text-weights.ts';
import { view as tensorView } from './workspace.ts';

const ALIGN = 64;
const up64 = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

/** Element offsets of the step's vectors in the arenas a and b, and their sizes. */
interface StepLayout {
  a: Record<string, number>;
  b: Record<string, number>;
  aSize: number;
  bSize: number;
  /** Elements between AltUp streams. */
  stride: number;
}

function place(sizes: Record<string, number>): { at: Record<string, number>; size: number } {
  const at: Record<string, number> = {};
  let size = 0;
  for (const [name, n] of Object.entries(sizes)) {
    at[name] = size;
    size += up64(Math.max(n, 1));
  }
  return { at, size };
}

export function stepLayout(cfg: TextConfig, w: TextWeights): StepLayout {
  const D = cfg.hiddenSize;
  const n = cfg.altupNumInputs;
  const LP = cfg.numLayers * cfg.hiddenSizePerLayerInput;
  const I = Math.max(...cfg.intermediateSize);
  const qd = cfg.numHeads * cfg.headDim;
  const kvd = cfg.numKvHeads * cfg.headDim;
  const stride = up64(D);
  const partials = Math.max(D, ...w.layers.map((l) => (l.downProj.transposed ? transposedScratchElements(l.downProj) : 0)));
  const a = place({ x0: D, ple_raw: LP, per_layer: LP, streams: n * stride, pred: n * stride, an: D, mid: cfg.laurelRank, h: D, u: D, s: D, tmp: D, attn: qd, act: I, f: D, pg_act: cfg.hiddenSizePerLayerInput, hfin: D });
  const b = place({ ple_proj: LP, tmp: (n - 1) * D, q: qd, k: kvd, v: kvd, o: D, gate: I, act: I, partial: partials, f: D, pp: D });
  return { a: a.at, b: b.at, aSize: a.size, bSize: b.size, stride };
}

/** Offsets of one layer's vectors in the packed buffer. */
interface LayerVecs {
  router_norm: number;
  router: number;
  pred_coefs: number;
  corr_coefs: number;
  input_norm: number;
  laurel_norm: number;
  post_attn: number;
  pre_ffn: number;
  post_ffn: number;
  correct_scale: number;
  ppn: number;
  q_norm: number;
  k_norm: number;
}

interface PackedVectors {
  tensor: Tensor;
  layers: LayerVecs[];
  pleNorm: number;
  norm: number;
}

const single = (m: MatrixWeight): Tensor => {
  if (m.parts.length !== 1) throw new Error(`${m.label}: expected one part`);
  return m.parts[0].tensor;
};

/** The f32 vector weights the fused kernels read, in one buffer filled once by buffer copies. */
function packedVectors(ctx: ForwardContext): PackedVectors {
  const { gpu, weights: w } = ctx;
  const copies: Array<{ src: Tensor; at: number }> = [];
  let size = 0;
  const add = (t: Tensor | null): number => {
    const at = size;
    if (t) {
      copies.push({ src: t, at });
      size += t.byteLength / 4;
    }
    return at;
  };
  const layers = w.layers.map(
    (l): LayerVecs => ({
      router_norm: add(l.altupRouterNorm),
      router: add(single(l.altupModalityRouter)),
      pred_coefs: add(single(l.altupPredictionCoefs)),
      corr_coefs: add(single(l.altupCorrectionCoefs)),
      input_norm: add(l.inputLayernorm),
      laurel_norm: add(l.laurelPostNorm),
      post_attn: add(l.postAttentionLayernorm),
      pre_ffn: add(l.preFeedforwardLayernorm),
      post_ffn: add(l.postFeedforwardLayernorm),
      correct_scale: add(l.altupCorrectOutputScale),
      ppn: add(l.postPerLayerInputNorm),
      q_norm: add(l.qNorm),
      k_norm: add(l.kNorm),
    }),
  );
  const pleNorm = add(w.perLayerProjectionNorm);
  const norm = add(w.norm);
  const tensor = ctx.ws.owned(DECODE_VECTORS, 'f32', [size]);
  if (!filled.has(tensor.buffer)) {
    const enc = gpu.device.createCommandEncoder({ label: 'decode.vecs' });
    for (const c of copies) enc.copyBufferToBuffer(c.src.buffer, c.src.offset, tensor.buffer, tensor.offset + 4 * c.at, c.src.byteLength);
    gpu.device.queue.submit([enc.finish()]);
    filled.add(tensor.buffer);
  }
  return { tensor, layers, pleNorm, norm };
}

const filled = new WeakSet<GPUBuffer>();

/** The workspace key of the packed vector weights. */
export const DECODE_VECTORS = 'decode.vecs';

function oneFusedPart(m: MatrixWeight): boolean {
  return !m.transposed && m.parts.length === 1 && matvecFits(m.parts[0].tensor);
}

/** Whether the fused step can run this pass: one token, nothing captured or replaced, shapes the fused kernels take. */
export function fusedStepFits(ctx: ForwardContext, opts: ForwardOptions): boolean {
  const { cfg, weights: w } = ctx;
  if (opts.tokens !== 1 || (opts.capture?.size ?? 0) > 0 || (opts.softRows?.length ?? 0) > 0 || opts.outputUnused) return false;
  if (cfg.altupNumInputs > DECODE_MAX_STREAMS || cfg.altupNumInputs < 2) return false;
  const sameDtype = (ms: MatrixWeight[]) => ms.every((m) => m.dtype === ms[0].dtype);
  const group = (ms: MatrixWeight[]) => ms.every(oneFusedPart) && sameDtype(ms);
  if (!group(w.altupProjections) || !group(w.altupUnembedProjections)) return false;
  return w.layers.every((l, i) => {
    const sparse = cfg.activationSparsity[i] > 0;
    const qkv = [l.qProj, ...(l.kProj && l.vProj ? [l.kProj, l.vProj] : [])];
    const down = l.downProj.transposed ? l.downProj.parts.length === 1 : !sparse || l.downProj.parts.every((p) => matvecFits(p.tensor));
    const ffn = sparse ? oneFusedPart(l.upProj) : group([l.gateProj, l.upProj]);
    const laurel = l.laurelLeft.parts.length === 1 && l.laurelRight.parts.length === 1;
    return group(qkv) && ffn && down && laurel && oneFusedPart(l.perLayerInputGate) && [l.altupModalityRouter, l.altupPredictionCoefs, l.altupCorrectionCoefs].every((m) => m.parts.length === 1 && m.dtype === 'f32');
  });
}

/** The decoder for one token with the fused kernels (fusedStepFits must hold). */
export function fusedStepDispatches(ctx: ForwardContext, opts: ForwardOptions): Dispatch[] {
  const { gpu, cfg, weights: w, ws } = ctx;
  const L = stepLayout(cfg, w);
  const A = ws.owned('decode.a', 'f32', [L.aSize]);
  const B = ws.owned('decode.b', 'f32', [L.bSize]);
  const vecs = packedVectors(ctx);
  const D = cfg.hiddenSize;
  const n = cfg.altupNumInputs;
  const P = cfg.hiddenSizePerLayerInput;
  const LP = cfg.numLayers * P;
  const S = L.stride;
  const va = (name: string, size: number, extra = 0) => tensorView(A, L.a[name] + extra, [size]);
  const vb = (name: string, size: number, extra = 0) => tensorView(B, L.b[name] + extra, [size]);
  const inA = (name: string, extra = 0): ArenaRef => ({ inB: false, offset: L.a[name] + extra });
  const inB = (name: string, extra = 0): ArenaRef => ({ inB: true, offset: L.b[name] + extra });
  const row = (entry: Parameters<typeof decodeRow>[1]['entry'], params: DecodeRowParams, extra: Partial<Parameters<typeof decodeRow>[1]> = {}) =>
    decodeRow(gpu, { entry, a: A, b: B, vecs: vecs.tensor, params: { ...common, ...params }, ...extra });
  const common: DecodeRowParams = {
    dim: D,
    n_streams: n,
    active_idx: cfg.altupActiveIdx,
    stride: S,
    eps: cfg.rmsNormEps,
    rank: cfg.laurelRank,
    streams: L.a.streams,
    pred: L.a.pred,
    an: L.a.an,
    mid: L.a.mid,
    h: L.a.h,
    u: L.a.u,
    s: L.a.s,
    tmp: L.a.tmp,
    pp_b: L.b.pp,
    o_b: L.b.o,
  };
  const out: Dispatch[] = [];

  // §3.1-3.3: embeddings, per-layer inputs, AltUp streams
  const ids = ws.at('ids', [1]);
  const x0 = va('x0', D);
  for (const p of w.embedTokens.parts) out.push(embedGather(gpu, { table: p.tensor, ids, out: x0, rowStart: p.row0, rows: p.rows, cols: D, scale: Math.sqrt(D), count: 1 }));
  for (const m of ctx.mmTables) out.push(embedGather(gpu, { table: m.table, ids, out: x0, rowStart: m.rowStart, rows: m.rows, cols: D, scale: 1, count: 1 }));
  const pleIds = ws.at(opts.pleFromIds ? 'ids' : 'ple_ids', [1]);
  const host = ctx.pleRows;
  const pleParts = host ? [{ tensor: host.table, ids: host.ids, row0: 0, rows: host.table.shape[0] }] : w.embedTokensPerLayer.parts.map((p) => ({ ...p, ids: pleIds }));
  for (const p of pleParts) out.push(embedGather(gpu, { table: p.tensor, ids: p.ids, out: va('ple_raw', LP), rowStart: p.row0, rows: p.rows, cols: LP, scale: Math.sqrt(P), count: 1 }));
  out.push(...linearAll(gpu, x0, w.perLayerModelProjection, vb('ple_proj', LP), 1));
  out.push(...group(w.altupProjections.map((m, k): MvSegment => ({ w: single(m), x: inA('x0'), out: inB('tmp', k * D) }))));
  out.push(row('pre_row', { x0: L.a.x0, ple_raw: L.a.ple_raw, per_layer: L.a.per_layer, ple_proj_b: L.b.ple_proj, tmp_b: L.b.tmp, ple_rows: cfg.numLayers, ple_cols: P, v_norm: vecs.pleNorm }));

  for (let l = 0; l < cfg.numLayers; l++) out.push(...layer(l));

  // §3.6: the last layer's per-layer input, unembedding, final norm, LM head, soft-capping
  out.push(row('ple_add', { v_ppn: vecs.layers[cfg.numLayers - 1].ppn }));
  out.push(...group(w.altupUnembedProjections.map((m, k): MvSegment => ({ w: single(m), x: inA('streams', (k + 1) * S), out: inB('tmp', k * D) }))));
  out.push(row('final_row', { tmp_b: L.b.tmp, hfin: L.a.hfin, v_norm: vecs.norm }));
  const logits = ws.at('logits', [1, cfg.vocabSize]);
  out.push(...linearAll(gpu, va('hfin', D), w.embedTokens, logits, 1));
  if (cfg.finalLogitSoftcap !== null) out.push(softcap(gpu, { x: logits, n: cfg.vocabSize, cap: cfg.finalLogitSoftcap }));
  return out;

  /** The products in mv_group dispatches of up to three each. */
  function group(segments: MvSegment[]): Dispatch[] {
    const out: Dispatch[] = [];
    for (let i = 0; i < segments.length; i += 3) out.push(fusedMatvec(gpu, 'mv_group', { a: A, b: B, segments: segments.slice(i, i + 3) }));
    return out;
  }

  function layer(l: number): Dispatch[] {
    const lw: LayerWeights = w.layers[l];
    const v = vecs.layers[l];
    const H = cfg.numHeads;
    const KV = cfg.numKvHeads;
    const hd = cfg.headDim;
    const I = cfg.intermediateSize[l];
    const d: Dispatch[] = [];
    d.push(row('layer_in', { has_prev: l > 0 ? 1 : 0, v_ppn: l > 0 ? vecs.layers[l - 1].ppn : 0, v_router_norm: v.router_norm, v_router: v.router, v_pred_coefs: v.pred_coefs, v_input_norm: v.input_norm }, { w: single(lw.laurelLeft) }));

    // §3.4.4 attention: q/k/v, their norms, RoPE and the KV append, then attention and o_proj
    const cache = ctx.caches[cfg.kvSource[l]];
    if (!cache) throw new Error(`layer ${l}: KV source ${cfg.kvSource[l]} has no cache`);
    const ownKv = Boolean(lw.kProj && lw.vProj && lw.kNorm);
    const qkv: MvSegment[] = [{ w: single(lw.qProj), x: inA('an'), out: inB('q') }];
    if (ownKv) qkv.push({ w: single(lw.kProj as MatrixWeight), x: inA('an'), out: inB('k') }, { w: single(lw.vProj as MatrixWeight), x: inA('an'), out: inB('v') });
    d.push(...group(qkv));
    const theta = cfg.layerTypes[l] === 'full' ? cfg.ropeTheta.full : cfg.ropeTheta.sliding;
    d.push(
      row(
        'qkv_post',
        { n_heads: H, n_kv: KV, head_dim: hd, pos0: opts.pos0, capacity: cache.capacity, has_kv: ownKv ? 1 : 0, q_b: L.b.q, k_b: L.b.k, v_b: L.b.v, v_q_norm: v.q_norm, v_k_norm: v.k_norm },
        { invFreq: ropeInvFreqTensor(gpu, theta, hd), kCache: cache.k, vCache: cache.v },
      ),
    );
    const window = cfg.layerTypes[l] === 'sliding' ? cfg.slidingWindow : 0;
    const args = { q: vb('q', H * hd), kCache: cache.k, vCache: cache.v, out: va('attn', H * hd), rows: 1, nHeads: H, nKV: KV, headDim: hd, pos0: opts.pos0, capacity: cache.capacity, window, scale: 1 };
    const scratchShape = attentionScratchShape(args);
    d.push(...attention(gpu, { ...args, scratch: ws.owned(`attention.scratch.${scratchShape.join('x')}`, 'f32', scratchShape) }));
    d.push(...linearAll(gpu, va('attn', H * hd), lw.oProj, vb('o', D), 1));
    d.push(row('post_attn', { v_laurel_norm: v.laurel_norm, v_post_attn: v.post_attn, v_pre_ffn: v.pre_ffn }, { w: single(lw.laurelRight) }));

    // §3.4.6 FFN: act = gelu(gate) * up, then down_proj
    const sparse = cfg.activationSparsity[l] > 0;
    let fParams: DecodeRowParams;
    if (!sparse) {
      d.push(fusedMatvec(gpu, 'mv_pair', { a: A, b: B, segments: [lw.gateProj, lw.upProj].map((m) => ({ w: single(m), x: inA('u'), out: inB('act') })) }));
      fParams = downFrom(d, lw.downProj, vb('act', I), false);
    } else {
      d.push(...linearAll(gpu, va('u', D), lw.gateProj, vb('gate', I), 1));
      d.push(gaussianTopK(gpu, { x: vb('gate', I), rows: 1, cols: I, z: sparsityZ(cfg.activationSparsity[l]) }));
      d.push(fusedMatvec(gpu, 'mv_masked', { a: A, b: B, segments: [{ w: single(lw.upProj), x: inA('u'), out: inA('act') }], maskOffset: L.b.gate }));
      fParams = downFrom(d, lw.downProj, va('act', I), true);
    }
    d.push(row('layer_out', { ...fParams, v_router_norm: v.router_norm, v_router: v.router, v_corr_coefs: v.corr_coefs, v_post_ffn: v.post_ffn, v_correct_scale: v.correct_scale, has_scale: cfg.altupCorrectScale ? 1 : 0 }));

    // §3.4.8 per-layer input: gelu(gate(s)) * per_layer[l], projected (its norm and add are in the next layer_in)
    d.push(fusedMatvec(gpu, 'mv_group', { a: A, b: B, segments: [{ w: single(lw.perLayerInputGate), x: inA('s'), out: inA('pg_act') }], auxOffset: L.a.per_layer + l * P }));
    d.push(...linearAll(gpu, va('pg_act', P), lw.perLayerProjection, vb('pp', D), 1));
    return d;
  }

  /** down_proj of act (in a when `actInA`), and where layer_out finds its result. */
  function downFrom(d: Dispatch[], down: MatrixWeight, act: Tensor, actInA: boolean): DecodeRowParams {
    if (down.transposed) {
      // The gather's split partials stay in b: layer_out adds them up (the gather_sum step).
      const [gather, sum] = linearTransposed(gpu, { x: act, w: down.parts[0].tensor, out: vb('f', D), rows: 1, scratch: vb('partial', transposedScratchElements(down)) });
      d.push(gather);
      return { f: L.b.partial, f_parts: Number((sum.params as Record<string, number>).splits) };
    }
    if (actInA) {
      d.push(...down.parts.map((p) => linearSkipZeroBlocks(gpu, { x: act, w: p.tensor, out: vb('f', D), outOffset: p.row0 })));
      return { f: L.b.f, f_in_b: 1 };
    }
    d.push(...linearAll(gpu, act, down, va('f', D), 1));
    return { f: L.a.f };
  }
}

