/**
 * Seeded fuzzing of the parsers that read untrusted weight files: every case ends in a valid parse
 * (and reads that succeed or fail typed) or a typed error; never a hang, a RangeError or TypeError
 * from inside, or an allocation of a claimed size (every read stays inside the real file).
 */
import { describe, expect, it } from 'vitest';
import { G3nError } from '@g3n/gpu/errors';
import { convertCheckpoint } from '../src/artifact/convert.ts';
import { openArtifact } from '../src/artifact/reader.ts';
import { parseManifest } from '../src/artifact/manifest.ts';
import { openSafetensors, writeSafetensors } from '../src/safetensors.ts';
import type { ByteSource, FileSource } from '../src/sources.ts';
import { f32Tensor, memorySink, syntheticCheckpoint } from './artifact-util.ts';
import { fuzzManifest, fuzzSafetensors, rng } from './fuzz.ts';

const CASES = 300;
/** One case may take this long before it counts as a hang (the software machine is shared and slow). */
const CASE_MS = 2_000;

/** Files in memory whose reads are checked: never outside the file, so no claimed size is ever allocated. */
function guardedFiles(files: Map<string, Uint8Array>, reads: { max: number }): FileSource {
  return {
    base: 'fuzz:',
    async open(path) {
      const f = files.get(path);
      if (!f) return null;
      const src: ByteSource = {
        name: path,
        size: async () => f.length,
        async read(offset, length, check) {
          if (!(Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0 && offset + length <= f.length)) {
            throw new Error(`read outside the file: ${length} bytes at ${offset} of ${path} (${f.length} bytes)`);
          }
          reads.max = Math.max(reads.max, length);
          const bytes = f.slice(offset, offset + length);
          await check?.(bytes, { origin: 'file', attempt: 0 });
          return bytes;
        },
      };
      return src;
    },
  };
}

/** Runs `body` with a time limit; returns what it threw (or null). */
async function outcome(body: () => Promise<unknown>): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${CASE_MS} ms`)), CASE_MS)));
  try {
    await Promise.race([body(), hang]);
    return null;
  } catch (e) {
    return e;
  } finally {
    clearTimeout(timer);
  }
}

function expectTyped(e: unknown, seed: number): void {
  if (e === null) return;
  const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  expect(e instanceof G3nError, `case ${seed}: ${what.slice(0, 300)}`).toBe(true);
  expect((e as G3nError).code).toMatch(/^(BAD_CHECKPOINT|BAD_MANIFEST|INTEGRITY)$/);
}

describe('fuzzed safetensors headers', () => {
  it(`${CASES} seeded cases: a valid parse or a typed error, reads inside the file`, async () => {
    const file = writeSafetensors([f32Tensor('a.weight', [8, 4], 1), f32Tensor('b.bias', [4], 2), f32Tensor('c', [2, 3, 2], 3)]);
    const kinds = { ok: 0, typed: 0 };
    const started = performance.now();
    for (let seed = 1; seed <= CASES; seed++) {
      const fuzzed = fuzzSafetensors(file, rng(seed));
      const reads = { max: 0 };
      const e = await outcome(async () => {
        const src = await guardedFiles(new Map([['model.safetensors', fuzzed]]), reads).open('model.safetensors');
        const st = await openSafetensors(src as ByteSource);
        for (const name of st.header.tensors.keys()) await st.readTensor(name);
      });
      expectTyped(e, seed);
      expect(reads.max).toBeLessThanOrEqual(fuzzed.length);
      kinds[e === null ? 'ok' : 'typed']++;
    }
    // Both outcomes occur: the fuzzer reaches past the first check.
    expect(kinds.ok).toBeGreaterThan(0);
    expect(kinds.typed).toBeGreaterThan(CASES / 2);
    expect(performance.now() - started).toBeLessThan(30_000);
  });
});

describe('fuzzed artifact manifests', () => {
  it(`${CASES} seeded cases: a valid parse or a typed error, every read inside the shards`, async () => {
    const ckpt = await syntheticCheckpoint(
      [f32Tensor('model.language_model.layers.0.mlp.gate_proj.weight', [64, 32], 1), f32Tensor('model.language_model.norm.weight', [32], 2), f32Tensor('model.language_model.embed_tokens.weight', [40, 32], 3)],
      { model_type: 'gemma3n', text_config: { hidden_size_per_layer_input: 8 } },
    );
    const sink = memorySink();
    await convertCheckpoint(ckpt, { quant: 'q8', modelId: 'fuzz', revision: 'r', shardBytes: 4 << 10 }, sink);
    const text = new TextDecoder().decode(sink.files.get('manifest.json'));
    const kinds = { ok: 0, typed: 0 };
    const started = performance.now();
    for (let seed = 1; seed <= CASES; seed++) {
      const files = new Map(sink.files);
      files.set('manifest.json', fuzzManifest(text, rng(seed)));
      const reads = { max: 0 };
      const e = await outcome(async () => {
        const art = await openArtifact(guardedFiles(files, reads));
        for (const t of art.manifest.tensors) await art.readTensorData(t.name);
      });
      expectTyped(e, seed);
      expect(reads.max).toBeLessThanOrEqual(Math.max(...[...files.values()].map((f) => f.length)));
      kinds[e === null ? 'ok' : 'typed']++;
    }
    expect(kinds.ok).toBeGreaterThan(0);
    expect(kinds.typed).toBeGreaterThan(CASES / 2);
    expect(performance.now() - started).toBeLessThan(30_000);
    // The parser alone on odd top-level JSON.
    for (const v of [null, [], 'x', 1, { format: 'g3n-artifact', tensors: null }]) expect(() => parseManifest(v)).toThrow(G3nError);
  });
});
