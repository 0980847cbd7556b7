/**
 * Per-token budget counters, by wrapping the device: buffers and bind groups created, queue
 * submits, compute dispatches encoded, and bytes mapped for reading (of the MAP_READ buffers
 * created while the counters are installed). `recording` keeps the bind groups created while it is
 * on (label = kernel key, entries = bound buffer ranges), which is how the weight bytes a recorded
 * decode step reads are read off its plan.
 */
export interface CountSnapshot {
  buffers: number;
  bindGroups: number;
  submits: number;
  dispatches: number;
  readbackBytes: number;
}

export interface RecordedBindGroup {
  label: string;
  entries: Array<{ buffer: GPUBuffer; offset: number; size: number }>;
}

const MAP_READ = 0x1;

export class DeviceCounters {
  readonly counts: CountSnapshot = { buffers: 0, bindGroups: 0, submits: 0, dispatches: 0, readbackBytes: 0 };
  recording: RecordedBindGroup[] | null = null;
  private readonly restore: Array<() => void> = [];

  constructor(private readonly device: GPUDevice) {
    const c = this.counts;
    const createBuffer = device.createBuffer.bind(device);
    const createBindGroup = device.createBindGroup.bind(device);
    const createCommandEncoder = device.createCommandEncoder.bind(device);
    const queue = device.queue;
    const submit = queue.submit.bind(queue);
    device.createBuffer = (d) => {
      c.buffers++;
      const buffer = createBuffer(d);
      if (d.usage & MAP_READ) {
        const map = buffer.mapAsync.bind(buffer);
        buffer.mapAsync = (mode, offset = 0, size) => ((c.readbackBytes += size ?? buffer.size - offset), map(mode, offset, size));
      }
      return buffer;
    };
    device.createBindGroup = (d) => {
      c.bindGroups++;
      this.recording?.push({ label: d.label ?? '', entries: [...d.entries].map(bufferEntry) });
      return createBindGroup(d);
    };
    device.createCommandEncoder = (d) => {
      const enc = createCommandEncoder(d);
      const begin = enc.beginComputePass.bind(enc);
      enc.beginComputePass = (pd) => {
        const pass = begin(pd);
        const dispatch = pass.dispatchWorkgroups.bind(pass);
        const indirect = pass.dispatchWorkgroupsIndirect.bind(pass);
        pass.dispatchWorkgroups = (x, y, z) => (c.dispatches++, dispatch(x, y, z));
        pass.dispatchWorkgroupsIndirect = (b, o) => (c.dispatches++, indirect(b, o));
        return pass;
      };
      return enc;
    };
    queue.submit = (buffers) => (c.submits++, submit(buffers));
    this.restore.push(
      () => (device.createBuffer = createBuffer),
      () => (device.createBindGroup = createBindGroup),
      () => (device.createCommandEncoder = createCommandEncoder),
      () => (queue.submit = submit),
    );
  }

  snapshot(): CountSnapshot {
    return { ...this.counts };
  }

  /** Put the device's own methods back. */
  dispose(): void {
    for (const r of this.restore) r();
    this.restore.length = 0;
  }
}

function bufferEntry(e: GPUBindGroupEntry): { buffer: GPUBuffer; offset: number; size: number } {
  const r = e.resource as GPUBufferBinding;
  if (!r || !('buffer' in r)) throw new Error(`bind group entry ${e.binding} is not a buffer binding`);
  return { buffer: r.buffer, offset: r.offset ?? 0, size: r.size ?? r.buffer.size - (r.offset ?? 0) };
}
