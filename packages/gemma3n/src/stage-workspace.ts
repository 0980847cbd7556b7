import { createTensor, numel, ShapeError, storageBytes, type Gpu, type Tensor } from '@g3n/gpu';

/** An f32 view of `shape` at element `offset` of a tensor's buffer (offset must keep 256-byte alignment). */
export function view(t: Tensor, offset: number, shape: number[]): Tensor {
  const byteOffset = t.offset + 4 * offset;
  if (byteOffset % 256 !== 0) throw new ShapeError(t.label, `view at element ${offset} is not 256-byte aligned`);
  const byteLength = storageBytes('f32', numel(shape));
  if (4 * offset + byteLength > t.byteLength) throw new ShapeError(t.label, `view [${offset}, +${numel(shape)}) overruns ${numel(t.shape)} elements`);
  return { label: t.label, dtype: t.dtype, shape, buffer: t.buffer, offset: byteOffset, byteLength };
}

/** Elements per AltUp stream: T*D rounded up so that every stream view is 256-byte aligned. */
export function streamStride(tokens: number, dim: number): number {
  return Math.ceil((tokens * dim) / 64) * 64;
}

/** One activation buffer of a stage: its largest shape for the stage's config and sizes (f32 unless said). */
export interface BufferDecl<C, N> {
  dtype?: 'f32' | 'u32';
  shape: (cfg: C, sizes: N) => number[];
}

/**
 * A stage's activation buffers as a declared table, name -> largest shape (llm.c's
 * `fill_in_activation_sizes`): the stage's shape sheet at a glance. `C` is the stage's config, `N` the
 * sizes it is allocated for (tokens, patches, frames...). Workspace<W> takes only these names.
 */
export type WorkspaceDecl<C, N> = Record<string, BufferDecl<C, N>>;

/** Bytes a workspace of this table allocates (before any `owned` scratch). */
export function workspaceBytes<C, N>(decl: WorkspaceDecl<C, N>, cfg: C, sizes: N): number {
  let s = 0;
  for (const d of Object.values(decl)) s += storageBytes(d.dtype ?? 'f32', numel(d.shape(cfg, sizes)));
  return s;
}

/**
 * The activation buffers of one stage, allocated once from its declared table. `at(name, shape)`
 * hands out a view sized for the current pass (a name outside the table does not compile).
 */
export class StageWorkspace<C, N, W extends WorkspaceDecl<C, N>> {
  private readonly buffers = new Map<string, Tensor>();

  constructor(
    private readonly gpu: Gpu,
    readonly decl: W,
    readonly cfg: C,
    readonly sizes: N,
  ) {
    for (const [name, d] of Object.entries(decl)) this.buffers.set(name, createTensor(gpu, `ws.${name}`, d.dtype ?? 'f32', [numel(d.shape(cfg, sizes))]));
  }

  /** A view of the named buffer with `shape` (at most its declared size). */
  at(name: keyof W & string, shape: number[]): Tensor {
    return view(this.raw(name), 0, shape);
  }

  /** The whole named buffer. */
  raw(name: keyof W & string): Tensor {
    const t = this.buffers.get(name);
    if (!t) throw new Error(`workspace has no buffer '${name}'`);
    return t;
  }

  /**
   * A buffer kept for the workspace's lifetime under `key` (created on first use, destroyed with the
   * workspace): scratch space that kernels of several layers share because they run one after another,
   * sized by the kernel that needs it.
   */
  owned(key: string, dtype: Tensor['dtype'], shape: number[]): Tensor {
    const name = `owned.${key}`;
    let t = this.buffers.get(name);
    if (!t) {
      t = createTensor(this.gpu, `ws.${key}`, dtype, shape);
      this.buffers.set(name, t);
    } else if (t.dtype !== dtype || numel(t.shape) < numel(shape)) {
      throw new ShapeError(t.label, `owned buffer '${key}' is ${t.dtype} [${t.shape.join(', ')}], asked for ${dtype} [${shape.join(', ')}]`);
    }
    return t;
  }

  /** The buffer kept under `key` by `owned`, if one was made. */
  peek(key: string): Tensor | undefined {
    return this.buffers.get(`owned.${key}`);
  }

  bytes(): number {
    let s = 0;
    for (const t of this.buffers.values()) s += t.byteLength;
    return s;
  }

  destroy(): void {
    for (const t of this.buffers.values()) t.buffer.destroy();
    this.buffers.clear();
  }
}
