import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startArtifactServer, type ArtifactServer } from '../../../e2e/server/artifact-server.ts';
import { FIXTURES, ids, loadGolden } from '../../gemma3n/test/golden.ts';
import { servedRanges, tensorRanges, tensorsNotFullyServed, tensorsTouched } from '../../engine/test/served-bytes.ts';

/**
 * `g3n run --model <URL>`: the checkpoint read over HTTP with Range requests, counted at the server. A
 * text-only run of a checkpoint holding a vision or an audio tower is sent no byte of any tower-only
 * tensor; a run with a clip reads the whole audio tower and none of the vision tower.
 */
const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '../../..');
const SAFETENSORS = /model\.safetensors$/;
/** Only the towers use these; embed_vision / embed_audio's hard-embedding tensors are the text model's (spec §3.1). */
const TOWER_ONLY = ['model.vision_tower.', 'model.embed_vision.soft_embedding_norm.', 'model.audio_tower.', 'model.embed_audio.soft_embedding_norm.'];

function g3n(args: string[]) {
  return run('node', ['--import', 'tsx', '--import', './tools/wgsl-raw-hook.mjs', 'packages/cli/src/main.ts', ...args], { cwd: ROOT, timeout: 300_000 });
}

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
      await g3n(['run', '--model', `${server.url}/${name}/`, '--ids', '2,17,30', '--max-new-tokens', '2', '--json', json]);
      const r = JSON.parse(await readFile(json, 'utf8')) as { generated_ids: number[] };
      expect(r.generated_ids).toHaveLength(2);
      const ranges = tensorRanges(join(FIXTURES, `gemma3n-tiny-${name}-a`, 'model.safetensors'));
      const served = servedRanges(server, SAFETENSORS);
      expect(served.length, 'the text weights came from the server').toBeGreaterThan(0);
      expect(tensorsTouched(ranges, served, TOWER_ONLY), 'tower tensors whose bytes the server sent').toEqual([]);
    });
  }

  it('a run with a clip reads every byte of the audio tower, and gives the golden greedy ids', async () => {
    server.reset();
    const dir = join(FIXTURES, 'gemma3n-tiny-audio-a');
    const golden = await loadGolden(join(dir, 'golden.safetensors'));
    const prompt = ids(golden, 'e2e.prompt_ids');
    const want = ids(golden, 'e2e.generated_ids').slice(0, 2);
    const json = join(out, 'audio-clip.json');
    await g3n(['run', '--model', `${server.url}/audio/`, '--ids', prompt.join(','), '--max-new-tokens', '2', '--json', json, '--audio-features', `${join(dir, 'golden.safetensors')}:input_features`]);
    const r = JSON.parse(await readFile(json, 'utf8')) as { generated_ids: number[] };
    expect(r.generated_ids).toEqual(want);
    const ranges = tensorRanges(join(dir, 'model.safetensors'));
    const served = servedRanges(server, SAFETENSORS);
    expect(tensorsNotFullyServed(ranges, served, ['model.audio_tower.', 'model.embed_audio.soft_embedding_norm.'])).toEqual([]);
    expect(tensorsTouched(ranges, served, ['model.vision_tower.', 'model.embed_vision.soft_embedding_norm.'])).toEqual([]);
  });
});
