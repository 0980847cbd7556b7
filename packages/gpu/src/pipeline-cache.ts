import { ShaderError } from './errors.ts';
import type { Kernel } from './kernel.ts';

/**
 * Compute pipelines cached under the kernel key, which is also their GPU label. `prepare` compiles
 * asynchronously inside error scopes and rethrows with the kernel key and the compiler's message
 * and line; `get` returns a prepared pipeline (or compiles synchronously as a fallback).
 */
export class PipelineCache {
  private readonly modules = new Map<string, GPUShaderModule>();
  /**
   * One getCompilationInfo() per module: in Chromium a second call on the same module may never
   * resolve (until some other GPU command happens to flush), which stalled pipeline builds.
   */
  private readonly infos = new Map<GPUShaderModule, Promise<GPUCompilationInfo>>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly pending = new Map<string, Promise<GPUComputePipeline>>();
  /** Number of pipelines created so far (a budget test checks it stays flat while decoding). */
  created = 0;

  constructor(private readonly device: GPUDevice) {}

  get size(): number {
    return this.pipelines.size;
  }

  has(kernel: Kernel): boolean {
    return this.pipelines.has(kernel.key);
  }

  private module(kernel: Kernel): GPUShaderModule {
    let m = this.modules.get(kernel.source);
    if (!m) {
      m = this.device.createShaderModule({ label: kernel.family, code: kernel.source });
      this.modules.set(kernel.source, m);
    }
    return m;
  }

  /** Compile every kernel that is not cached yet; rejects with a ShaderError naming the first that fails. */
  async prepare(kernels: Iterable<Kernel>): Promise<void> {
    const jobs: Promise<GPUComputePipeline>[] = [];
    for (const k of kernels) if (!this.pipelines.has(k.key)) jobs.push(this.compile(k));
    await Promise.all(jobs);
  }

  private compile(kernel: Kernel): Promise<GPUComputePipeline> {
    const existing = this.pending.get(kernel.key);
    if (existing) return existing;
    const job = (async () => {
      this.device.pushErrorScope('validation');
      const module = this.module(kernel);
      let infoPromise = this.infos.get(module);
      if (!infoPromise) this.infos.set(module, (infoPromise = module.getCompilationInfo()));
      const info = await infoPromise;
      const errors = info.messages.filter((m) => m.type === 'error');
      let pipeline: GPUComputePipeline | null = null;
      let failure: string | null = null;
      if (errors.length === 0) {
        try {
          pipeline = await this.device.createComputePipelineAsync({
            label: kernel.key,
            layout: 'auto',
            compute: { module, entryPoint: kernel.entry, constants: kernel.constants },
          });
        } catch (e) {
          failure = (e as Error).message;
        }
      }
      const scopeError = await this.device.popErrorScope();
      if (errors.length > 0) {
        const first = errors[0];
        throw new ShaderError('SHADER_COMPILE', `${kernel.key}: WGSL error at line ${first.lineNum}:${first.linePos}: ${first.message}`, {
          kernel: kernel.key,
          line: first.lineNum,
        });
      }
      if (failure || scopeError || !pipeline) {
        throw new ShaderError('PIPELINE_CREATE', `${kernel.key}: pipeline creation failed: ${failure ?? scopeError?.message}`, { kernel: kernel.key });
      }
      this.pipelines.set(kernel.key, pipeline);
      this.created++;
      return pipeline;
    })();
    this.pending.set(kernel.key, job);
    job.finally(() => this.pending.delete(kernel.key)).catch(() => {});
    return job;
  }

  get(kernel: Kernel): GPUComputePipeline {
    let p = this.pipelines.get(kernel.key);
    if (!p) {
      p = this.device.createComputePipeline({
        label: kernel.key,
        layout: 'auto',
        compute: { module: this.module(kernel), entryPoint: kernel.entry, constants: kernel.constants },
      });
      this.pipelines.set(kernel.key, p);
      this.created++;
    }
    return p;
  }
}
