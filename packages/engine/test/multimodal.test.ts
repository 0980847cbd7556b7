import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeWav } from '@g3n/preprocess';
import { FIXTURES, ids, loadGolden, tensor, type GoldenTensor } from '../../gemma3n/test/golden.ts';
import type { InThreadEngine } from '../src/engine.ts';
import type { LoadProgress } from '../src/types.ts';
import { GPU_TEST_TIMEOUT, nodeEngine, serveFiles, TOKENIZER_FILE } from './helpers.ts';
import { mp3Base64, toInt16 } from './mp3-tone.ts';

/**
 * Images and audio through the engine API, on the multimodal tiny fixtures: the parts are decoded,
 * preprocessed and encoded by the towers (loaded on first use), their soft tokens fill the prompt's
 * placeholders, and greedy generation gives the fixtures' end-to-end golden ids.
 */
function fixtureFiles(name: string, extra: Record<string, string | Uint8Array> = {}): Record<string, string | Uint8Array> {
  const dir = join(FIXTURES, name);
  return {
    '/m/config.json': join(dir, 'config.json'),
    '/m/model.safetensors': join(dir, 'model.safetensors'),
    '/m/tokenizer.json': TOKENIZER_FILE,
    ...extra,
  };
}

describe('engine: audio parts on gemma3n-tiny-audio-a', { timeout: GPU_TEST_TIMEOUT }, () => {
  let engine: InThreadEngine;
  let server: { base: string; close(): Promise<void> };
  let golden: Map<string, GoldenTensor>;
  const progress: LoadProgress[] = [];

  beforeAll(async () => {
    const dir = join(FIXTURES, 'gemma3n-tiny-audio-a');
    golden = await loadGolden(join(dir, 'golden.safetensors'));
    server = await serveFiles(fixtureFiles('gemma3n-tiny-audio-a', { '/m/preprocessor_config.json': join(dir, 'preprocessor_config.json') }));
    engine = nodeEngine().engine;
    await engine.load({ model: `${server.base}m/`, maxContext: 64, onProgress: (p) => progress.push(p) });
  }, GPU_TEST_TIMEOUT);
  afterAll(async () => {
    await engine?.unload();
    await server?.close();
  });

  it('a text-only load reads no tower; the first clip loads the audio tower with progress', async () => {
    expect(progress.some((p) => p.tower !== undefined)).toBe(false);
    const wave = tensor(golden, 'wave');
    const prompt = ids(golden, 'e2e.prompt_ids');
    const want = ids(golden, 'e2e.generated_ids');
    const request = {
      messages: [{ role: 'user' as const, content: [{ type: 'audio' as const, audio: wave, sampleRate: 16000 }] }],
      prompt_token_ids: prompt,
      max_tokens: want.length,
      temperature: 0,
    };
    const r = await engine.chat.completions.create(request);
    expect(r.choices[0].token_ids).toEqual(want);
    expect(r.usage.prompt_tokens_details).toEqual({ cached_tokens: 0, image_tokens: 0, audio_tokens: 16 });
    const tower = progress.filter((p) => p.tower === 'audio');
    expect(tower.some((p) => p.phase === 'download' && p.totalBytes > 0)).toBe(true);
    expect(tower.at(-1)?.phase).toBe('ready');

    // the same clip again: its soft tokens are in the cache, only the last prompt token runs
    const again = await engine.chat.completions.create(request);
    expect(again.choices[0].token_ids).toEqual(want);
    expect(again.usage.prefilled_tokens).toBe(1);
  });

  it('another clip in the same place is encoded anew, never served from the cache', async () => {
    const prompt = ids(golden, 'e2e.prompt_ids');
    const other = tensor(golden, 'batch.wave.1');
    const r = await engine.chat.completions.create({
      messages: [{ role: 'user', content: [{ type: 'audio', audio: other }] }],
      prompt_token_ids: prompt,
      max_tokens: 1,
      temperature: 0,
    });
    expect(r.usage.prefilled_tokens).toBe(prompt.length - prompt.indexOf(1009));
  });

  it('a chat message with a WAV clip expands to its placeholder run and counts its tokens', async () => {
    const wav = encodeWav([tensor(golden, 'wave')], 16000, 'float32');
    const data = Buffer.from(wav).toString('base64');
    const r = await engine.chat.completions.create({
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }, { type: 'input_audio', input_audio: { data, format: 'wav' } }] }],
      max_tokens: 2,
      temperature: 0,
    });
    expect(r.usage.prompt_tokens_details.audio_tokens).toBe(16);
    expect(r.usage.prompt_tokens).toBeGreaterThan(16);
  });

  it('an MP3 clip (input_audio, format mp3) is decoded in the engine and counts its tokens', async () => {
    // the golden wave as 16 kHz mono MP3 (LAME, 64 kbps): the same placeholder run as the WAV
    const data = mp3Base64([toInt16(tensor(golden, 'wave'))], 16000, 64);
    const r = await engine.chat.completions.create({
      messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data, format: 'mp3' } }, { type: 'text', text: 'Hi' }] }],
      max_tokens: 1,
      temperature: 0,
    });
    expect(r.usage.prompt_tokens_details.audio_tokens).toBe(16);
  });

  it('refuses undecodable audio and more clips than placeholders with typed errors', async () => {
    const bad = { type: 'input_audio' as const, input_audio: { data: Buffer.from('not a wav').toString('base64'), format: 'wav' as const } };
    await expect(engine.chat.completions.create({ messages: [{ role: 'user', content: [bad] }], max_tokens: 1 })).rejects.toMatchObject({ code: 'BAD_INPUT' });
    const wave = tensor(golden, 'wave');
    const two = [{ type: 'audio' as const, audio: wave }, { type: 'audio' as const, audio: wave }];
    await expect(
      engine.chat.completions.create({ messages: [{ role: 'user', content: two }], prompt_token_ids: ids(golden, 'e2e.prompt_ids'), max_tokens: 1 }),
    ).rejects.toMatchObject({ code: 'BAD_INPUT' });
    // the engine still answers
    const r = await engine.chat.completions.create({ messages: [], prompt_token_ids: [2, 17], max_tokens: 1, temperature: 0 });
    expect(r.choices[0].token_ids.length).toBe(1);
  });
});

