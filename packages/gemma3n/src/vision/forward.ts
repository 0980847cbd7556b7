/**
 * The vision tower's forward pass as a flat dispatch list (spec §4.2-4.5), channels-last throughout:
 * a map of h x w pixels and c channels is [h * w, c], so RmsNorm2d is rms_norm over rows and a 1x1
 * conv is `linear`. Recorded against named workspace slots; a dry run (placeholder buffers) measures
 * each slot, the real run binds views of the allocated buffers (see tower.ts).
 */
import { numel, type Dispatch, type Gpu, type Tensor } from '@g3n/gpu';
import { addInplace, avgPool, conv2d, copy, gelu, linear, mul, resizeBilinear, resizeNearest, rmsNorm, samePadding, scale, softmaxRows, transposeWeight } from '@g3n/kernels';
import { UnsupportedConfigError } from '../config.ts';
import type { MqaBlock, UirBlock, VisionConfig } from './config.ts';
import { EMBED_VISION_PREFIX, VISION_PREFIX, type VisionWeights } from './weights.ts';

/** Named f32 buffers: views of `slot` with a given shape (workspace.ts-style arena, sized by a dry run). */
export interface Slots {
  view(slot: string, shape: number[]): Tensor;
}

/** A map in a slot: h x w pixels of c channels, [h * w, c]. */
interface Act {
  slot: string;
  h: number;
  w: number;
  c: number;
}

/** Intermediates a caller may capture, each copied into its own slot `cap:<name>` ([h * w, c] layout). */
export const VISION_CAPTURES = ['vision_tower.stem', 'vision_tower.stage0', 'vision_tower.stage1', 'vision_tower.stage2', 'vision_tower.stage3', 'vision_tower.last_hidden_state'] as const;

export interface VisionRecord {
  dispatches: Dispatch[];
  /** Captured maps: slot and geometry. */
  captures: Map<string, { h: number; w: number; c: number }>;
  /** The soft tokens' slot and shape [tokens, textHidden]. */
  tokens: number;
}

