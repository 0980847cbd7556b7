import { createTensor, Plan, readBytes, runOnce, submitPlans, G3nError, type Dispatch, type Gpu, type Tensor } from '@g3n/gpu';
import { embedGather, rmsNorm, SAMPLE_SCRATCH_WORDS } from '@g3n/kernels';
import type { ModelConfig, TextConfig } from './config.ts';
import { ContextOverflowError } from './errors.ts';
import { captureElements, forwardDispatches, linearAll, type ForwardContext } from './forward.ts';
import { DECODE_VECTORS } from './decode-step.ts';
import { storageDtype, type WeightFormat } from './gpu-weights.ts';
import { HostPle, type PlePlacement, type PleRowSource } from './ple-host.ts';
import { destroyTextWeights, loadTextWeights, type MultimodalHardWeights, type TensorBlockReader, type TensorExists, type TensorReader, type TextWeights } from './text-weights.ts';
import { samplerDispatches, samplerParams, TokenReadback, type SamplingOptions } from './sampling.ts';
import { SoftTokenPlacement, type SoftTokens } from './soft-tokens.ts';
import { assertFiniteLogits, StageCheck } from './stage-check.ts';
import { textWeightTable, type WeightSpec } from './weight-table.ts';
import { createKvCache, Workspace, type KvCache } from './workspace.ts';

export { ContextOverflowError } from './errors.ts';
export type { SoftTokens } from './soft-tokens.ts';

export interface PrefillOptions {
  /** Encoder outputs for the prompt's image / audio placeholders, in prompt order (see SoftTokens). */
  softTokens?: readonly SoftTokens[];
}

export interface TextModelOptions {
  /** Weight storage on the GPU (default: the checkpoint's own float type). */
  format?: WeightFormat;
  /** Longest sequence (prompt + generated) the caches hold (default: min(max_position_embeddings, 4096)). */
  maxContext?: number;
  /** Tokens per prefill pass; longer prompts are prefilled in chunks (default 128). */
  maxChunk?: number;
  /**
   * Debugging: read back every stage output of every step and name the first layer with a non-finite
   * output in the NUMERIC error (slow). Without it non-finite logits still raise NUMERIC, naming the step.
   */
  checkNumerics?: boolean;
  /**
   * Run the KV-sharing layers of a prefill for the last prompt row only (default true; see
   * `ForwardOptions.fullPrefill`). Off: every row through every layer (the same logits and caches).
   */
  fastPrefill?: boolean;
  /**
   * Whether one-token passes run the fused decode step (decode-step.ts: about 12 dispatches per layer);
   * false keeps the unfused kernels (tests compare the two). Default true.
   */
  fusedDecode?: boolean;
  /**
   * Where the PLE table lives (default 'gpu'): 'host' keeps it off the GPU and writes the rows each
   * pass needs from `pleSource` into a small staging tensor (see ple-host.ts); the same kernels read
   * them, so results are bit for bit those of 'gpu'. 'auto' is resolved by loadTextModel; here it means 'gpu'.
   */
  ple?: PlePlacement;
  /** The table's rows as stored, for `ple: 'host'` (loadTextModel makes one from the weights). */
  pleSource?: PleRowSource;
}

/** The context and prefill chunk a model of `c` is built with (TextModelOptions.maxContext / maxChunk). */
function textSizes(c: TextConfig, options: TextModelOptions): { maxContext: number; maxChunk: number } {
  const maxContext = Math.min(options.maxContext ?? Math.min(c.maxPositionEmbeddings, 4096), c.maxPositionEmbeddings);
  return { maxContext, maxChunk: Math.min(options.maxChunk ?? 128, maxContext) };
}

/** The host PLE staging of a model loaded with `ple: 'host'`, its dtype from the stored rows and the load format. */
async function hostPleFor(gpu: Gpu, config: ModelConfig, options: TextModelOptions): Promise<HostPle> {
  const source = options.pleSource;
  if (!source) throw new G3nError('BAD_INPUT', "ple: 'host' needs a pleSource (the PLE table's rows as stored)");
  const spec = textWeightTable(config).find((s) => s.slot?.in === 'model' && s.slot.field === 'embedTokensPerLayer');
  if (!spec) throw new G3nError('BAD_INPUT', 'the weight table has no PLE table');
  const cols = spec.shape[1];
  const first = await source.readRows([0]);
  const dtype = storageDtype(options.format ?? 'auto', first.dtype, cols, spec.quantizable);
  return new HostPle(gpu, source, dtype, cols, textSizes(config.text, options).maxChunk);
}

