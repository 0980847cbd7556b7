import { createTensor, G3nError, type Gpu, type Tensor } from '@g3n/gpu';

/**
 * Encoder output that takes the place of placeholder tokens in the prompt (spec §4.7, §5.7): the i-th
 * entry with a given `tokenId` replaces the next `count` occurrences of that id in the prompt, in order.
 * Their rows replace the input embeddings there; the per-layer inputs of those positions come from id 0
 * as for every multimodal id.
 */
export interface SoftTokens {
  /** The placeholder id (`image_token_id` or `audio_token_id`). */
  tokenId: number;
  /** f32 rows [count, text hidden], on the GPU or in memory. */
  embeds: Tensor | Float32Array;
  count: number;
}

/** A contiguous run of positions of one chunk filled from rows of one soft-token tensor. */
export interface SoftRowRun {
  src: Tensor;
  /** First row of `src`. */
  srcRow: number;
  /** First position within the chunk. */
  dstRow: number;
  rows: number;
}

/** Where each soft-token row goes in the prompt, resolved once per prompt. */
export class SoftTokenPlacement {
  private constructor(
    private readonly runs: Array<{ src: Tensor; srcRow: number; pos: number; rows: number }>,
    private readonly uploads: Tensor[],
  ) {}

  /**
   * Match `soft` to the placeholder positions of `ids`. Every occurrence of a placeholder id that has
   * soft tokens must be covered, and every soft row must find a placeholder: a mismatch is a BAD_INPUT
   * error that names the id and both counts.
   */
  static resolve(gpu: Gpu, ids: ArrayLike<number>, soft: readonly SoftTokens[], hidden: number): SoftTokenPlacement {
    const byId = new Map<number, SoftTokens[]>();
    for (const [i, s] of soft.entries()) {
      if (!Number.isInteger(s.count) || s.count <= 0) throw new G3nError('BAD_INPUT', `soft tokens #${i} (id ${s.tokenId}): count ${s.count} must be a positive integer`);
      const have = s.embeds instanceof Float32Array ? s.embeds.length : s.embeds.shape.reduce((a, b) => a * b, 1);
      if (have < s.count * hidden) {
        throw new G3nError('BAD_INPUT', `soft tokens #${i} (id ${s.tokenId}): ${have} values cannot fill ${s.count} rows of width ${hidden}`, { tokenId: s.tokenId });
      }
      if (!(s.embeds instanceof Float32Array) && s.embeds.dtype !== 'f32') throw new G3nError('BAD_INPUT', `soft tokens #${i} (id ${s.tokenId}) must be f32, got ${s.embeds.dtype}`);
      const list = byId.get(s.tokenId) ?? [];
      list.push(s);
      byId.set(s.tokenId, list);
    }
    const positions = new Map<number, number[]>();
    for (const id of byId.keys()) positions.set(id, []);
    for (let p = 0; p < ids.length; p++) positions.get(ids[p])?.push(p);

    const uploads: Tensor[] = [];
    const runs: Array<{ src: Tensor; srcRow: number; pos: number; rows: number }> = [];
    try {
      for (const [id, list] of byId) {
        const pos = positions.get(id)!;
        const rows = list.reduce((a, s) => a + s.count, 0);
        if (rows !== pos.length) {
          throw new G3nError(
            'BAD_INPUT',
            `the prompt holds ${pos.length} placeholder${pos.length === 1 ? '' : 's'} of id ${id} but ${list.length} input${list.length === 1 ? '' : 's'} bring${list.length === 1 ? 's' : ''} ${rows} soft token${rows === 1 ? '' : 's'}`,
            { tokenId: id, placeholders: pos.length, softTokens: rows },
          );
        }
        let k = 0;
        for (const s of list) {
          let src: Tensor;
          if (s.embeds instanceof Float32Array) {
            src = createTensor(gpu, `soft_tokens@${id}`, 'f32', [s.count, hidden]);
            gpu.device.queue.writeBuffer(src.buffer, 0, s.embeds, 0, s.count * hidden);
            uploads.push(src);
          } else {
            src = s.embeds;
          }
          // split the entry's rows into runs of consecutive positions
          for (let r = 0; r < s.count; ) {
            let n = 1;
            while (r + n < s.count && pos[k + n] === pos[k] + n) n++;
            runs.push({ src, srcRow: r, pos: pos[k], rows: n });
            r += n;
            k += n;
          }
        }
      }
    } catch (e) {
      for (const t of uploads) t.buffer.destroy();
      throw e;
    }
    return new SoftTokenPlacement(runs, uploads);
  }

  /** The runs that fall in the chunk of positions [start, start + tokens), relative to the chunk. */
  chunk(start: number, tokens: number): SoftRowRun[] {
    const out: SoftRowRun[] = [];
    for (const r of this.runs) {
      const a = Math.max(r.pos, start);
      const b = Math.min(r.pos + r.rows, start + tokens);
      if (a < b) out.push({ src: r.src, srcRow: r.srcRow + (a - r.pos), dstRow: a - start, rows: b - a });
    }
    return out;
  }

  /** Free the buffers made for in-memory soft tokens. */
  destroy(): void {
    for (const t of this.uploads) t.buffer.destroy();
  }
}
