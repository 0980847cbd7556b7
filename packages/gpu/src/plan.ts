import type { Gpu } from './device.ts';
import { ShapeError } from './errors.ts';
import { packParams, writeField, type Kernel, type ParamField, type ParamValues } from './kernel.ts';
import type { Tensor } from './tensor.ts';

/** A buffer range bound to one WGSL variable. Tensors qualify as they are. */
export interface BufferRange {
  buffer: GPUBuffer;
  offset?: number;
  byteLength?: number;
}

/**
 * One kernel launch, as a pure description: which kernel variant, which buffers under which WGSL
 * variable names, the uniform parameters by struct member name, and the workgroup grid.
 */
export interface Dispatch {
  kernel: Kernel;
  bindings: Record<string, BufferRange | Tensor>;
  params?: ParamValues;
  workgroups: readonly [number, number, number] | readonly [number, number] | readonly [number];
}

const UNIFORM = 0x40 | 0x8; // UNIFORM | COPY_DST

/**
 * A recorded list of dispatches made ready to replay: one uniform arena for all their parameters
 * (one slot per dispatch), pipelines resolved and bind groups built once. Replaying encodes every
 * dispatch into one compute pass; parameters that change between replays (a decode position) are
 * updated in the arena's CPU copy and uploaded with a single write.
 */
export class Plan {
  readonly dispatches: readonly Dispatch[];
  private readonly pipelines: GPUComputePipeline[] = [];
  private readonly bindGroups: GPUBindGroup[] = [];
  private readonly slots: number[] = [];
  private readonly arena: GPUBuffer | null;
  private readonly mirror: DataView;
  private dirty = false;
  /** Per shared parameter name: where it sits in the arena's CPU copy, in every dispatch that has it. */
  private readonly byParam = new Map<string, ParamField[]>();

  private constructor(private readonly gpu: Gpu, readonly label: string, dispatches: Dispatch[]) {
    this.dispatches = dispatches;
    const align = Math.max(256, gpu.caps.limits.minUniformBufferOffsetAlignment);
    let size = 0;
    for (const d of dispatches) {
      if (d.kernel.params) {
        this.slots.push(size);
        size += Math.ceil(d.kernel.params.size / align) * align;
      } else this.slots.push(-1);
    }
    this.mirror = new DataView(new ArrayBuffer(Math.max(size, 16)));
    this.arena = size > 0 ? gpu.device.createBuffer({ label: `${label}.params`, size, usage: UNIFORM }) : null;
    dispatches.forEach((d, i) => {
      const k = d.kernel;
      if (k.params) {
        if (!d.params) throw new ShapeError(k.key, 'params missing');
        packParams(k, d.params, new DataView(this.mirror.buffer, this.slots[i], k.params.size));
      }
      const pipeline = gpu.pipelines.get(k);
      const entries: GPUBindGroupEntry[] = [];
      for (const [name, slot] of k.bindings) {
        if (name === 'params') {
          entries.push({ binding: slot.binding, resource: { buffer: this.arena!, offset: this.slots[i], size: k.params!.size } });
          continue;
        }
        const r = d.bindings[name];
        if (!r) throw new ShapeError(k.key, `binding '${name}' missing`);
        const size = r.byteLength ?? r.buffer.size - (r.offset ?? 0);
        entries.push({ binding: slot.binding, resource: { buffer: r.buffer, offset: r.offset ?? 0, size } });
      }
      this.pipelines.push(pipeline);
      this.bindGroups.push(gpu.device.createBindGroup({ label: k.key, layout: pipeline.getBindGroupLayout(0), entries }));
    });
    if (this.arena) gpu.device.queue.writeBuffer(this.arena, 0, this.mirror.buffer, 0, size);
  }

  /** Compile what is missing (asynchronously, with readable errors), then build the plan. */
  static async build(gpu: Gpu, label: string, dispatches: Dispatch[]): Promise<Plan> {
    await gpu.pipelines.prepare(dispatches.map((d) => d.kernel));
    return new Plan(gpu, label, dispatches);
  }