describe('engine: image parts on gemma3n-tiny-vision-a', { timeout: 2 * GPU_TEST_TIMEOUT }, () => {
  let engine: InThreadEngine;
  let server: { base: string; close(): Promise<void> };
  let golden: Map<string, GoldenTensor>;
  let meta: { e2e_generated_ids: number[] };

  beforeAll(async () => {
    const dir = join(FIXTURES, 'gemma3n-tiny-vision-a');
    golden = await loadGolden(join(dir, 'golden.safetensors'));
    meta = JSON.parse(await (await import('node:fs/promises')).readFile(join(dir, 'golden.json'), 'utf8'));
    // the golden pixel_values are 8-bit levels of a 512 x 512 image: the processor at 512 x 512 keeps them
    const preprocessor = new TextEncoder().encode(JSON.stringify({ size: { height: 512, width: 512 } }));
    server = await serveFiles(fixtureFiles('gemma3n-tiny-vision-a', { '/m/preprocessor_config.json': preprocessor }));
    engine = nodeEngine().engine;
    await engine.load({ model: `${server.base}m/`, maxContext: 300 });
  }, GPU_TEST_TIMEOUT);
  afterAll(async () => {
    await engine?.unload();
    await server?.close();
  });

  it('an ImageData-like image gives the golden greedy ids (those the sampler may draw)', async () => {
    const px = tensor(golden, 'pixel_values');
    const n = 512 * 512;
    const data = new Uint8ClampedArray(4 * n);
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < 3; c++) data[4 * i + c] = Math.round(px[c * n + i] * 255);
      data[4 * i + 3] = 255;
    }
    const prompt = ids(golden, 'e2e.prompt_ids');
    // Generation draws from the text vocabulary (ids below vocab_size_per_layer_input, 480 here): the
    // golden's ids up to the first one outside it are comparable.
    const want = meta.e2e_generated_ids.slice(0, meta.e2e_generated_ids.findIndex((id) => id >= 480));
    const r = await engine.chat.completions.create({
      messages: [{ role: 'user', content: [{ type: 'image', image: { data, width: 512, height: 512 } as unknown as ImageData }] }],
      prompt_token_ids: prompt,
      max_tokens: want.length,
      temperature: 0,
    });
    expect(want.length).toBeGreaterThan(0);
    expect(r.choices[0].token_ids).toEqual(want);
    expect(r.usage.prompt_tokens_details.image_tokens).toBe(256);
  });
});
