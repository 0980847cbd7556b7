import { createTensor, type Gpu, type Tensor } from '@g3n/gpu';
import type { TextConfig } from './config.ts';
import { StageWorkspace, streamStride, workspaceBytes, type WorkspaceDecl } from './stage-workspace.ts';

export { streamStride, view } from './stage-workspace.ts';

/** What a text workspace is sized for: tokens per pass and rows of logits. */
export interface TextSizes {
  tokens: number;
  logitRows: number;
}

type Shape = (c: TextConfig, n: TextSizes) => number[];
const TD: Shape = (c, n) => [n.tokens, c.hiddenSize];
const TLP: Shape = (c, n) => [n.tokens, c.numLayers * c.hiddenSizePerLayerInput];
const TI: Shape = (c, n) => [n.tokens, Math.max(...c.intermediateSize)];
const TP: Shape = (c, n) => [n.tokens, c.hiddenSizePerLayerInput];
const streams: Shape = (c, n) => [c.altupNumInputs * streamStride(n.tokens, c.hiddenSize)];

/**
 * The text decoder's activations (spec §3), T tokens: the shape sheet of forward.ts and layer.ts.
 * `tmp` is the one scratch [T, D] shared by steps that use it and are done with it before the next
 * step reads it: the AltUp projections (§3.3), LAuReL's right product (§3.4.3), the unembedding (§3.6).
 */
export const TEXT_WORKSPACE = {
  // embeddings and per-layer inputs (§3.1-3.2)
  ids: { dtype: 'u32', shape: (_c, n) => [n.tokens] },
  ple_ids: { dtype: 'u32', shape: (_c, n) => [n.tokens] },
  x0: { shape: TD },
  ple_raw: { shape: TLP },
  ple_proj: { shape: TLP },
  ple_scaled: { shape: TLP },
  ple_normed: { shape: TLP },
  per_layer: { shape: TLP },
  // AltUp streams and their predictions, [n, T, D] with 256-byte-aligned stream strides (§3.3)
  streams: { shape: streams },
  pred: { shape: streams },
  tmp: { shape: TD },
  // one decoder layer (§3.4-3.5)
  rn: { shape: TD },
  router: { shape: (c, n) => [n.tokens, c.altupNumInputs] },
  coefs: { shape: (c, n) => [n.tokens, c.altupNumInputs * c.altupNumInputs] },
  an: { shape: TD },
  laurel_mid: { shape: (c, n) => [n.tokens, c.laurelRank] },
  lau: { shape: TD },
  q: { shape: (c, n) => [n.tokens, c.numHeads, c.headDim] },
  k: { shape: (c, n) => [n.tokens, c.numKvHeads, c.headDim] },
  v: { shape: (c, n) => [n.tokens, c.numKvHeads, c.headDim] },
  attn: { shape: (c, n) => [n.tokens, c.numHeads * c.headDim] },
  o: { shape: TD },
  att: { shape: TD },
  h: { shape: TD },
  u: { shape: TD },
  gate: { shape: TI },
  up: { shape: TI },
  act: { shape: TI },
  f: { shape: TD },
  ffn: { shape: TD },
  cc: { shape: (c, n) => [n.tokens, c.altupNumInputs] },
  s: { shape: TD },
  pg: { shape: TP },
  pg_act: { shape: TP },
  pp: { shape: TD },
  ppn: { shape: TD },
  // after the last layer (§3.6)
  fin: { shape: TD },
  fin2: { shape: TD },
  hfin: { shape: TD },
  h_last: { shape: (c) => [c.hiddenSize] },
  logits: { shape: (c, n) => [n.logitRows, c.vocabSize] },
} satisfies WorkspaceDecl<TextConfig, TextSizes>;

export type TextBuffer = keyof typeof TEXT_WORKSPACE;

/** Bytes of a text workspace for `tokens` tokens and `logitRows` rows of logits. */
export function textWorkspaceBytes(cfg: TextConfig, tokens: number, logitRows: number): number {
  return workspaceBytes(TEXT_WORKSPACE, cfg, { tokens, logitRows });
}

/** The text decoder's workspace for passes of up to `maxTokens` tokens. */
export class Workspace extends StageWorkspace<TextConfig, TextSizes, typeof TEXT_WORKSPACE> {
  /** Elements per AltUp stream in 'streams' and 'pred'. */
  readonly streamStride: number;

  constructor(gpu: Gpu, cfg: TextConfig, readonly maxTokens: number, readonly logitRows: number) {
    super(gpu, TEXT_WORKSPACE, cfg, { tokens: maxTokens, logitRows });
    this.streamStride = streamStride(maxTokens, cfg.hiddenSize);
  }
}

/** K and V ring buffers of one KV-owning layer: [nKV, capacity, headDim] each. */
export interface KvCache {
  k: Tensor;
  v: Tensor;
  capacity: number;
}

export function createKvCache(gpu: Gpu, layer: number, cfg: TextConfig, capacity: number): KvCache {
  const shape = [cfg.numKvHeads, capacity, cfg.headDim];
  return { k: createTensor(gpu, `kv.${layer}.k`, 'f32', shape), v: createTensor(gpu, `kv.${layer}.v`, 'f32', shape), capacity };
}