/** How a prompt's last chunk ends: its logits read back (every row's with allLogits) or a token sampled on the GPU. */
type PromptEnd = { kind: 'logits'; allLogits: boolean; capture: readonly string[] } | { kind: 'sample'; sampling: SamplingOptions; step: number };

interface PromptResult {
  logits: Float32Array | null;
  captures: Map<string, Float32Array>;
  token: number;
}

type DecodeMode = 'logits' | 'greedy' | 'sample';

interface DecodePlan {
  plan: Plan;
  /** Indices of the sampler's dispatches in the plan. */
  sampler: number[];
}

/**
 * The Gemma 3n text decoder on the GPU: prefill of a prompt, then single-token decode steps that
 * replay one recorded plan (nothing is allocated per token).
 */
export class Gemma3nTextModel {
  readonly cfg: TextConfig;
  readonly maxContext: number;
  readonly maxChunk: number;
  /** Whether prefill runs the KV-sharing layers for the last row only (TextModelOptions.fastPrefill). */
  fastPrefill: boolean;
  /** Whether one-token passes run the fused decode step (TextModelOptions.fusedDecode); decode plans recorded before a change keep theirs. */
  fusedDecode: boolean;
  /** Tokens already in the KV cache. */
  position = 0;
  /** Buffers, caches and weights of the prefill path (read by the stage runners in stages.ts). */
  readonly ctx: ForwardContext;
  private readonly decodeWs: Workspace;
  private logitsStaging: GPUBuffer | null = null;
  private readonly mmTensors: Tensor[];
  /** The recorded one-token plans, by mode ('logits' for decode, 'greedy' / 'sample' for decodeSample). */
  private readonly decodePlans = new Map<DecodeMode, DecodePlan>();
  private readonly sampleScratch: Tensor;
  /** Reads each sampled token back (4 bytes per token). */
  readonly tokenReadback: TokenReadback;
  /** Stage captures of the one-token plans (checkNumerics only). */
  private readonly decodeCheck: StageCheck | null;
  /** Decode steps since the last prefill, to name a step in a NUMERIC error. */
  private decodeSteps = 0;
  /** With `ple: 'host'`: the PLE staging tensors and their row source; null with the table on the GPU. */
  readonly hostPle: HostPle | null;
  /** The token sampled last (prefillSample / decodeSample): the input of the next decodeSample, whose PLE row the host writes. */
  private lastSampled = -1;

  private constructor(
    readonly gpu: Gpu,
    readonly config: ModelConfig,
    readonly weights: TextWeights,
    options: TextModelOptions,
    hostPle: HostPle | null = null,
  ) {
    const c = config.text;
    this.cfg = c;
    ({ maxContext: this.maxContext, maxChunk: this.maxChunk } = textSizes(c, options));
    this.hostPle = hostPle;
    this.fastPrefill = options.fastPrefill ?? true;
    this.fusedDecode = options.fusedDecode ?? true;
    const caches: Array<KvCache | null> = c.kvSource.map((src, l) => {
      if (src !== l) return null;
      const cap = c.layerTypes[l] === 'full' ? this.maxContext : c.slidingWindow + this.maxChunk - 1;
      return createKvCache(gpu, l, c, cap);
    });
    this.mmTensors = [];
    const ws = new Workspace(gpu, c, this.maxChunk, this.maxChunk);
    this.ctx = { gpu, cfg: c, weights, ws, caches, mmTables: [], pleRows: hostPle && { table: hostPle.prefill, ids: hostPle.localIds } };
    this.decodeWs = new Workspace(gpu, c, 1, 1);
    this.sampleScratch = createTensor(gpu, 'sample.scratch', 'u32', [SAMPLE_SCRATCH_WORDS]);
    this.tokenReadback = new TokenReadback(gpu, this.decodeWs.raw('ids'));
    this.decodeCheck = options.checkNumerics ? new StageCheck(gpu, c, 1, true) : null;
  }

  static async load(gpu: Gpu, config: ModelConfig, read: TensorReader, has: TensorExists, options: TextModelOptions = {}, blocks?: TensorBlockReader): Promise<Gemma3nTextModel> {
    const host = options.ple === 'host' ? await hostPleFor(gpu, config, options) : null;
    // With the PLE table on the host, the loader keeps only its description (no parts on the GPU).
    const offGpu = host ? (s: WeightSpec) => (s.slot?.in === 'model' && s.slot.field === 'embedTokensPerLayer' ? { label: s.name, rows: s.shape[0], cols: s.shape[1], dtype: host.dtype, parts: [] } : null) : undefined;
    let weights: TextWeights;
    try {
      weights = await loadTextWeights(gpu, config, read, has, options.format ?? 'auto', blocks, offGpu);
    } catch (e) {
      host?.destroy();
      throw e;
    }
    const model = new Gemma3nTextModel(gpu, config, weights, options, host);
    await model.buildMultimodalTables();
    return model;
  }

