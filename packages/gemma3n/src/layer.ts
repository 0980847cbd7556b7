import type { Dispatch } from '@g3n/gpu';
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
import { captureCopy, linearAll, transposedScratchElements, type ForwardContext, type ForwardOptions } from './forward.ts';
import type { MatrixWeight } from './gpu-weights.ts';
import { view } from './workspace.ts';

/** Whether every row part of W runs as a one-token matrix-vector product (which the sparse variants need). */
function matvecParts(m: MatrixWeight): boolean {
  return m.parts.every((p) => matvecFits(p.tensor));
}

/** One Gemma 3n decoder layer (spec §3.4) over T tokens; the AltUp streams are updated in place. */
export function decoderLayer(ctx: ForwardContext, opts: ForwardOptions, l: number): Dispatch[] {
  const { gpu, cfg, ws } = ctx;
  const w = ctx.weights.layers[l];
  const T = opts.tokens;
  const D = cfg.hiddenSize;
  const n = cfg.altupNumInputs;
  const S = ws.streamStride;
  const P = cfg.hiddenSizePerLayerInput;
  const L = cfg.numLayers;
  const I = cfg.intermediateSize[l];
  const hd = cfg.headDim;
  const eps = cfg.rmsNormEps;
  const active = cfg.altupActiveIdx;
  const out: Dispatch[] = [];
  const streams = { tensor: ws.raw('streams'), streams: n, tokens: T, dim: D, stride: S };
  const pred = ws.raw('pred');
  const predActive = view(pred, active * S, [T, D]);
  const at = (name: string, ...shape: number[]) => ws.at(name, shape);

  // 1. AltUp predict: router modalities from the active stream, 16 coefficients per token
  const rn = at('rn', T, D);
  const router = at('router', T, n);
  const coefs = at('coefs', T, n * n);
  out.push(rmsNorm(gpu, { x: view(streams.tensor, active * S, [T, D]), out: rn, weight: w.altupRouterNorm, rows: T, cols: D, eps, scale: 1 / D }));
  out.push(...linearAll(gpu, rn, w.altupModalityRouter, router, T));
  out.push(tanhInplace(gpu, router, T * n));
  out.push(...linearAll(gpu, router, w.altupPredictionCoefs, coefs, T));
  out.push(altupPredict(gpu, { streams, coefs, pred }));

  // 2-3. input norm and LAuReL: lau = an + norm(right(left(an)))
  const an = at('an', T, D);
  const lau = at('lau', T, D);
  const mid = at('laurel_mid', T, cfg.laurelRank);
  out.push(rmsNorm(gpu, { x: predActive, out: an, weight: w.inputLayernorm, rows: T, cols: D, eps }));
  out.push(...linearAll(gpu, an, w.laurelLeft, mid, T));
  const lauPre = at('tmp', T, D);
  out.push(...linearAll(gpu, mid, w.laurelRight, lauPre, T));
  out.push(rmsNorm(gpu, { x: lauPre, out: lau, weight: w.laurelPostNorm, rows: T, cols: D, eps }));
  out.push(addInplace(gpu, lau, an));

  // 4. attention (§3.5): q/k norms per head, RoPE at absolute positions, KV from this layer or its source
  const q = at('q', T, cfg.numHeads, hd);
  const theta = cfg.layerTypes[l] === 'full' ? cfg.ropeTheta.full : cfg.ropeTheta.sliding;
  out.push(...linearAll(gpu, an, w.qProj, q, T));
  out.push(rmsNorm(gpu, { x: q, out: q, weight: w.qNorm, rows: T * cfg.numHeads, cols: hd, eps }));
  out.push(rope(gpu, { x: q, rows: T, heads: cfg.numHeads, headDim: hd, theta, pos0: opts.pos0 }));
  const cache = ctx.caches[cfg.kvSource[l]];
  if (!cache) throw new Error(`layer ${l}: KV source ${cfg.kvSource[l]} has no cache`);
  if (w.kProj && w.vProj && w.kNorm) {
    const k = at('k', T, cfg.numKvHeads, hd);
    const v = at('v', T, cfg.numKvHeads, hd);
    out.push(...linearAll(gpu, an, w.kProj, k, T));
    out.push(rmsNorm(gpu, { x: k, out: k, weight: w.kNorm, rows: T * cfg.numKvHeads, cols: hd, eps }));
    out.push(rope(gpu, { x: k, rows: T, heads: cfg.numKvHeads, headDim: hd, theta, pos0: opts.pos0 }));
    out.push(...linearAll(gpu, an, w.vProj, v, T));
    out.push(rmsNorm(gpu, { x: v, out: v, weight: null, rows: T * cfg.numKvHeads, cols: hd, eps }));
    out.push(kvAppend(gpu, { k, v, kCache: cache.k, vCache: cache.v, rows: T, nKV: cfg.numKvHeads, headDim: hd, pos0: opts.pos0, capacity: cache.capacity }));
  }
  const attn = at('attn', T, cfg.numHeads * hd);
  const window = cfg.layerTypes[l] === 'sliding' ? cfg.slidingWindow : 0;
  const attnArgs = { q, kCache: cache.k, vCache: cache.v, out: attn, rows: T, nHeads: cfg.numHeads, nKV: cfg.numKvHeads, headDim: hd, pos0: opts.pos0, capacity: cache.capacity, window, scale: 1 };
  // Decode splits the keys over workgroups; its partial results live in one workspace buffer per shape.
  const scratchShape = attentionScratchShape(attnArgs);
  const scratch = T === 1 ? ws.owned(`attention.scratch.${scratchShape.join('x')}`, 'f32', scratchShape) : undefined;
  out.push(
    ...[attention(gpu, { ...attnArgs, scratch })].flat(),
  );
  const o = at('o', T, D);
  out.push(...linearAll(gpu, attn, w.oProj, o, T));
  out.push(...captureCopy(gpu, opts, `layers.${l}.attn_out`, o, T * D));
  const att = at('att', T, D);
  out.push(rmsNorm(gpu, { x: o, out: att, weight: w.postAttentionLayernorm, rows: T, cols: D, eps }));

  // 5. h = (a + att + lau) / sqrt(2)
  const h = at('h', T, D);
  out.push(add(gpu, predActive, att, h, Math.SQRT1_2));
  out.push(addInplace(gpu, h, lau, Math.SQRT1_2));

  // 6. FFN with optional Gaussian top-k sparsity of the gate: o = h + norm(down(gelu(gate) * up)).
  // One token through a sparse layer reads only the up_proj rows where the gate survived top-k
  // (gelu(0) = 0: bit-identical) and, with down_proj stored transposed (text-weights.ts), only its rows
  // of the non-zero activations; a down_proj left in the standard layout skips the all-zero 32-column
  // blocks of the activation instead.
  const u = at('u', T, D);
  const gate = at('gate', T, I);
  const up = at('up', T, I);
  const act = at('act', T, I);
  const f = at('f', T, D);
  const ffn = at('ffn', T, D);
  out.push(rmsNorm(gpu, { x: h, out: u, weight: w.preFeedforwardLayernorm, rows: T, cols: D, eps }));
  out.push(...linearAll(gpu, u, w.gateProj, gate, T));
  const sparsity = cfg.activationSparsity[l];
  const sparseToken = sparsity > 0 && T === 1;
  if (sparsity > 0) out.push(gaussianTopK(gpu, { x: gate, rows: T, cols: I, z: sparsityZ(sparsity) }));
  out.push(...captureCopy(gpu, opts, `layers.${l}.mlp_gate`, gate, T * I));
  if (sparseToken && matvecParts(w.upProj)) out.push(...w.upProj.parts.map((p) => linearMaskedRows(gpu, { x: u, w: p.tensor, out: up, mask: gate, outOffset: p.row0 })));
  else out.push(...linearAll(gpu, u, w.upProj, up, T));
  out.push(geglu(gpu, { gate, up, out: act, rows: T, cols: I }));
  const down = w.downProj;
  if (down.transposed) {
    const elements = transposedScratchElements(down);
    const scratch = T === 1 ? ws.owned(`linear_t.scratch.${elements}`, 'f32', [elements]) : undefined;
    out.push(...linearAll(gpu, act, down, f, T, scratch));
  } else if (sparseToken && matvecParts(down)) out.push(...down.parts.map((p) => linearSkipZeroBlocks(gpu, { x: act, w: p.tensor, out: f, outOffset: p.row0 })));
  else out.push(...linearAll(gpu, act, down, f, T));
  out.push(...captureCopy(gpu, opts, `layers.${l}.mlp_out`, f, T * D));
  out.push(rmsNorm(gpu, { x: f, out: ffn, weight: w.postFeedforwardLayernorm, rows: T, cols: D, eps }));
  out.push(addInplace(gpu, h, ffn));

  // 7. AltUp correct: router on the layer output, streams = pred + (cc + 1) * (o - pred[active])
  const cc = at('cc', T, n);
  out.push(rmsNorm(gpu, { x: h, out: rn, weight: w.altupRouterNorm, rows: T, cols: D, eps, scale: 1 / D }));
  out.push(...linearAll(gpu, rn, w.altupModalityRouter, router, T));
  out.push(tanhInplace(gpu, router, T * n));
  out.push(...linearAll(gpu, router, w.altupCorrectionCoefs, cc, T));
  out.push(altupCorrect(gpu, { pred, act: h, cc, out: streams, active }));

  // 8. per-layer input injection into every stream but the active one
  const s = at('s', T, D);
  const pg = at('pg', T, P);
  const pgAct = at('pg_act', T, P);
  const pp = at('pp', T, D);
  const ppn = at('ppn', T, D);
  const first = view(streams.tensor, active * S, [T, D]);
  if (cfg.altupCorrectScale) out.push(mul(gpu, first, w.altupCorrectOutputScale, s));
  out.push(...linearAll(gpu, cfg.altupCorrectScale ? s : first, w.perLayerInputGate, pg, T));
  out.push(geglu(gpu, { gate: pg, up: at('per_layer', T, L * P), out: pgAct, rows: T, cols: P, upStride: L * P, upOffset: l * P }));
  out.push(...linearAll(gpu, pgAct, w.perLayerProjection, pp, T));
  out.push(rmsNorm(gpu, { x: pp, out: ppn, weight: w.postPerLayerInputNorm, rows: T, cols: D, eps }));
  out.push(altupAddRest(gpu, { streams, v: ppn, active }));
  return out;
}
