/**
 * Module Worker smoke path: requests its own WebGPU device and runs one elementwise kernel, to
 * show that the kernels run off the main thread. Exposed with Comlink.
 */
import { createTensor, readF32, requestGpu, runOnce, tensorFromF32 } from '@g3n/gpu';
import { expose } from 'comlink';
import { add } from '../../packages/kernels/src/elementwise.ts';

export interface AddResult {
  out: number[];
  adapter: string;
}

const api = {
  /** out = a + b on the GPU, with a device requested inside this Worker. */
  async add(a: number[], b: number[]): Promise<AddResult> {
    const gpu = await requestGpu();
    try {
      const ta = tensorFromF32(gpu, 'worker.a', [a.length], new Float32Array(a));
      const tb = tensorFromF32(gpu, 'worker.b', [b.length], new Float32Array(b));
      const out = createTensor(gpu, 'worker.out', 'f32', [a.length]);
      await runOnce(gpu, 'worker.add', [add(gpu, ta, tb, out)]);
      const { vendor, architecture, description } = gpu.caps.adapter;
      return { out: Array.from(await readF32(gpu, out)), adapter: description || `${vendor} ${architecture}`.trim() };
    } finally {
      gpu.destroy();
    }
  },
};

export type GpuWorkerApi = typeof api;

expose(api);
