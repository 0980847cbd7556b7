/**
 * One Gemma 3n decoder layer (spec §3.4), as the spec's steps: AltUp predict, input norm and LAuReL,
 * self-attention, the attention residual, the FFN with optional activation sparsity, AltUp correct
 * and the per-layer input injection. Each step is a function from the layer's scope to its dispatches,
 * reading and writing named workspace buffers; shapes are given for T tokens, D = hidden size,
 * n = AltUp streams, I = this layer's FFN width, P = per-layer input size, H / KV heads of hd.
 */
import type { Dispatch, Gpu, Tensor } from '@g3n/gpu';
import {
  add,
  addInplace,
  altupAddRest,
  altupCorrect,
  altupPredict,
  attention,
  attentionScratchShape,
  gaussianTopK,
  geglu,
  kvAppend,
  linearMaskedRows,
  linearSkipZeroBlocks,
  matvecFits,
  mul,
  rmsNorm,
  rope,
  sparsityZ,
  tanhInplace,
} from '@g3n/kernels';
import type { TextConfig } from './config.ts';
import { captureCopy, linearAll, transposedScratchElements, type ForwardContext, type ForwardOptions } from './context.ts';
import type { MatrixWeight } from './gpu-weights.ts';
import type { LayerWeights } from './text-weights.ts';
import { view, type TextBuffer, type Workspace } from './workspace.ts';

/** The AltUp streams as the altup kernels take them: n views of [T, D], `stride` elements apart. */
interface Streams {
  tensor: Tensor;
  streams: number;
  tokens: number;
  dim: number;
  stride: number;
}

/** What every step of layer `l` reads, unpacked once from the forward context. */
interface LayerScope {
  gpu: Gpu;
  cfg: TextConfig;
  ws: Workspace;
  opts: ForwardOptions;
  ctx: ForwardContext;
  l: number;
  w: LayerWeights;
  T: number;
  D: number;
  eps: number;
  /** The AltUp streams X [n, T, D], updated in place by the layer. */
  streams: Streams;
  /** The predicted streams [n, T, D] (same stride). */
  pred: Tensor;
  /** pred[active] [T, D]: the stream the layer computes on (`a` in the spec). */
  predActive: Tensor;
  /** A workspace buffer viewed as `shape`. */
  at(name: TextBuffer, ...shape: number[]): Tensor;
}

function layerScope(ctx: ForwardContext, opts: ForwardOptions, l: number): LayerScope {
  const { gpu, cfg, ws } = ctx;
  const T = opts.tokens;
  const D = cfg.hiddenSize;
  const S = ws.streamStride;
  const pred = ws.raw('pred');
  return {
    gpu,
    cfg,
    ws,
    opts,
    ctx,
    l,
    w: ctx.weights.layers[l],
    T,
    D,
    eps: cfg.rmsNormEps,
    streams: { tensor: ws.raw('streams'), streams: cfg.altupNumInputs, tokens: T, dim: D, stride: S },
    pred,
    predActive: view(pred, cfg.altupActiveIdx * S, [T, D]),
    at: (name, ...shape) => ws.at(name, shape),
  };
}

/** One Gemma 3n decoder layer over T tokens; the AltUp streams are updated in place. */
export function decoderLayer(ctx: ForwardContext, opts: ForwardOptions, l: number): Dispatch[] {
  const s = layerScope(ctx, opts, l);
  return [
    ...altupPredictStep(s), // streams [n, T, D] -> pred [n, T, D]
    ...laurelStep(s), // pred[active] [T, D] -> an [T, D], lau [T, D]
    ...selfAttention(s), // an [T, D] -> att [T, D]; K/V appended to the cache
    ...attentionResidual(s), // (pred[active] + att + lau) / sqrt(2) -> h [T, D]
    ...feedForward(s), // h [T, D] += norm(down(gelu(gate) * up)), gate/up [T, I]
    ...altupCorrectStep(s), // pred [n, T, D], h [T, D] -> streams [n, T, D]
    ...perLayerInputStep(s), // streams[k != active] [T, D] += norm(proj(gelu(gate) * ple_l))
  ];
}

