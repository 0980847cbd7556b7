/**
 * What the onnxruntime-web harness (ort-run.ts) and its vision cases (ort-vision.ts) share: the module's
 * type, one side-by-side call, and sessions and tensors on g3n's own GPUDevice.
 */
import type * as OrtApi from 'onnxruntime-web/webgpu';
import type { Gpu, Tensor } from '@g3n/gpu';

export type OrtModule = typeof OrtApi;

export interface OrtCall {
  run(): Promise<unknown>;
  /** onnxruntime-web's output, g3n's output (same shape). */
  outputs(): Promise<[Float32Array, Float32Array]>;
  release(): Promise<void>;
}

/** An f32 g3n tensor as an onnxruntime-web GPU tensor of `dims` (no copy). */
export function gpuTensor(ort: OrtModule, t: Tensor, dims: number[]): OrtApi.Tensor {
  return ort.Tensor.fromGpuBuffer(t.buffer as OrtApi.Tensor.GpuBufferType, { dataType: 'float32', dims });
}

/** An onnxruntime-web session of `model` on the WebGPU execution provider over g3n's device. */
export function session(ort: OrtModule, gpu: Gpu, model: Uint8Array): Promise<OrtApi.InferenceSession> {
  return ort.InferenceSession.create(model, { executionProviders: [{ name: 'webgpu', device: gpu.device }] });
}
