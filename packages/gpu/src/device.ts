import { describeCapabilities, LIMIT_NAMES, type Capabilities } from './capabilities.ts';
import { DeviceLostError, G3nError, GpuUnavailableError } from './errors.ts';
import { PipelineCache } from './pipeline-cache.ts';
import { Profiler } from './profiler.ts';

export interface GpuOptions {
  /** The `GPU` object: `navigator.gpu` in a page or Worker (the default), `create([])` from the `webgpu` package in Node. */
  gpu?: GPU;
  powerPreference?: GPUPowerPreference;
  /** Request these optional features when the adapter has them (default: shader-f16, subgroups, timestamp-query). */
  features?: GPUFeatureName[];
  /** Artificial caps on limits, below the adapter's: used to exercise the tensor-splitting paths. */
  capLimits?: Partial<Capabilities['limits']>;
  /** Time every dispatch with timestamp queries (needs `timestamp-query`). Off by default. */
  profile?: boolean;
}

/** Everything the kernels need: the device, its capability report and the pipeline cache. */
export interface Gpu {
  device: GPUDevice;
  caps: Capabilities;
  pipelines: PipelineCache;
  profiler: Profiler | null;
  /** The GPU object the adapter came from, held so that it lives as long as the device (Dawn in Node tears its instance down when it is collected). */
  instance: GPU;
  /** Resolves when the device is lost (never for an explicit destroy()). */
  lost: Promise<DeviceLostError>;
  /** GPU buffers made through this device: still alive (created, not destroyed) and created in all. */
  buffers: BufferCount;
  destroy(): void;
}

export interface BufferCount {
  live: number;
  created: number;
  /** Bytes of the live buffers, and the most they came to (reset it to liveBytes to measure one piece of work). */
  liveBytes: number;
  peakBytes: number;
}

/**
 * Count the buffers `device` makes and destroys, and their bytes (tests check that a workload returns to
 * its baseline, leaking none; the benchmark reports a run's peak GPU bytes): createBuffer is wrapped
 * once, and each buffer's destroy() counts once.
 */
function countBuffers(device: GPUDevice): BufferCount {
  const count: BufferCount = { live: 0, created: 0, liveBytes: 0, peakBytes: 0 };
  const create = device.createBuffer.bind(device);
  device.createBuffer = (descriptor: GPUBufferDescriptor): GPUBuffer => {
    const buffer = create(descriptor);
    const size = descriptor.size;
    count.live++;
    count.created++;
    count.liveBytes += size;
    count.peakBytes = Math.max(count.peakBytes, count.liveBytes);
    const destroy = buffer.destroy.bind(buffer);
    let alive = true;
    buffer.destroy = () => {
      if (alive) (count.live--, (count.liveBytes -= size));
      alive = false;
      destroy();
    };
    return buffer;
  };
  return count;
}

const DEFAULT_FEATURES: GPUFeatureName[] = ['shader-f16', 'subgroups', 'timestamp-query'];

/** One way to get a device in a page, in a Worker and in Node. */
export async function requestGpu(options: GpuOptions = {}): Promise<Gpu> {
  const gpu = options.gpu ?? (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) {
    throw new GpuUnavailableError(
      'NO_WEBGPU',
      'WebGPU is not available in this browser. Use a current Chrome, Edge or Safari 26+, or Firefox with WebGPU enabled.',
    );
  }
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) {
    throw new GpuUnavailableError('NO_ADAPTER', 'No WebGPU adapter was found: the GPU may be blocklisted or disabled.');
  }
  const wanted = options.features ?? DEFAULT_FEATURES;
  const requiredFeatures = wanted.filter((f) => adapter.features.has(f));
  if (!options.profile) {
    const i = requiredFeatures.indexOf('timestamp-query');
    if (i >= 0) requiredFeatures.splice(i, 1);
  }
  const requiredLimits: Record<string, number> = {};
  for (const name of LIMIT_NAMES) {
    if (name.startsWith('max')) requiredLimits[name] = adapter.limits[name] as number;
  }
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'g3n' });
  } catch (e) {
    throw new G3nError('NO_ADAPTER', `Could not create a WebGPU device: ${(e as Error).message}`);
  }
  const caps = describeCapabilities(adapter.info, device, options.capLimits);
  let destroyed = false;
  const lost = device.lost.then((info) => new DeviceLostError(destroyed ? 'destroyed' : info.reason ?? 'unknown', info.message));
  return {
    device,
    instance: gpu,
    caps,
    pipelines: new PipelineCache(device),
    profiler: options.profile && caps.features.timestampQuery ? new Profiler(device) : null,
    lost,
    buffers: countBuffers(device),
    destroy() {
      destroyed = true;
      device.destroy();
    },
  };
}