  /**
   * Change the named parameters for the next replay in every dispatch whose params struct has them
   * (a decode step's `pos0` in its RoPE, KV-append and attention dispatches): the per-step parameters
   * are declared by name, not found by the caller.
   */
  setShared(values: ParamValues): void {
    for (const [name, v] of Object.entries(values)) {
      let at = this.byParam.get(name);
      if (!at) {
        at = this.dispatches.flatMap((d, i) => {
          const f = d.kernel.params?.fields.find((x) => x.name === name);
          return f ? [{ ...f, offset: this.slots[i] + f.offset }] : [];
        });
        this.byParam.set(name, at);
      }
      for (const f of at) writeField(this.mirror, f, v, this.label);
      if (at.length > 0) this.dirty = true;
    }
  }

  /** Change parameters of dispatch `index` for the next replay. */
  setParams(index: number, values: ParamValues): void {
    const k = this.dispatches[index].kernel;
    if (!k.params) throw new ShapeError(k.key, 'kernel has no params');
    for (const [name, v] of Object.entries(values)) {
      const f = k.params.fields.find((x) => x.name === name);
      if (!f) throw new ShapeError(k.key, `unknown param '${name}'`);
      writeField(this.mirror, { ...f, offset: this.slots[index] + f.offset }, v, k.key);
    }
    this.dirty = true;
  }

  /** Upload changed parameters (a queue write, not a submit). */
  flush(): void {
    if (this.dirty && this.arena) {
      this.gpu.device.queue.writeBuffer(this.arena, 0, this.mirror.buffer, 0, this.arena.size);
      this.dirty = false;
    }
  }

  /** Encode every dispatch into `pass` in order. */
  encode(pass: GPUComputePassEncoder): void {
    for (let i = 0; i < this.dispatches.length; i++) this.encodeOne(pass, i);
  }

  encodeOne(pass: GPUComputePassEncoder, i: number): void {
    const w = this.dispatches[i].workgroups;
    pass.setPipeline(this.pipelines[i]);
    pass.setBindGroup(0, this.bindGroups[i]);
    pass.dispatchWorkgroups(w[0], w[1] ?? 1, w[2] ?? 1);
  }

  destroy(): void {
    this.arena?.destroy();
  }
}

export interface SubmitOptions {
  /** Buffer ranges to copy into `readInto` staging after the compute work, in the same command buffer. */
  copies?: Array<{ src: GPUBuffer; srcOffset: number; dst: GPUBuffer; dstOffset: number; size: number }>;
}

/** Counters that budget tests read: queue submits and command buffers made. */
export const submitStats = { submits: 0 };

/**
 * Encode plans into one command buffer (one compute pass, or one pass per dispatch while
 * profiling) and submit it once.
 */
export function submitPlans(gpu: Gpu, plans: Plan[], options: SubmitOptions = {}): void {
  for (const p of plans) p.flush();
  const enc = gpu.device.createCommandEncoder({ label: plans.map((p) => p.label).join('+') });
  if (gpu.profiler) {
    for (const p of plans) {
      for (let i = 0; i < p.dispatches.length; i++) {
        const pass = enc.beginComputePass({ timestampWrites: gpu.profiler.slot(p.dispatches[i].kernel.key) });
        p.encodeOne(pass, i);
        pass.end();
      }
    }
    gpu.profiler.resolve(enc);
  } else {
    const pass = enc.beginComputePass({ label: plans.map((p) => p.label).join('+') });
    for (const p of plans) p.encode(pass);
    pass.end();
  }
  for (const c of options.copies ?? []) enc.copyBufferToBuffer(c.src, c.srcOffset, c.dst, c.dstOffset, c.size);
  gpu.device.queue.submit([enc.finish()]);
  submitStats.submits++;
}

/** Build a throwaway plan, run it once and wait for the GPU (tests, one-off work). */
export async function runOnce(gpu: Gpu, label: string, dispatches: Dispatch[]): Promise<void> {
  const plan = await Plan.build(gpu, label, dispatches);
  submitPlans(gpu, [plan]);
  await gpu.device.queue.onSubmittedWorkDone();
  if (gpu.profiler) await gpu.profiler.collect();
  plan.destroy();
}