  /** Precompute embed_vision / embed_audio hard-token embeddings (they depend only on the id). */
  private async buildMultimodalTables(): Promise<void> {
    const D = this.cfg.hiddenSize;
    const specs: Array<[MultimodalHardWeights | null, ModelConfig['vision']]> = [
      [this.weights.embedVision, this.config.vision],
      [this.weights.embedAudio, this.config.audio],
    ];
    for (const [w, c] of specs) {
      if (!w || !c) continue;
      const rows = c.vocabSize;
      const ids = createTensor(this.gpu, 'mm.ids', 'u32', [rows]);
      this.gpu.device.queue.writeBuffer(ids.buffer, 0, Uint32Array.from({ length: rows }, (_, i) => i));
      const raw = createTensor(this.gpu, 'mm.raw', 'f32', [rows, c.hiddenSize]);
      const normed = createTensor(this.gpu, 'mm.normed', 'f32', [rows, c.hiddenSize]);
      const projected = createTensor(this.gpu, 'mm.projected', 'f32', [rows, D]);
      const table = createTensor(this.gpu, `mm.table@${c.vocabOffset}`, 'f32', [rows, D]);
      const ds: Dispatch[] = [
        ...w.embedding.parts.map((p) => embedGather(this.gpu, { table: p.tensor, ids, out: raw, rowStart: p.row0, rows: p.rows, cols: c.hiddenSize, scale: 1, count: rows })),
        rmsNorm(this.gpu, { x: raw, out: normed, weight: w.hardEmbeddingNorm, rows, cols: c.hiddenSize, eps: c.rmsNormEps }),
        ...linearAll(this.gpu, normed, w.embeddingProjection, projected, rows),
        rmsNorm(this.gpu, { x: projected, out: table, weight: null, rows, cols: D, eps: c.rmsNormEps }),
      ];
      await runOnce(this.gpu, 'mm.hard_table', ds);
      for (const t of [ids, raw, normed, projected]) t.buffer.destroy();
      this.mmTensors.push(table);
      this.ctx.mmTables.push({ table, rowStart: c.vocabOffset, rows });
    }
  }

