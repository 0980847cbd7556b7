/**
 * The package's Node entry (`@g3n/engine/node`): a WebGPU device from Dawn, the `webgpu` package
 * (install it beside the engine), for `new InThreadEngine({ requestGpu: () => requestNodeGpu() })`.
 * Without a GPU, Dawn runs on SwiftShader where Chromium's copy is installed.
 */
import type { InThreadEngineOptions } from '@g3n/engine';
import type { GpuOptions } from '@g3n/gpu';
import { requestNodeGpu as requestDawnGpu } from '@g3n/gpu/node';

/** The device an InThreadEngine runs on. */
export type EngineGpu = Awaited<ReturnType<NonNullable<InThreadEngineOptions['requestGpu']>>>;

/** Adapter and device options; the `GPU` object is Dawn's. */
export type NodeGpuOptions = Omit<GpuOptions, 'gpu'>;

export function requestNodeGpu(options: NodeGpuOptions = {}): Promise<EngineGpu> {
  return requestDawnGpu(options);
}
