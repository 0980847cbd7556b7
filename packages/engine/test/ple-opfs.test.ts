/**
 * The PLE row store the engine's Worker keeps in OPFS (ple-opfs.ts), on a file in memory with the
 * synchronous-handle interface: written once from the weights' whole-row blocks, it gives the same
 * stored rows as reading them from the weights (tiny-a's bf16 table, a q4 artifact's data and scales),
 * for ids in any order with repeats; a second source over the same file reads without writing.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig, selectionRowSource, textWeightTable } from '@g3n/gemma3n';
import { convertCheckpoint, openArtifact, openCheckpoint, openModelDir, type ModelWeights } from '@g3n/weights';
import { nodeFileSource } from '@g3n/weights/node';
import { memoryFiles, memorySink, TINY } from '../../weights/test/artifact-util.ts';
import { opfsPleSource, type SyncFile } from '../src/ple-opfs.ts';

/** A growable byte file with FileSystemSyncAccessHandle's read/write/size calls; counts writes. */
function memoryFile(): SyncFile & { writes: number } {
  let bytes = new Uint8Array(0);
  return {
    writes: 0,
    read(buffer, { at }) {
      const n = Math.max(0, Math.min(buffer.length, bytes.length - at));
      buffer.set(bytes.subarray(at, at + n));
      return n;
    },
    write(buffer, { at }) {
      this.writes++;
      if (at + buffer.length > bytes.length) {
        const grown = new Uint8Array(at + buffer.length);
        grown.set(bytes);
        bytes = grown;
      }
      bytes.set(buffer, at);
      return buffer.length;
    },
    getSize: () => bytes.length,
    truncate(size) {
      bytes = bytes.slice(0, size);
    },
    flush() {},
    close() {},
  };
}

async function check(weights: ModelWeights, key: string) {
  const spec = textWeightTable(parseConfig(weights.config)).find((s) => s.role === 'ple')!;
  const info = weights.tensors.get(spec.name)!;
  const [rows, cols] = spec.shape;
  const table = { key, dtype: info.dtype as 'BF16' | 'Q4', rows, cols, blocks: () => weights.readBlocks(spec.name, { wholeRows: true, maxBytes: 4096 }) };
  const file = memoryFile();
  const opfs = (await opfsPleSource(table, async () => file))!;
  const direct = selectionRowSource((selection) => weights.readBlocks(spec.name, { selection, wholeRows: true }), cols);
  const ids = [rows - 1, 0, 17, 17, 5, rows >> 1];
  expect(await opfs.readRows(ids)).toEqual(await direct.readRows(ids));
  const written = file.writes;
  expect(written).toBeGreaterThan(1);
  const again = (await opfsPleSource(table, async () => file))!;
  expect(await again.readRows([3, 2, 1])).toEqual(await direct.readRows([3, 2, 1]));
  expect(file.writes, 'the table is written once').toBe(written);
  return info.dtype;
}

describe('PLE rows kept in OPFS', () => {
  it('tiny-a (bf16): the same rows as read from the checkpoint', async () => {
    expect(await check(await openModelDir(nodeFileSource(TINY)), 'tiny-a')).toBe('BF16');
  });

  it('a q4 artifact: the same data words and f16 scales as read from the artifact', async () => {
    const sink = memorySink();
    await convertCheckpoint(await openCheckpoint(nodeFileSource(TINY)), { quant: 'q4', modelId: 'tiny-a', revision: 'q4', shardBytes: 256 << 10 }, sink);
    expect(await check(await openArtifact(memoryFiles(sink.files)), 'tiny-a@q4')).toBe('Q4');
  });

  it('no source where OPFS offers no synchronous handle', async () => {
    expect(await opfsPleSource({ key: 'k', dtype: 'Q4', rows: 1, cols: 32, blocks: async function* () {} }, async () => null)).toBeNull();
  });
});
