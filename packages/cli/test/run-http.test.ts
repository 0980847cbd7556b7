import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startArtifactServer, type ArtifactServer } from '../../../e2e/server/artifact-server.ts';
import { FIXTURES } from '../../gemma3n/test/golden.ts';
import { servedRanges, tensorRanges, tensorsTouched } from '../../engine/test/served-bytes.ts';
import { runCommand } from '../src/commands/run.ts';

/**
 * `g3n run --model <URL>` (the command run in-process, as its tests of help and errors do): the checkpoint
 * read over HTTP with Range requests, counted at the server. A text-only run of a checkpoint holding a
 * vision or an audio tower is sent no byte of any tower-only tensor. (That a media prompt then reads the
 * tower is shown through the engine, packages/engine/test/tower-bytes.test.ts.)
 */
const SAFETENSORS = /model\.safetensors$/;
/** Only the towers use these; embed_vision / embed_audio's hard-embedding tensors are the text model's (spec §3.1). */
const TOWER_ONLY = ['model.vision_tower.', 'model.embed_vision.soft_embedding_norm.', 'model.audio_tower.', 'model.embed_audio.soft_embedding_norm.'];

describe('g3n run over HTTP: tower bytes counted at the server', { timeout: 600_000 }, () => {
  let server: ArtifactServer;
  let out: string;
  beforeAll(async () => {
    server = await startArtifactServer({ '/vision/': join(FIXTURES, 'gemma3n-tiny-vision-a'), '/audio/': join(FIXTURES, 'gemma3n-tiny-audio-a') });
    out = await mkdtemp(join(tmpdir(), 'g3n-run-http-'));
  });
  afterAll(() => server?.close());

  for (const name of ['vision', 'audio']) {
    it(`a text-only run of gemma3n-tiny-${name}-a reads none of the tower-only tensors`, async () => {
      server.reset();
      const json = join(out, `${name}.json`);
      await runCommand(['--model', `${server.url}/${name}/`, '--ids', '2,17,30', '--max-new-tokens', '2', '--json', json]);
      const r = JSON.parse(await readFile(json, 'utf8')) as { generated_ids: number[] };
      expect(r.generated_ids).toHaveLength(2);
      const ranges = tensorRanges(join(FIXTURES, `gemma3n-tiny-${name}-a`, 'model.safetensors'));
      const served = servedRanges(server, SAFETENSORS);
      expect(served.length, 'the text weights came from the server').toBeGreaterThan(0);
      expect(tensorsTouched(ranges, served, TOWER_ONLY), 'tower tensors whose bytes the server sent').toEqual([]);
    });
  }
});
