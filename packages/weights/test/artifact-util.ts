/** Helpers for the artifact tests: in-memory sinks and file sources, small synthetic checkpoints. */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { nodeFileSource } from '../src/node-source.ts';
import { openCheckpoint, type Checkpoint } from '../src/checkpoint.ts';
import { writeSafetensors, type TensorToWrite } from '../src/safetensors.ts';
import type { ByteSource, FileSource } from '../src/sources.ts';
import type { ArtifactSink } from '../src/artifact/convert.ts';

/** The tiny fixture, found relative to the repository (its sibling ../shared). */
export const TINY = join(import.meta.dirname, '../../../../shared/fixtures/gemma3n-tiny-a');

export function tinyCheckpoint(): Promise<Checkpoint> {
  return openCheckpoint(nodeFileSource(TINY));
}

/** An artifact sink keeping every file in a Map. */
export function memorySink(): ArtifactSink & { files: Map<string, Uint8Array> } {
  const files = new Map<string, Uint8Array>();
  return {
    files,
    async openShard(file) {
      const chunks: Uint8Array[] = [];
      const hash = createHash('sha256');
      return {
        async write(b) {
          chunks.push(b.slice());
          hash.update(b);
        },
        async close() {
          const all = Buffer.concat(chunks);
          files.set(file, new Uint8Array(all));
          return { bytes: all.length, sha256: hash.digest('hex') };
        },
      };
    },
    async writeManifest(text) {
      files.set('manifest.json', new TextEncoder().encode(text));
    },
  };
}

/** Files held in memory as a FileSource. */
export function memoryFiles(files: Map<string, Uint8Array>, base = 'mem:'): FileSource {
  return {
    base,
    async open(path): Promise<ByteSource | null> {
      const f = files.get(path);
      if (!f) return null;
      return { name: path, size: async () => f.length, read: async (o, n) => f.slice(o, o + n) };
    },
  };
}

/** Deterministic pseudo-random floats (xorshift), scaled. */
export function randomFloats(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}

/** A checkpoint (config.json + model.safetensors) held in memory. */
export async function syntheticCheckpoint(tensors: TensorToWrite[], config: Record<string, unknown> = { model_type: 'test' }): Promise<Checkpoint> {
  const files = new Map<string, Uint8Array>([
    ['config.json', new TextEncoder().encode(JSON.stringify(config))],
    ['model.safetensors', writeSafetensors(tensors)],
  ]);
  return openCheckpoint(memoryFiles(files));
}

export function f32Tensor(name: string, shape: number[], seed: number): TensorToWrite {
  const v = randomFloats(shape.reduce((a, b) => a * b, 1), seed);
  return { name, dtype: 'F32', shape, data: new Uint8Array(v.buffer) };
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;
}
