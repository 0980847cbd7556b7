/**
 * Node entry: a real WebGPU from the `webgpu` package (Dawn). On machines without a GPU, Dawn runs
 * on SwiftShader when VK_ICD_FILENAMES points at its ICD (set here when Chromium's copy exists).
 */
import { existsSync } from 'node:fs';
import { requestGpu, type Gpu, type GpuOptions } from './device.ts';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export async function requestNodeGpu(options: Omit<GpuOptions, 'gpu'> = {}): Promise<Gpu> {
  if (!process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES && existsSync(SWIFTSHADER_ICD) && !process.env.G3N_SYSTEM_VULKAN) {
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  }
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  return requestGpu({ ...options, gpu: create([]) });
}