/** Router modalities of a stream: tanh(router(norm(x) / D)) -> 'router' [T, n] (rn [T, D] as scratch). */
function routerModalities(s: LayerScope, x: Tensor): Dispatch[] {
  const { gpu, w, T, D, eps } = s;
  const n = s.cfg.altupNumInputs;
  const rn = s.at('rn', T, D);
  const router = s.at('router', T, n);
  return [
    rmsNorm(gpu, { x, out: rn, weight: w.altupRouterNorm, rows: T, cols: D, eps, scale: 1 / D }), // [T, D]
    ...linearAll(gpu, rn, w.altupModalityRouter, router, T), // [T, n]
    tanhInplace(gpu, router, T * n),
  ];
}

/** §3.4.1 AltUp predict: 16 coefficients per token from the active stream, pred = X + C X. */
function altupPredictStep(s: LayerScope): Dispatch[] {
  const { gpu, w, T, streams, pred } = s;
  const n = s.cfg.altupNumInputs;
  const router = s.at('router', T, n);
  const coefs = s.at('coefs', T, n * n);
  return [
    ...routerModalities(s, view(streams.tensor, s.cfg.altupActiveIdx * streams.stride, [T, s.D])), // router [T, n]
    ...linearAll(gpu, router, w.altupPredictionCoefs, coefs, T), // [T, n * n]
    altupPredict(gpu, { streams, coefs, pred }), // [n, T, D]
  ];
}

/** §3.4.2-3 input norm and LAuReL: an = norm(a), lau = an + norm(right(left(an))). */
function laurelStep(s: LayerScope): Dispatch[] {
  const { gpu, w, T, D, eps } = s;
  const an = s.at('an', T, D);
  const lau = s.at('lau', T, D);
  const mid = s.at('laurel_mid', T, s.cfg.laurelRank);
  const right = s.at('tmp', T, D);
  return [
    rmsNorm(gpu, { x: s.predActive, out: an, weight: w.inputLayernorm, rows: T, cols: D, eps }), // [T, D]
    ...linearAll(gpu, an, w.laurelLeft, mid, T), // [T, rank]
    ...linearAll(gpu, mid, w.laurelRight, right, T), // [T, D]
    rmsNorm(gpu, { x: right, out: lau, weight: w.laurelPostNorm, rows: T, cols: D, eps }), // [T, D]
    addInplace(gpu, lau, an),
  ];
}

/**
 * §3.4.4 / §3.5 attention on an: q/k norms per head, RoPE at absolute positions, K/V appended to this
 * layer's cache (KV-sharing layers read their source's), att = norm(o_proj(attention)).
 */
