/**
 * What the adapter can do, asked once and consulted everywhere instead of assuming.
 * `limits` are the limits the device was created with (the adapter's real maxima, or smaller
 * caps requested for testing the splitting paths).
 */
export interface Capabilities {
  adapter: { vendor: string; architecture: string; device: string; description: string };
  features: { shaderF16: boolean; subgroups: boolean; timestampQuery: boolean };
  limits: {
    maxStorageBufferBindingSize: number;
    maxBufferSize: number;
    maxComputeWorkgroupsPerDimension: number;
    maxComputeInvocationsPerWorkgroup: number;
    maxComputeWorkgroupSizeX: number;
    maxComputeWorkgroupStorageSize: number;
    maxStorageBuffersPerShaderStage: number;
    minStorageBufferOffsetAlignment: number;
    minUniformBufferOffsetAlignment: number;
  };
  /** True for software rasterizers (SwiftShader, WARP, llvmpipe): speed figures are not meaningful. */
  isSoftware: boolean;
}

export const LIMIT_NAMES = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupsPerDimension',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupStorageSize',
  'maxStorageBuffersPerShaderStage',
  'minStorageBufferOffsetAlignment',
  'minUniformBufferOffsetAlignment',
] as const;

export function describeCapabilities(
  adapterInfo: Partial<GPUAdapterInfo> | undefined,
  device: GPUDevice,
  caps?: Partial<Capabilities['limits']>,
): Capabilities {
  const info = {
    vendor: adapterInfo?.vendor ?? '',
    architecture: adapterInfo?.architecture ?? '',
    device: adapterInfo?.device ?? '',
    description: adapterInfo?.description ?? '',
  };
  const limits = {} as Capabilities['limits'];
  for (const name of LIMIT_NAMES) {
    const real = device.limits[name] as number;
    const cap = caps?.[name];
    limits[name] = cap !== undefined && name.startsWith('max') ? Math.min(real, cap) : real;
  }
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  return {
    adapter: info,
    features: {
      shaderF16: device.features.has('shader-f16'),
      subgroups: device.features.has('subgroups'),
      timestampQuery: device.features.has('timestamp-query'),
    },
    limits,
    isSoftware: /swiftshader|llvmpipe|lavapipe|warp|software/.test(text),
  };
}
