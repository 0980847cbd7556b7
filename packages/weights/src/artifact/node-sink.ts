/**
 * An artifact sink writing into a local directory (Node): shards stream to disk while their sha256 is
 * computed on the way; manifest.json is written last, so a cut conversion leaves no manifest behind.
 * Node's modules are imported on first use, so bundling this module for a browser does not pull them in.
 */
import type { ArtifactSink, ShardWriter } from './convert.ts';
import { MANIFEST_FILE } from './manifest.ts';

export function nodeArtifactSink(dir: string): ArtifactSink {
  return {
    async openShard(file: string): Promise<ShardWriter> {
      const { mkdir, open } = await import('node:fs/promises');
      const { join } = await import('node:path');
      const { createHash } = await import('node:crypto');
      await mkdir(dir, { recursive: true });
      const fh = await open(join(dir, file), 'w');
      const hash = createHash('sha256');
      let bytes = 0;
      return {
        async write(chunk: Uint8Array): Promise<void> {
          hash.update(chunk);
          let done = 0;
          while (done < chunk.length) done += (await fh.write(chunk, done, chunk.length - done)).bytesWritten;
          bytes += chunk.length;
        },
        async close() {
          await fh.close();
          return { bytes, sha256: hash.digest('hex') };
        },
      };
    },
    async writeManifest(text: string): Promise<void> {
      const { mkdir, rename, writeFile } = await import('node:fs/promises');
      const { join } = await import('node:path');
      await mkdir(dir, { recursive: true });
      const tmp = join(dir, `${MANIFEST_FILE}.partial`);
      await writeFile(tmp, text);
      await rename(tmp, join(dir, MANIFEST_FILE));
    },
  };
}