function selfAttention(s: LayerScope): Dispatch[] {
  const { gpu, cfg, ws, w, l, T, D, eps, opts } = s;
  const H = cfg.numHeads;
  const KV = cfg.numKvHeads;
  const hd = cfg.headDim;
  const an = s.at('an', T, D);
  const q = s.at('q', T, H, hd);
  const theta = cfg.layerTypes[l] === 'full' ? cfg.ropeTheta.full : cfg.ropeTheta.sliding;
  const out: Dispatch[] = [
    ...linearAll(gpu, an, w.qProj, q, T), // [T, H, hd]
    rmsNorm(gpu, { x: q, out: q, weight: w.qNorm, rows: T * H, cols: hd, eps }),
    rope(gpu, { x: q, rows: T, heads: H, headDim: hd, theta, pos0: opts.pos0 }),
  ];
  const cache = s.ctx.caches[cfg.kvSource[l]];
  if (!cache) throw new Error(`layer ${l}: KV source ${cfg.kvSource[l]} has no cache`);
  if (w.kProj && w.vProj && w.kNorm) {
    const k = s.at('k', T, KV, hd);
    const v = s.at('v', T, KV, hd);
    out.push(
      ...linearAll(gpu, an, w.kProj, k, T), // [T, KV, hd]
      rmsNorm(gpu, { x: k, out: k, weight: w.kNorm, rows: T * KV, cols: hd, eps }),
      rope(gpu, { x: k, rows: T, heads: KV, headDim: hd, theta, pos0: opts.pos0 }),
      ...linearAll(gpu, an, w.vProj, v, T), // [T, KV, hd]
      rmsNorm(gpu, { x: v, out: v, weight: null, rows: T * KV, cols: hd, eps }),
      kvAppend(gpu, { k, v, kCache: cache.k, vCache: cache.v, rows: T, nKV: KV, headDim: hd, pos0: opts.pos0, capacity: cache.capacity }),
    );
  }
  const attn = s.at('attn', T, H * hd);
  const window = cfg.layerTypes[l] === 'sliding' ? cfg.slidingWindow : 0;
  const args = { q, kCache: cache.k, vCache: cache.v, out: attn, rows: T, nHeads: H, nKV: KV, headDim: hd, pos0: opts.pos0, capacity: cache.capacity, window, scale: 1 };
  // Decode splits the keys over workgroups; its partials live in one workspace buffer per shape, shared by the layers.
  const scratchShape = attentionScratchShape(args);
  const scratch = T === 1 ? ws.owned(`attention.scratch.${scratchShape.join('x')}`, 'f32', scratchShape) : undefined;
  const o = s.at('o', T, D);
  const att = s.at('att', T, D);
  out.push(
    ...attention(gpu, { ...args, scratch }), // [T, H * hd]
    ...linearAll(gpu, attn, w.oProj, o, T), // [T, D]
    ...captureCopy(gpu, opts, `layers.${l}.attn_out`, o, T * D),
    rmsNorm(gpu, { x: o, out: att, weight: w.postAttentionLayernorm, rows: T, cols: D, eps }), // [T, D]
  );
  return out;
}

/** §3.4.5 h = (a + att + lau) / sqrt(2). */
function attentionResidual(s: LayerScope): Dispatch[] {
  const { gpu, T, D } = s;
  const h = s.at('h', T, D);
  return [add(gpu, s.predActive, s.at('att', T, D), h, Math.SQRT1_2), addInplace(gpu, h, s.at('lau', T, D), Math.SQRT1_2)];
}

/** Whether every row part of W runs as a one-token matrix-vector product (which the sparse variants need). */
function matvecParts(m: MatrixWeight): boolean {
  return m.parts.every((p) => matvecFits(p.tensor));
}

/**
 * §3.4.6 FFN with optional Gaussian top-k sparsity of the gate: h += norm(down(gelu(gate) * up)).
 * One token through a sparse layer reads only the up_proj rows where the gate survived top-k
 * (gelu(0) = 0: bit-identical) and, with down_proj stored transposed (text-weights.ts), only its rows
 * of the non-zero activations; a down_proj left in the standard layout skips the all-zero 32-column
 * blocks of the activation instead.
 */
