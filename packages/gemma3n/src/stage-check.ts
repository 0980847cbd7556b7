/**
 * The checkNumerics debug option: every stage output of a forward pass (by the golden names) is
 * copied out and read back after the pass, and the first one holding NaN or infinity is named. This
 * reads back every intermediate of every step, so it is for finding where a fault starts, not for
 * serving; without it a non-finite value is still caught in the logits (sampler flag, read-back check).
 */
import { createTensor, readBytes, type Gpu, type Tensor } from '@g3n/gpu';
import type { TextConfig } from './config.ts';
import { NumericError } from './errors.ts';
import { captureElements } from './forward.ts';

/** Stage outputs in the order the forward pass computes them. */
export function stageNames(c: TextConfig): string[] {
  const names = ['inputs_embeds', 'per_layer_inputs', 'altup_init'];
  for (let l = 0; l < c.numLayers; l++) names.push(`layers.${l}.attn_out`, `layers.${l}.mlp_gate`, `layers.${l}.mlp_out`, `layers.${l}.output`);
  names.push('final_hidden', 'logits');
  return names;
}

/** Capture tensors for every stage of a pass over `tokens` tokens (logits of every token when allLogits, else of the last). */
export class StageCheck {
  readonly tensors = new Map<string, Tensor>();

  constructor(
    private readonly gpu: Gpu,
    cfg: TextConfig,
    tokens: number,
    allLogits: boolean,
  ) {
    for (const name of stageNames(cfg)) {
      const n = name === 'logits' ? (allLogits ? tokens : 1) * cfg.vocabSize : captureElements(cfg, name, tokens);
      this.tensors.set(name, createTensor(gpu, `check.${name}`, 'f32', [n]));
    }
  }

  /** The capture map of a pass: `user`'s captures, and this check's for the stages `user` does not capture. */
  captures(user: Map<string, Tensor> = new Map()): Map<string, Tensor> {
    const out = new Map(user);
    for (const [name, t] of this.tensors) if (!out.has(name)) out.set(name, t);
    return out;
  }

  /** The first stage (in forward order) whose output in `used` (see captures) holds NaN or infinity, or null. */
  async firstNonFinite(used: Map<string, Tensor>): Promise<string | null> {
    for (const name of this.tensors.keys()) {
      const t = used.get(name)!;
      const values = new Float32Array(await readBytes(this.gpu, t.buffer, t.offset, t.byteLength));
      if (!values.every(Number.isFinite)) return name;
    }
    return null;
  }

  /** Throw a NumericError naming `where` and the first non-finite stage, if there is one. */
  async assertFinite(where: string, used: Map<string, Tensor>): Promise<void> {
    const stage = await this.firstNonFinite(used);
    if (stage) throw NumericError.inLogits(where, stage);
  }

  /** Run a submitted step's read-back; a NUMERIC error it raises (or a non-finite stage after it) names the first non-finite stage. */
  async around<T>(where: string, used: Map<string, Tensor>, step: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await step();
    } catch (e) {
      if (!(e instanceof NumericError)) throw e;
      throw NumericError.inLogits(where, (await this.firstNonFinite(used)) ?? undefined);
    }
    await this.assertFinite(where, used);
    return result;
  }

  destroy(): void {
    for (const t of this.tensors.values()) t.buffer.destroy();
  }
}

/** Throw NUMERIC naming `where` when logits read back to the CPU hold NaN or infinity. */
export function assertFiniteLogits(logits: Float32Array, where: string): void {
  if (!logits.every(Number.isFinite)) throw NumericError.inLogits(where);
}
