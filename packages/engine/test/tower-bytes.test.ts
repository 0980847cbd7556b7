import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, ids, loadGolden, tensor } from '../../gemma3n/test/golden.ts';
import { startArtifactServer, type ArtifactServer } from '../../../e2e/server/artifact-server.ts';
import type { InThreadEngine } from '../src/engine.ts';
import type { ChatCompletionRequestNonStreaming } from '../src/types.ts';
import { GPU_TEST_TIMEOUT, nodeEngine, TOKENIZER_FILE } from './helpers.ts';
import { linkFolder, servedRanges, tensorRanges, tensorsNotFullyServed, tensorsTouched, type ByteRange } from './served-bytes.ts';

/**
 * Counted at the server: a text-only load of a checkpoint that holds a tower is sent none of the
 * tower's bytes (its tensors' byte ranges, from the safetensors header, overlap no range the server
 * sent), and the first image or clip makes the engine read every byte of them.
 */
const SAFETENSORS = /model\.safetensors$/;

interface Case {
  fixture: string;
  /** The tower-only tensors (name prefixes) the prompt's medium must read, every byte. */
  read: string[];
  preprocessor: Record<string, string>;
  /** One request with the medium at its placeholders, a single new token. */
  request: (golden: Awaited<ReturnType<typeof loadGolden>>) => ChatCompletionRequestNonStreaming;
}

/**
 * The tensors only a tower uses. The rest of embed_vision / embed_audio (embedding, hard_embedding_norm,
 * embedding_projection) is the text model's own: multimodal ids such as <end_of_image> take their
 * input embedding from it (spec §3.1), so a text load reads them.
 */
const TOWER_ONLY = ['model.vision_tower.', 'model.embed_vision.soft_embedding_norm.', 'model.audio_tower.', 'model.embed_audio.soft_embedding_norm.'];

const CASES: Case[] = [
  {
    fixture: 'gemma3n-tiny-vision-a',
    read: ['model.vision_tower.', 'model.embed_vision.soft_embedding_norm.'],
    // a 64 x 64 processor keeps the image's encode cheap; the tower's weights are the same at any size
    preprocessor: { 'preprocessor_config.json': JSON.stringify({ size: { height: 64, width: 64 } }) },
    request: (golden) => {
      const data = new Uint8ClampedArray(4 * 16 * 16).map((_, i) => (i * 37) & 255);
      return {
        messages: [{ role: 'user', content: [{ type: 'image', image: { data, width: 16, height: 16 } as unknown as ImageData }] }],
        prompt_token_ids: ids(golden, 'e2e.prompt_ids'),
        max_tokens: 1,
        temperature: 0,
      };
    },
  },
  {
    fixture: 'gemma3n-tiny-audio-a',
    read: ['model.audio_tower.', 'model.embed_audio.soft_embedding_norm.'],
    preprocessor: {},
    request: (golden) => ({
      messages: [{ role: 'user', content: [{ type: 'audio', audio: tensor(golden, 'wave'), sampleRate: 16000 }] }],
      prompt_token_ids: ids(golden, 'e2e.prompt_ids'),
      max_tokens: 1,
      temperature: 0,
    }),
  },
];

for (const c of CASES) {
  describe(`engine over HTTP, ${c.fixture}: tower bytes counted at the server`, { timeout: GPU_TEST_TIMEOUT }, () => {
    const dir = join(FIXTURES, c.fixture);
    const ranges = tensorRanges(join(dir, 'model.safetensors'));
    let server: ArtifactServer;
    let engine: InThreadEngine;

    beforeAll(async () => {
      const folder = linkFolder(
        { 'config.json': join(dir, 'config.json'), 'model.safetensors': join(dir, 'model.safetensors'), 'tokenizer.json': TOKENIZER_FILE },
        c.preprocessor,
      );
      server = await startArtifactServer({ '/m/': folder });
      engine = nodeEngine().engine;
    }, GPU_TEST_TIMEOUT);
    afterAll(async () => {
      await engine?.unload();
      await server?.close();
    });

    it('the checkpoint holds the tower (the check below is not vacuous)', () => {
      const tower = [...ranges].filter(([n, [a, b]]) => b > a && c.read.some((p) => n.startsWith(p)));
      expect(tower.length).toBeGreaterThan(4);
    });

    it('a text-only load and a text prompt are sent no byte of any tower tensor', async () => {
      await engine.load({ model: `${server.url}/m/`, maxContext: 300 });
      const r = await engine.chat.completions.create({ messages: [], prompt_token_ids: [2, 17, 30], max_tokens: 2, temperature: 0 });
      expect(r.choices[0].token_ids).toHaveLength(2);
      const served = servedRanges(server, SAFETENSORS);
      expect(served.length, 'the text weights did come from this server').toBeGreaterThan(0);
      const textBytes = served.reduce((n, [s, e]) => n + e - s, 0);
      expect(textBytes).toBeGreaterThan(0);
      expect(tensorsTouched(ranges, served, TOWER_ONLY), 'tower tensors whose bytes the server sent').toEqual([]);
    });

    it('the first prompt with the medium reads every byte of its tower', async () => {
      const before = servedRanges(server, SAFETENSORS).length;
      const golden = await loadGolden(join(dir, 'golden.safetensors'));
      const r = await engine.chat.completions.create(c.request(golden));
      expect(r.choices[0].token_ids).toHaveLength(1);
      const after: ByteRange[] = servedRanges(server, SAFETENSORS).slice(before);
      expect(after.length).toBeGreaterThan(0);
      expect(tensorsNotFullyServed(ranges, after, c.read), 'tower tensors not read by the first media prompt').toEqual([]);
      const others = TOWER_ONLY.filter((p) => !c.read.includes(p));
      expect(tensorsTouched(ranges, after, others), 'the other tower stays unread').toEqual([]);
    });
  });
}