function feedForward(s: LayerScope): Dispatch[] {
  const { gpu, cfg, ws, w, l, T, D, eps, opts } = s;
  const I = cfg.intermediateSize[l];
  const h = s.at('h', T, D);
  const u = s.at('u', T, D);
  const gate = s.at('gate', T, I);
  const up = s.at('up', T, I);
  const act = s.at('act', T, I);
  const f = s.at('f', T, D);
  const ffn = s.at('ffn', T, D);
  const sparsity = cfg.activationSparsity[l];
  const sparseToken = sparsity > 0 && T === 1;
  const out: Dispatch[] = [
    rmsNorm(gpu, { x: h, out: u, weight: w.preFeedforwardLayernorm, rows: T, cols: D, eps }), // [T, D]
    ...linearAll(gpu, u, w.gateProj, gate, T), // [T, I]
  ];
  if (sparsity > 0) out.push(gaussianTopK(gpu, { x: gate, rows: T, cols: I, z: sparsityZ(sparsity) }));
  out.push(...captureCopy(gpu, opts, `layers.${l}.mlp_gate`, gate, T * I));
  if (sparseToken && matvecParts(w.upProj)) out.push(...w.upProj.parts.map((p) => linearMaskedRows(gpu, { x: u, w: p.tensor, out: up, mask: gate, outOffset: p.row0 })));
  else out.push(...linearAll(gpu, u, w.upProj, up, T)); // [T, I]
  out.push(geglu(gpu, { gate, up, out: act, rows: T, cols: I })); // [T, I]
  const down = w.downProj;
  if (down.transposed) {
    const elements = transposedScratchElements(down);
    const scratch = T === 1 ? ws.owned(`linear_t.scratch.${elements}`, 'f32', [elements]) : undefined;
    out.push(...linearAll(gpu, act, down, f, T, scratch));
  } else if (sparseToken && matvecParts(down)) out.push(...down.parts.map((p) => linearSkipZeroBlocks(gpu, { x: act, w: p.tensor, out: f, outOffset: p.row0 })));
  else out.push(...linearAll(gpu, act, down, f, T)); // [T, D]
  out.push(
    ...captureCopy(gpu, opts, `layers.${l}.mlp_out`, f, T * D),
    rmsNorm(gpu, { x: f, out: ffn, weight: w.postFeedforwardLayernorm, rows: T, cols: D, eps }), // [T, D]
    addInplace(gpu, h, ffn),
  );
  return out;
}

/** §3.4.7 AltUp correct: router on the layer output, streams = pred + (cc + 1) * (h - pred[active]). */
function altupCorrectStep(s: LayerScope): Dispatch[] {
  const { gpu, w, T, D } = s;
  const n = s.cfg.altupNumInputs;
  const h = s.at('h', T, D);
  const cc = s.at('cc', T, n);
  return [
    ...routerModalities(s, h), // router [T, n]
    ...linearAll(gpu, s.at('router', T, n), w.altupCorrectionCoefs, cc, T), // [T, n]
    altupCorrect(gpu, { pred: s.pred, act: h, cc, out: s.streams, active: s.cfg.altupActiveIdx }), // [n, T, D]
  ];
}

/** §3.4.8 per-layer input injection into every stream but the active one. */
function perLayerInputStep(s: LayerScope): Dispatch[] {
  const { gpu, cfg, w, l, T, D, eps, streams } = s;
  const P = cfg.hiddenSizePerLayerInput;
  const LP = cfg.numLayers * P;
  const first = view(streams.tensor, cfg.altupActiveIdx * streams.stride, [T, D]);
  const scaled = s.at('s', T, D);
  const pg = s.at('pg', T, P);
  const pgAct = s.at('pg_act', T, P);
  const pp = s.at('pp', T, D);
  const ppn = s.at('ppn', T, D);
  const out: Dispatch[] = [];
  if (cfg.altupCorrectScale) out.push(mul(gpu, first, w.altupCorrectOutputScale, scaled)); // [T, D]
  out.push(
    ...linearAll(gpu, cfg.altupCorrectScale ? scaled : first, w.perLayerInputGate, pg, T), // [T, P]
    geglu(gpu, { gate: pg, up: s.at('per_layer', T, LP), out: pgAct, rows: T, cols: P, upStride: LP, upOffset: l * P }), // [T, P]
    ...linearAll(gpu, pgAct, w.perLayerProjection, pp, T), // [T, D]
    rmsNorm(gpu, { x: pp, out: ppn, weight: w.postPerLayerInputNorm, rows: T, cols: D, eps }), // [T, D]
    altupAddRest(gpu, { streams, v: ppn, active: cfg.altupActiveIdx }),
  );
  return out;
}
