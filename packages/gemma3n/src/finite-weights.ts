import { createTensor, readU32, runOnce, writeTensor, type Dispatch, type Gpu, type Tensor } from '@g3n/gpu';
import { checkFinite, FINITE_NONE } from '@g3n/kernels';
import { NumericError } from './errors.ts';
import type { MatrixWeight } from './gpu-weights.ts';

/** The float values of a weight on the GPU: a vector itself, a matrix's parts, or their f16 scales when quantized. */
function floatTensors(w: MatrixWeight | Tensor): Tensor[] {
  const tensors = 'parts' in w ? w.parts.map((p) => p.tensor) : [w];
  return tensors.flatMap((t) => (t.dtype === 'q8' || t.dtype === 'q4' ? (t.scales ? [t.scales] : []) : t.dtype === 'u32' || t.dtype === 'i32' ? [] : [t]));
}

/**
 * Refuse weights that hold NaN or infinity, checked on the GPU where they were uploaded: one dispatch
 * per tensor (bit-level, see shaders/finite.wgsl) into one flag word, then a 4-byte read naming the
 * first damaged tensor by its checkpoint name. The weights themselves are never read back.
 */
export async function assertFiniteWeights(gpu: Gpu, weights: Iterable<MatrixWeight | Tensor>): Promise<void> {
  const names: string[] = [];
  const dispatches: Dispatch[] = [];
  const flag = createTensor(gpu, 'weights.nonfinite', 'u32', [1]);
  try {
    writeTensor(gpu, flag, new Uint32Array([FINITE_NONE]));
    for (const w of weights) {
      const tag = names.push(w.label) - 1;
      for (const x of floatTensors(w)) dispatches.push(checkFinite(gpu, { x, flag, tag }));
    }
    if (dispatches.length === 0) return;
    await runOnce(gpu, 'weights.check_finite', dispatches);
    const first = (await readU32(gpu, flag))[0];
    if (first !== FINITE_NONE) throw NumericError.inWeight(names[first]);
  } finally {
    flag.buffer.destroy();
  }
}
