import { createTensor, Plan, readBytes, submitPlans, type Dispatch, type Tensor } from '@g3n/gpu';
import { captureElements, finalDispatches, layerDispatches, type ForwardOptions } from './forward.ts';
import type { Gemma3nTextModel } from './model.ts';

/**
 * Stage runners for debugging and stage tests: feed a stage its input (e.g. the golden output of
 * the stage before) and read back any named intermediate, so a failing checkpoint names the first
 * stage that diverges. They use the prefill buffers and leave the model's position unchanged.
 */
async function runStage(
  model: Gemma3nTextModel,
  tokens: number,
  inputs: { streams?: Float32Array; perLayerInputs?: Float32Array },
  capture: string[],
  build: (opts: ForwardOptions) => Dispatch[],
): Promise<Map<string, Float32Array>> {
  const { gpu, ws, cfg } = model.ctx;
  const T = tokens;
  const D = cfg.hiddenSize;
  const queue = gpu.device.queue;
  if (inputs.streams) {
    const st = ws.raw('streams');
    for (let k = 0; k < cfg.altupNumInputs; k++) queue.writeBuffer(st.buffer, st.offset + 4 * k * ws.streamStride, inputs.streams.subarray(k * T * D, (k + 1) * T * D));
  }
  if (inputs.perLayerInputs) {
    const pl = ws.raw('per_layer');
    queue.writeBuffer(pl.buffer, pl.offset, inputs.perLayerInputs);
  }
  const captures = new Map<string, Tensor>();
  const sizes: Record<string, number> = {};
  for (const name of capture) {
    const size = captureElements(cfg, name, T);
    sizes[name] = size;
    captures.set(name, createTensor(gpu, `capture.${name}`, 'f32', [size]));
  }
  const plan = await Plan.build(gpu, 'stage', build({ tokens: T, pos0: 0, allLogits: true, capture: captures }));
  submitPlans(gpu, [plan]);
  const out = new Map<string, Float32Array>();
  for (const [name, t] of captures) {
    out.set(name, new Float32Array(await readBytes(gpu, t.buffer, 0, 4 * sizes[name])));
    t.buffer.destroy();
  }
  plan.destroy();
  return out;
}

/** Run decoder layers [from, to) on given AltUp streams ([n, T, D]) and per-layer inputs ([T, L, P]) at positions 0..T-1. */
export function runLayers(model: Gemma3nTextModel, from: number, to: number, tokens: number, streams: Float32Array, perLayerInputs: Float32Array, capture: string[]) {
  return runStage(model, tokens, { streams, perLayerInputs }, capture, (opts) => layerDispatches(model.ctx, opts, from, to));
}

/** Run the AltUp unembedding, final norm and LM head on given streams ([n, T, D]). */
export function runFinal(model: Gemma3nTextModel, tokens: number, streams: Float32Array, capture: string[]) {
  return runStage(model, tokens, { streams }, capture, (opts) => finalDispatches(model.ctx, opts));
}
