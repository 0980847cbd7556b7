/**
 * The PLE table's rows in the Origin Private File System, for `ple: 'host'` in the engine's Worker: the
 * table is written there once (from the weights, which read through the download and the weights
 * cache), one stored row after another (data bytes, then Q8/Q4 f16 scales), and each pass reads the
 * rows it needs through a synchronous access handle: a few KiB of random reads, never the table in the
 * JS heap. Where OPFS or synchronous handles are missing (a page's main thread, Node), the loader reads
 * rows from the weights themselves (the IndexedDB cache's pieces).
 */
import type { PleRowSource } from '@g3n/gemma3n';
import type { TensorBlock, TensorData } from '@g3n/weights';

/** The part of FileSystemSyncAccessHandle the row store uses. */
export interface SyncFile {
  read(buffer: Uint8Array, options: { at: number }): number;
  write(buffer: Uint8Array, options: { at: number }): number;
  getSize(): number;
  truncate(size: number): void;
  flush(): void;
  close(): void;
}

export type StoredDtype = TensorData['dtype'];

/** Bytes of one stored row: data, and f16 scales for Q8/Q4. */
export function storedRowBytes(dtype: StoredDtype, cols: number): { data: number; scales: number } {
  const data = dtype === 'Q4' ? cols / 2 : dtype === 'Q8' ? cols : dtype === 'F32' ? 4 * cols : 2 * cols;
  return { data, scales: dtype === 'Q8' || dtype === 'Q4' ? (cols / 32) * 2 : 0 };
}

/** A small header: magic, dtype, rows, cols, so that a file of another table or format is rewritten. */
const MAGIC = 0x31454c50; // 'PLE1'
const HEADER = 16;
const DTYPES: StoredDtype[] = ['F32', 'F16', 'BF16', 'Q8', 'Q4'];

function header(dtype: StoredDtype, rows: number, cols: number): Uint8Array {
  const h = new Uint8Array(HEADER);
  new DataView(h.buffer).setUint32(0, MAGIC, true);
  new DataView(h.buffer).setUint32(4, DTYPES.indexOf(dtype), true);
  new DataView(h.buffer).setUint32(8, rows, true);
  new DataView(h.buffer).setUint32(12, cols, true);
  return h;
}

/** Whether `file` already holds the whole table (header and size). */
export function holdsTable(file: SyncFile, dtype: StoredDtype, rows: number, cols: number): boolean {
  const b = storedRowBytes(dtype, cols);
  if (file.getSize() !== HEADER + rows * (b.data + b.scales)) return false;
  const h = new Uint8Array(HEADER);
  file.read(h, { at: 0 });
  return header(dtype, rows, cols).every((x, i) => x === h[i]);
}

/**
 * Write the table into `file` from full-width row blocks in row order (ModelWeights.readBlocks with
 * wholeRows), the header last so that an interrupted write is rewritten next time.
 */
export async function writeTable(file: SyncFile, blocks: AsyncIterable<TensorBlock>, rows: number, cols: number): Promise<StoredDtype> {
  let dtype: StoredDtype | null = null;
  let next = 0;
  file.truncate(0);
  for await (const block of blocks) {
    if (block.col0 !== 0 || block.cols !== cols || block.row0 !== next) throw new Error(`PLE blocks must be whole rows in order: got rows [${block.row0}, +${block.rows}) x cols [${block.col0}, +${block.cols})`);
    dtype ??= block.data.dtype;
    const b = storedRowBytes(dtype, cols);
    const rowBytes = b.data + b.scales;
    const out = new Uint8Array(block.rows * rowBytes);
    for (let r = 0; r < block.rows; r++) {
      out.set(block.data.bytes.subarray(r * b.data, (r + 1) * b.data), r * rowBytes);
      if (b.scales) out.set((block.data as { scales: Uint8Array }).scales.subarray(r * b.scales, (r + 1) * b.scales), r * rowBytes + b.data);
    }
    file.write(out, { at: HEADER + block.row0 * rowBytes });
    next += block.rows;
  }
  if (!dtype || next !== rows) throw new Error(`PLE blocks held ${next} of ${rows} rows`);
  file.write(header(dtype, rows, cols), { at: 0 });
  file.flush();
  return dtype;
}

/** Rows of the table in `file` (written by writeTable), read one row at a time at its offset. */
export function syncFileRowSource(file: SyncFile, dtype: StoredDtype, cols: number): PleRowSource {
  const b = storedRowBytes(dtype, cols);
  const rowBytes = b.data + b.scales;
  const row = new Uint8Array(rowBytes);
  return {
    async readRows(ids) {
      const data = new Uint8Array(ids.length * b.data);
      const scales = new Uint8Array(ids.length * b.scales);
      ids.forEach((id, i) => {
        const n = file.read(row, { at: HEADER + id * rowBytes });
        if (n !== rowBytes) throw new Error(`PLE row ${id}: read ${n} of ${rowBytes} bytes`);
        data.set(row.subarray(0, b.data), i * b.data);
        if (b.scales) scales.set(row.subarray(b.data), i * b.scales);
      });
      return (b.scales ? { dtype, bytes: data, scales } : { dtype, bytes: data }) as TensorData;
    },
  };
}

interface OpfsDirectory {
  getFileHandle(name: string, options?: { create?: boolean }): Promise<{ createSyncAccessHandle?: () => Promise<SyncFile> }>;
}

/** A synchronous handle on `name` in OPFS; null where OPFS or synchronous handles are not offered (outside a Worker). */
export async function openOpfsFile(name: string): Promise<SyncFile | null> {
  const storage = (globalThis.navigator as { storage?: { getDirectory?: () => Promise<OpfsDirectory> } } | undefined)?.storage;
  if (!storage?.getDirectory) return null;
  try {
    const dir = await storage.getDirectory();
    const handle = await dir.getFileHandle(name, { create: true });
    return handle.createSyncAccessHandle ? await handle.createSyncAccessHandle() : null;
  } catch {
    return null;
  }
}

/** What opfsPleSource reads the table from: its stored dtype and shape, and its rows in whole-row blocks. */
export interface PleTable {
  /** Names the file: the model's URL and revision, so that another model or revision writes its own. */
  key: string;
  dtype: StoredDtype;
  rows: number;
  cols: number;
  blocks(): AsyncIterable<TensorBlock>;
}

function fileName(key: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return `g3n-ple-${h.toString(16).padStart(8, '0')}.bin`;
}

/**
 * A row source over the table in OPFS, written there on its first read when the file does not hold it
 * yet; null where OPFS synchronous handles are not offered (then the loader reads from the weights).
 */
export async function opfsPleSource(table: PleTable, open: (name: string) => Promise<SyncFile | null> = openOpfsFile): Promise<(PleRowSource & { close(): void }) | null> {
  const file = await open(fileName(table.key));
  if (!file) return null;
  let rows: PleRowSource | null = null;
  return {
    async readRows(ids) {
      if (!rows) {
        if (!holdsTable(file, table.dtype, table.rows, table.cols)) await writeTable(file, table.blocks(), table.rows, table.cols);
        rows = syncFileRowSource(file, table.dtype, table.cols);
      }
      return rows.readRows(ids);
    },
    close: () => file.close(),
  };
}
