/**
 * Files of a local directory as byte sources (Node). Reads go through FileHandle.read into a buffer
 * of the requested size, so a multi-GB shard is never read whole. Node's modules are imported on
 * first use, so bundling this module for a browser does not pull them in.
 */
import { CheckpointError } from './errors.ts';
import type { ByteSource, FileSource } from './sources.ts';

const MAX_CHUNK = 1 << 30;

export function nodeFileSource(dir: string): FileSource {
  return {
    base: dir,
    async open(path: string): Promise<ByteSource | null> {
      const { isAbsolute, relative, resolve, sep } = await import('node:path');
      const { stat } = await import('node:fs/promises');
      const root = resolve(dir);
      const full = resolve(root, path);
      const rel = relative(root, full);
      if (rel === '' || rel.split(sep)[0] === '..' || isAbsolute(rel)) return null;
      let size: number;
      try {
        const st = await stat(full);
        if (!st.isFile()) return null;
        size = st.size;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw e;
      }
      return {
        name: path,
        size: async () => size,
        async read(offset, length, check) {
          const bytes = await readRange(full, path, offset, length);
          await check?.(bytes, { origin: 'file', attempt: 0 });
          return bytes;
        },
      };
    },
  };
}

async function readRange(full: string, name: string, offset: number, length: number): Promise<Uint8Array> {
  const { open } = await import('node:fs/promises');
  const out = new Uint8Array(length);
  if (length === 0) return out;
  const fh = await open(full, 'r');
  try {
    let done = 0;
    while (done < length) {
      const { bytesRead } = await fh.read(out, done, Math.min(length - done, MAX_CHUNK), offset + done);
      if (bytesRead === 0) {
        throw new CheckpointError('truncated', `${name}: wanted ${length} bytes at offset ${offset} but the file ends after ${offset + done}; the file is incomplete, copy or download it again.`, { file: name });
      }
      done += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return out;
}