/** Records one image's encoder pass: pixels in slot 'pixels' ([h, w, 3]), soft tokens out in slot 'soft'. */
export function recordVisionTower(gpu: Gpu, vc: VisionConfig, weights: VisionWeights, slots: Slots, height: number, width: number, capture: ReadonlySet<string>): VisionRecord {
  const out: Dispatch[] = [];
  const captures = new Map<string, { h: number; w: number; c: number }>();
  const eps = vc.eps;
  const W = (name: string, prefix = VISION_PREFIX): Tensor => {
    const t = weights.get(`${prefix}${name}`);
    if (!t) throw new Error(`vision weight ${prefix}${name} was not loaded`);
    return t;
  };
  const view = (a: Act) => slots.view(a.slot, [a.h * a.w, a.c]);
  const act = (slot: string, h: number, w: number, c: number): Act => ({ slot, h, w, c });

  /** RmsNorm2d in place (weight as-is), then GELU-tanh when `withGelu` is set. */
  const norm = (a: Act, weight: Tensor, withGelu: boolean) => {
    const t = view(a);
    out.push(rmsNorm(gpu, { x: t, out: t, weight, rows: a.h * a.w, cols: a.c, eps }));
    if (withGelu) out.push(gelu(gpu, { x: t, out: t, n: a.h * a.w * a.c }));
  };
  /** A k x k convolution with TF SAME padding; groups from the weight's shape. */
  const conv = (x: Act, w: Tensor, stride: number, slot: string, bias: Tensor | null = null): Act => {
    const [outC, icg, kh, kw] = w.shape;
    const ph = samePadding(x.h, kh, stride);
    const pw = samePadding(x.w, kw, stride);
    const y = act(slot, ph.out, pw.out, outC);
    const groups = x.c / icg;
    out.push(conv2d(gpu, { x: view(x), w, bias, out: view(y), inH: x.h, inW: x.w, inC: x.c, outC, kh, kw, strideH: stride, strideW: stride, padTop: ph.before, padLeft: pw.before, outH: y.h, outW: y.w, groups }));
    return y;
  };
  /** A 1x1 convolution (linear over the channels of every pixel). */
  const pointwise = (x: Act, w: Tensor, slot: string): Act => {
    const y = act(slot, x.h, x.w, w.shape[0]);
    out.push(linear(gpu, { x: view(x), w, out: view(y), rows: x.h * x.w }));
    return y;
  };
  /** out [rows, n] = x [rows, k] w^T for an f32 activation w [n, k], as a 1x1 convolution over a 1 x rows map. */
  const gemm = (x: Tensor, w: Tensor, y: Tensor, rows: number): Dispatch => {
    const [n, k] = w.shape;
    return conv2d(gpu, { x, w: { ...w, shape: [n, k, 1, 1] }, bias: null, out: y, inH: 1, inW: rows, inC: k, outC: n, kh: 1, kw: 1, strideH: 1, strideW: 1, padTop: 0, padLeft: 0, outH: 1, outW: rows, groups: 1 });
  };
  const keep = (name: string, a: Act) => {
    if (!capture.has(name)) return;
    out.push(copy(gpu, { a: view(a), out: slots.view(`cap:${name}`, [a.h * a.w, a.c]), n: a.h * a.w * a.c }));
    captures.set(name, { h: a.h, w: a.w, c: a.c });
  };

  // Stream in one slot, the spare in the other; a block without residual leaves its output in the spare and they swap.
  let [S, T] = ['x0', 'x1'];
  const stemW = W('conv_stem.conv.weight');
  let x = conv(act('pixels', height, width, stemW.shape[1]), stemW, 2, S, W('conv_stem.conv.bias'));
  norm(x, W('conv_stem.bn.weight'), true);
  keep('vision_tower.stem', x);

  const finish = (x: Act, y: Act, stride: number): Act => {
    if (stride === 1 && x.c === y.c) {
      out.push(addInplace(gpu, view(x), view(y)));
      return x;
    }
    [S, T] = [T, S];
    return y;
  };
  const layerScale = (y: Act, gamma: Tensor): Act => {
    const z = { ...y, slot: T };
    out.push(mul(gpu, view(y), gamma, view(z)));
    return z;
  };

  const uir = (p: string, x: Act, b: UirBlock): Act => {
    let h = x;
    if (b.start) {
      h = conv(x, W(`${p}dw_start.conv.weight`), b.mid ? 1 : b.stride, 'a');
      norm(h, W(`${p}dw_start.bn.weight`), false);
    }
    h = pointwise(h, W(`${p}pw_exp.conv.weight`), 'b');
    norm(h, W(`${p}pw_exp.bn.weight`), true);
    if (b.mid) {
      h = conv(h, W(`${p}dw_mid.conv.weight`), b.stride, 'c');
      norm(h, W(`${p}dw_mid.bn.weight`), true);
    }
    const y = pointwise(h, W(`${p}pw_proj.conv.weight`), 'a');
    norm(y, W(`${p}pw_proj.bn.weight`), false);
    return finish(x, layerScale(y, W(`${p}layer_scale.gamma`)), b.stride);
  };

  const mqa = (p: string, x: Act, b: MqaBlock): Act => {
    const xn = act('a', x.h, x.w, x.c);
    out.push(rmsNorm(gpu, { x: view(x), out: view(xn), weight: W(`${p}norm.weight`), rows: x.h * x.w, cols: x.c, eps }));
    const a = `${p}attn.`;
    const kd = W(`${a}key.proj.weight`).shape[0];
    const vd = W(`${a}value.proj.weight`).shape[0];
    if (vd !== kd) throw new UnsupportedConfigError(`${VISION_PREFIX}${a}value.proj.weight`, vd, `value dim equal to the key dim ${kd}`);
    const q = pointwise(xn, W(`${a}query.proj.weight`), 'b');
    const heads = q.c / kd;
    const kv = ['key', 'value'].map((nm) => {
      let src = xn;
      if (b.kvStride > 1) {
        src = conv(xn, W(`${a}${nm}.down_conv.weight`), b.kvStride, 'c');
        norm(src, W(`${a}${nm}.norm.weight`), false);
      }
      return pointwise(src, W(`${a}${nm}.proj.weight`), nm === 'key' ? 'k' : 'v');
    });
    // Attention as two GEMMs over the (query, head) rows: the heads of a pixel are consecutive rows of
    // q [T * heads, kd], all sharing the one key/value head. scores = q K^T [T * heads, M], softmax of
    // scores / sqrt(kd) per row, o = P V = P (V^T)^T [T * heads, kd], which is [T, heads * kd] with
    // channel = head * kd + d. Both products run on conv2d's 1x1 path (an implicit GEMM whose invocations
    // keep 4 x 4 outputs in registers, with no workgroup memory or barriers): on the software adapter
    // it beat the tiled GEMM (linear) and the flash-style attention kernel on these shapes.
    const M = kv[0].h * kv[0].w;
    const rows = x.h * x.w * heads;
    const scores = slots.view('scores', [rows, M]);
    out.push(gemm(slots.view(q.slot, [rows, kd]), slots.view('k', [M, kd]), scores, rows));
    out.push(softmaxRows(gpu, { x: scores, rows, cols: M, scale: 1 / Math.sqrt(kd) }));
    const vt = slots.view('vt', [kd, M]);
    out.push(...transposeWeight(gpu, slots.view('v', [M, kd]), vt));
    const o = act('c', x.h, x.w, heads * kd);
    out.push(gemm(scores, vt, slots.view(o.slot, [rows, kd]), rows));
    const y = pointwise(o, W(`${a}output.proj.weight`), 'a');
    return finish(x, layerScale(y, W(`${p}layer_scale.gamma`)), 1);
  };

  const feats: Act[] = [];
  vc.stages.forEach((stage, i) => {
    stage.forEach((b, j) => {
      const p = `blocks.${i}.${j}.`;
      if (b.type === 'er') {
        const h = conv(x, W(`${p}conv_exp.weight`), b.stride, 'a');
        norm(h, W(`${p}bn1.weight`), true);
        const y = pointwise(h, W(`${p}conv_pwl.weight`), T);
        norm(y, W(`${p}bn2.weight`), false);
        x = finish(x, y, b.stride);
      } else if (b.type === 'uir') {
        x = uir(p, x, b);
      } else {
        x = mqa(p, x, b);
      }
    });
    keep(`vision_tower.stage${i}`, x);
    if (i === vc.stages.length - 2) {
      // The fusion adapter reads this stage's output after the last stage has run: keep a copy.
      const f = { ...x, slot: 'feat' };
      out.push(copy(gpu, { a: view(x), out: view(f), n: x.h * x.w * x.c }));
      feats.push(f);
    }
  });
  feats.push(x);

  // Multi-scale fusion adapter (spec §4.4): nearest-upsample to the higher resolution, concatenate channels.
  const [hi, lo] = feats;
  const cat = act('a', hi.h, hi.w, hi.c + lo.c);
  for (const [f, offset] of [[hi, 0], [lo, hi.c]] as const) {
    out.push(resizeNearest(gpu, { x: view(f), out: view(cat), inH: f.h, inW: f.w, channels: f.c, outH: cat.h, outW: cat.w, outChannelStride: cat.c, outChannelOffset: offset }));
  }
  const e = pointwise(cat, W('msfa.ffn.pw_exp.conv.weight'), 'b');
  norm(e, W('msfa.ffn.pw_exp.bn.weight'), true);
  let m = pointwise(e, W('msfa.ffn.pw_proj.conv.weight'), 'c');
  norm(m, W('msfa.ffn.pw_proj.bn.weight'), false);
  const R = vc.outputResolution;
  if (m.h !== R || m.w !== R) {
    const pooled = act('a', R, R, m.c);
    if (m.h % R === 0 && m.w % R === 0) {
      out.push(avgPool(gpu, { x: view(m), out: view(pooled), inH: m.h, inW: m.w, channels: m.c, kh: m.h / R, kw: m.w / R }));
    } else {
      out.push(resizeBilinear(gpu, { x: view(m), out: view(pooled), inH: m.h, inW: m.w, channels: m.c, outH: R, outW: R }));
    }
    m = pooled;
  }
  const hidden = act('hidden', R, R, m.c);
  out.push(rmsNorm(gpu, { x: view(m), out: view(hidden), weight: W('msfa.norm.weight'), rows: R * R, cols: m.c, eps }));
  keep('vision_tower.last_hidden_state', hidden);
  if (hidden.c !== vc.hiddenSize) throw new UnsupportedConfigError('vision_config.hidden_size', vc.hiddenSize, `the fusion adapter's output width ${hidden.c}`);

  // Soft tokens (spec §4.5): x * sqrt(hidden) -> RMSNorm(soft_embedding_norm) -> embedding_projection -> scale-free RMSNorm.
  const scaled = act('b', R, R, hidden.c);
  out.push(scale(gpu, view(hidden), view(scaled), Math.sqrt(hidden.c)));
  const normed = act('c', R, R, hidden.c);
  out.push(rmsNorm(gpu, { x: view(scaled), out: view(normed), weight: W('soft_embedding_norm.weight', EMBED_VISION_PREFIX), rows: R * R, cols: hidden.c, eps }));
  const proj = W('embedding_projection.weight', EMBED_VISION_PREFIX);
  const soft = slots.view('soft', [R * R, proj.shape[0]]);
  out.push(linear(gpu, { x: view(normed), w: proj, out: soft, rows: R * R }));
  out.push(rmsNorm(gpu, { x: soft, out: soft, rows: R * R, cols: proj.shape[0], eps }));
  if (numel(soft.shape) !== R * R * vc.textHidden) throw new UnsupportedConfigError('text_config.hidden_size', vc.textHidden, `embedding_projection's output width ${proj.shape[0]}`);
  return { dispatches: out, captures, tokens: R * R };
}
