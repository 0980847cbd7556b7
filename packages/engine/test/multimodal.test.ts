import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTextModel, loadVisionTower, parseConfig } from '@g3n/gemma3n';
import { encodeWav } from '@g3n/preprocess';
import { openModelDir } from '@g3n/weights';
import { nodeFileSource } from '@g3n/weights/node';
import { testGpu } from '../../kernels/test/util.ts';
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

/**
 * The image path at 64 x 64 pixels (a crop of the golden image, as 8-bit levels; the processor set to
 * 64 x 64 keeps them): the engine's greedy ids are those of the vision tower and text model run
 * in-process on the same pixels. The 512 x 512 end-to-end goldens are checked on the tower and model
 * directly (packages/gemma3n/test/vision.test.ts) and through `g3n encode-image`; repeating that encode
 * here would prove nothing new.
 */
describe('engine: image parts on gemma3n-tiny-vision-a', { timeout: 2 * GPU_TEST_TIMEOUT }, () => {
  const S = 64;
  const dir = join(FIXTURES, 'gemma3n-tiny-vision-a');
  let engine: InThreadEngine;
  let server: { base: string; close(): Promise<void> };
  let golden: Map<string, GoldenTensor>;

  beforeAll(async () => {
    golden = await loadGolden(join(dir, 'golden.safetensors'));
    const preprocessor = new TextEncoder().encode(JSON.stringify({ size: { height: S, width: S } }));
    server = await serveFiles(fixtureFiles('gemma3n-tiny-vision-a', { '/m/preprocessor_config.json': preprocessor }));
    engine = nodeEngine().engine;
    await engine.load({ model: `${server.base}m/`, maxContext: 300 });
  }, GPU_TEST_TIMEOUT);
  afterAll(async () => {
    await engine?.unload();
    await server?.close();
  });

  it('an ImageData-like image gives the greedy ids of the tower and model run in-process', async () => {
    const px = tensor(golden, 'pixel_values');
    const levels = new Uint8ClampedArray(4 * S * S);
    const pixels = new Float32Array(3 * S * S);
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        for (let c = 0; c < 3; c++) {
          const level = Math.round(px[(c * 512 + 200 + y) * 512 + 180 + x] * 255);
          levels[4 * (y * S + x) + c] = level;
          pixels[(c * S + y) * S + x] = level / 255;
        }
        levels[4 * (y * S + x) + 3] = 255;
      }
    }
    const prompt = ids(golden, 'e2e.prompt_ids');
    const steps = 4;

    // In-process: greedy over the text vocabulary (ids below vocab_size_per_layer_input, those the
    // engine's sampler draws), up to the first step whose top two logits are too close to call.
    const gpu = await testGpu();
    const weights = await openModelDir(nodeFileSource(dir));
    const cfg = parseConfig(weights.config);
    const tower = await loadVisionTower(gpu, cfg, weights);
    const model = await loadTextModel(gpu, weights, { maxContext: prompt.length + steps, maxChunk: prompt.length });
    const want: number[] = [];
    try {
      const [enc] = await tower.encode([{ data: pixels, shape: [3, S, S] }]);
      const { logits } = await model.prefill(prompt, { softTokens: [{ tokenId: cfg.imageTokenId!, embeds: enc.softTokens, count: tower.config.tokensPerImage }] });
      enc.softTokens.buffer.destroy();
      const textVocab = cfg.text.vocabSizePerLayerInput;
      let last = logits.subarray(logits.length - model.cfg.vocabSize);
      for (let step = 0; step < steps; step++) {
        const order = [...last.subarray(0, textVocab).keys()].sort((a, b) => last[b] - last[a]);
        if (last[order[0]] - last[order[1]] < 1e-3) break;
        want.push(order[0]);
        if (step + 1 < steps) last = await model.decode(order[0]);
      }
    } finally {
      model.destroy();
      tower.destroy();
    }
    expect(want.length).toBeGreaterThan(0);

    const r = await engine.chat.completions.create({
      messages: [{ role: 'user', content: [{ type: 'image', image: { data: levels, width: S, height: S } as unknown as ImageData }] }],
      prompt_token_ids: prompt,
      max_tokens: want.length,
      temperature: 0,
    });
    expect(r.choices[0].token_ids).toEqual(want);
    expect(r.usage.prompt_tokens_details.image_tokens).toBe(256);
  });
});