  /** Write the token ids of a pass (and, with the PLE table on the host, their PLE rows into `pleTarget`). */
  private async writeIds(ws: Workspace, ids: ArrayLike<number>, pleTarget: Tensor | undefined): Promise<void> {
    const c = this.cfg;
    const tok = new Uint32Array(ids.length);
    const ple = new Uint32Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) {
        throw new G3nError('BAD_INPUT', `token id ${id} at position ${i} is outside the vocabulary [0, ${c.vocabSize})`, { position: i, id });
      }
      tok[i] = id;
      ple[i] = id < c.vocabSizePerLayerInput ? id : 0;
    }
    this.gpu.device.queue.writeBuffer(ws.raw('ids').buffer, ws.raw('ids').offset, tok);
    this.gpu.device.queue.writeBuffer(ws.raw('ple_ids').buffer, ws.raw('ple_ids').offset, ple);
    if (this.hostPle && pleTarget) await this.hostPle.write(pleTarget, Array.from(ple));
  }

  /** Drop the cached conversation (or keep its first `keep` tokens, which stay valid in the cache). */
  reset(keep = 0): void {
    this.position = Math.min(keep, this.position);
  }

  /**
   * Run the prompt `ids` after what the cache holds. Returns the logits of the last position, or of
   * every position with `allLogits` ([T * vocab], row-major). `capture` names intermediates (the
   * golden names) to return from the last chunk.
   */
  async prefill(ids: ArrayLike<number>, options: PrefillOptions & { allLogits?: boolean; capture?: string[] } = {}): Promise<{ logits: Float32Array; captures: Map<string, Float32Array> }> {
    const end: PromptEnd = { kind: 'logits', allLogits: options.allLogits ?? false, capture: options.capture ?? [] };
    const { logits, captures } = await this.runPrompt(ids, options.softTokens, end);
    return { logits: logits!, captures };
  }

  /**
   * Prefill `ids` and draw the first generated token on the GPU (from ids below
   * vocab_size_per_layer_input). The token stays on the GPU as the input of the next decodeSample.
   */
  async prefillSample(ids: ArrayLike<number>, sampling: SamplingOptions, step = 0, options: PrefillOptions = {}): Promise<number> {
    const { token } = await this.runPrompt(ids, options.softTokens, { kind: 'sample', sampling, step });
    this.lastSampled = token;
    return token;
  }

  /** Where the soft tokens go, checked against the prompt's placeholders before any GPU work. */
  private placeSoftTokens(ids: ArrayLike<number>, softTokens: readonly SoftTokens[] | undefined): SoftTokenPlacement | null {
    if (!softTokens || softTokens.length === 0) return null;
    return SoftTokenPlacement.resolve(this.gpu, ids, softTokens, this.cfg.hiddenSize);
  }

  /**
   * The prompt in chunks of at most maxChunk tokens, one plan each; the last chunk ends as `end` says
   * (a sampled token needs one more position of room). A chunk before the last is read back only for
   * every row's logits.
   */
  private async runPrompt(ids: ArrayLike<number>, softTokens: readonly SoftTokens[] | undefined, end: PromptEnd): Promise<PromptResult> {
    if (ids.length === 0) throw new G3nError('BAD_INPUT', 'the prompt is empty');
    const needed = this.position + ids.length + (end.kind === 'sample' ? 1 : 0);
    if (needed > this.maxContext) throw new ContextOverflowError(needed, this.maxContext);
    const soft = this.placeSoftTokens(ids, softTokens);
    const V = this.cfg.vocabSize;
    const allLogits = end.kind === 'logits' && end.allLogits;
    const result: PromptResult = { logits: end.kind === 'logits' ? new Float32Array((allLogits ? ids.length : 1) * V) : null, captures: new Map(), token: -1 };
    try {
      for (let start = 0; start < ids.length; start += this.maxChunk) {
        const chunk = Array.prototype.slice.call(ids, start, start + this.maxChunk) as number[];
        const T = chunk.length;
        const isLast = start + T >= ids.length;
        const capture = new Map<string, Tensor>();
        if (isLast && end.kind === 'logits') for (const name of end.capture) capture.set(name, createTensor(this.gpu, `capture.${name}`, 'f32', [captureElements(this.cfg, name, T)]));
        const check = this.decodeCheck ? new StageCheck(this.gpu, this.cfg, T, allLogits) : null;
        let plan: Plan | null = null;
        try {
          await this.writeIds(this.ctx.ws, chunk, this.hostPle?.prefill);
          const used = check ? check.captures(capture) : capture;
          const pass = { tokens: T, pos0: this.position, allLogits, capture: used, softRows: soft?.chunk(start, T), fullPrefill: !this.fastPrefill, outputUnused: !isLast && !allLogits, unfused: !this.fusedDecode };
          const dispatches = forwardDispatches(this.ctx, pass);
          const sample = isLast && end.kind === 'sample' ? end : null;
          if (sample) dispatches.push(...samplerDispatches(this.gpu, this.ctx.ws.at('logits', [1, V]), this.cfg.vocabSizePerLayerInput, this.decodeWs.raw('ids'), this.sampleScratch, sample.sampling, sample.step));
          const built = (plan = await Plan.build(this.gpu, 'prefill', dispatches));
          const run = async () => {
            if (sample) result.token = await this.tokenReadback.submit([built], 'prefill');
            else submitPlans(this.gpu, [built]);
          };
          await (check ? check.around('prefill', used, run) : run());
          this.decodeSteps = 0;
          if (result.logits && (allLogits || isLast)) {
            const rows = allLogits ? T : 1;
            const bytes = new Float32Array(await readBytes(this.gpu, this.ctx.ws.raw('logits').buffer, 0, rows * V * 4));
            assertFiniteLogits(bytes, 'prefill');
            result.logits.set(bytes, allLogits ? start * V : 0);
          }
          for (const [name, t] of capture) result.captures.set(name, new Float32Array(await readBytes(this.gpu, t.buffer, 0, t.byteLength)));
        } finally {
          plan?.destroy();
          check?.destroy();
          for (const t of capture.values()) t.buffer.destroy();
        }
        this.position += T;
      }
    } finally {
      soft?.destroy();
    }
    return result;
  }

  /**
   * Feed the token sampled last (already on the GPU) and draw the next one: one recorded plan,
   * one submit and a 4-byte readback per token.
   */
  async decodeSample(sampling: SamplingOptions, step: number): Promise<number> {
    const { plan, sampler } = await this.decodePlan(sampling.temperature === 0 ? 'greedy' : 'sample', sampling, step);
    for (const i of sampler) plan.setParams(i, samplerParams(sampling, step));
    if (this.hostPle) {
      // The token sampled last is on the GPU and was read back (4 bytes): its PLE row goes into the plan's staging row before the one submit.
      if (this.lastSampled < 0) throw new G3nError('BAD_INPUT', 'decodeSample follows prefillSample or decodeSample');
      await this.hostPle.write(this.hostPle.decode, [this.lastSampled]);
    }
    const where = `decode step ${step}`;
    const submit = () => this.tokenReadback.submit([plan], where);
    const token = await (this.decodeCheck ? this.decodeCheck.around(where, this.decodeCheck.tensors, submit) : submit());
    this.position += 1;
    this.lastSampled = token;
    return token;
  }

  /** Feed one token and return the logits of the next position. */
  async decode(id: number): Promise<Float32Array> {
    const { plan } = await this.decodePlan('logits');
    const bytes = this.cfg.vocabSize * 4;
    this.logitsStaging ??= this.gpu.device.createBuffer({ label: 'logits.readback', size: bytes, usage: 0x1 | 0x8 }); // MAP_READ | COPY_DST
    const staging = this.logitsStaging;
    await this.writeIds(this.decodeWs, [id], this.hostPle?.decode);
    submitPlans(this.gpu, [plan], { copies: [{ src: this.decodeWs.raw('logits').buffer, srcOffset: 0, dst: staging, dstOffset: 0, size: bytes }] });
    this.position += 1;
    await staging.mapAsync(0x1);
    const logits = new Float32Array(staging.getMappedRange().slice(0));
    staging.unmap();
    const where = `decode step ${++this.decodeSteps}`;
    await this.decodeCheck?.assertFinite(where, this.decodeCheck.tensors);
    assertFiniteLogits(logits, where);
    return logits;
  }

  /** The one-token pass's context: the decode workspace and, with the PLE table on the host, its one staging row. */
  private decodeContext(): ForwardContext {
    const host = this.hostPle;
    return { ...this.ctx, ws: this.decodeWs, pleRows: host && { table: host.decode, ids: host.localIds } };
  }

  /**
   * The one-token plan of a decode mode, recorded on first use (with the sampler's dispatches for a
   * sampling mode, their indices kept to update their params per step), positioned at the next token.
   * A sampled token is already in the decode ids on the GPU, so its PLE row is gathered by the id itself.
   */
  private async decodePlan(mode: DecodeMode, sampling?: SamplingOptions, step = 0): Promise<DecodePlan> {
    if (this.position + 1 > this.maxContext) throw new ContextOverflowError(this.position + 1, this.maxContext);
    let entry = this.decodePlans.get(mode);
    if (!entry) {
      const forward = forwardDispatches(this.decodeContext(), { tokens: 1, pos0: 0, allLogits: true, pleFromIds: mode !== 'logits', capture: this.decodeCheck?.captures(), unfused: !this.fusedDecode });
      const logits = this.decodeWs.at('logits', [1, this.cfg.vocabSize]);
      const sampler = sampling ? samplerDispatches(this.gpu, logits, this.cfg.vocabSizePerLayerInput, this.decodeWs.raw('ids'), this.sampleScratch, sampling, step) : [];
      entry = { plan: await Plan.build(this.gpu, `decode.${mode}`, [...forward, ...sampler]), sampler: sampler.map((_, i) => forward.length + i) };
      this.decodePlans.set(mode, entry);
    }
    entry.plan.setShared({ pos0: this.position });
    return entry;
  }

  /**
   * The copy of the f32 vector weights (norms, AltUp router and coefficients) that the fused decode step
   * reads, once a fused decode plan exists (decode-step.ts); null before.
   */
  get decodeVectors(): Tensor | null {
    return this.decodeWs.peek(DECODE_VECTORS) ?? null;
  }

  /** GPU memory held by weights, caches and buffers. */
  memoryBytes(): number {
    let s = this.ctx.ws.bytes() + this.decodeWs.bytes() + (this.hostPle?.bytes() ?? 0);
    for (const c of this.ctx.caches) if (c) s += c.k.byteLength + c.v.byteLength;
    return s;
  }

  destroy(): void {
    this.logitsStaging?.destroy();
    for (const e of this.decodePlans.values()) e.plan.destroy();
    this.sampleScratch.buffer.destroy();
    this.tokenReadback.destroy();
    this.decodeCheck?.destroy();
    this.ctx.ws.destroy();
    this.decodeWs.destroy();
    this.hostPle?.destroy();
    for (const c of this.ctx.caches) if (c) (c.k.buffer.destroy(), c.v.buffer.destroy());
    for (const t of this.mmTensors) t.buffer.destroy();
    destroyTextWeights(this.weights);
  }
}

