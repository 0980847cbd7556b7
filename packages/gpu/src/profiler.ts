/**
 * Timestamp-query profiling per kernel key (off unless the device was requested with `profile`).
 * Each profiled dispatch gets its own pass with begin/end timestamps; `collect` reads them back
 * and accumulates nanoseconds per key.
 */
export class Profiler {
  private readonly capacity = 2048;
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuf: GPUBuffer;
  private readonly readBuf: GPUBuffer;
  private keys: string[] = [];
  readonly totals = new Map<string, { ns: number; count: number }>();

  constructor(private readonly device: GPUDevice) {
    this.querySet = device.createQuerySet({ label: 'profiler', type: 'timestamp', count: this.capacity * 2 });
    this.resolveBuf = device.createBuffer({ label: 'profiler.resolve', size: this.capacity * 16, usage: 0x200 | 0x4 }); // QUERY_RESOLVE | COPY_SRC
    this.readBuf = device.createBuffer({ label: 'profiler.read', size: this.capacity * 16, usage: 0x1 | 0x8 });
  }

  slot(key: string): GPUComputePassTimestampWrites | undefined {
    if (this.keys.length >= this.capacity) return undefined;
    const i = this.keys.length;
    this.keys.push(key);
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  resolve(enc: GPUCommandEncoder): void {
    const n = this.keys.length;
    if (n === 0) return;
    enc.resolveQuerySet(this.querySet, 0, 2 * n, this.resolveBuf, 0);
    enc.copyBufferToBuffer(this.resolveBuf, 0, this.readBuf, 0, 16 * n);
  }

  async collect(): Promise<void> {
    const n = this.keys.length;
    if (n === 0) return;
    await this.readBuf.mapAsync(0x1, 0, 16 * n);
    const t = new BigInt64Array(this.readBuf.getMappedRange(0, 16 * n));
    for (let i = 0; i < n; i++) {
      const ns = Number(t[2 * i + 1] - t[2 * i]);
      const e = this.totals.get(this.keys[i]) ?? { ns: 0, count: 0 };
      e.ns += Math.max(ns, 0);
      e.count++;
      this.totals.set(this.keys[i], e);
    }
    this.readBuf.unmap();
    this.keys = [];
  }

  report(): Array<{ key: string; ms: number; count: number }> {
    return [...this.totals].map(([key, v]) => ({ key, ms: v.ns / 1e6, count: v.count })).sort((a, b) => b.ms - a.ms);
  }
}
