import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { encodeChat, encodeWav, Tokenizer } from '@g3n/preprocess';
import { FIXTURES, loadGolden, tensor } from '../../gemma3n/test/golden.ts';

const exec = promisify(execFile);
const ROOT = join(import.meta.dirname, '../../..');
const TOKENIZERS = join(ROOT, 'packages/preprocess/test/fixtures');

interface ChatJson {
  content: string;
  token_ids: number[];
  finish_reason: string;
  usage: { prompt_tokens: number; completion_tokens: number; prompt_tokens_details: { image_tokens: number; audio_tokens: number } };
}

async function chat(args: string[]): Promise<ChatJson> {
  const { stdout } = await exec('node', ['--import', 'tsx', '--import', './tools/wgsl-raw-hook.mjs', 'packages/cli/src/main.ts', 'chat', '--json', ...args], { cwd: ROOT, timeout: 600_000 });
  return JSON.parse(stdout) as ChatJson;
}

describe('g3n chat (one turn through the engine API)', { timeout: 900_000 }, () => {
  it('answers a text prompt with the chat format: deterministic at temperature 0, prompt counted', async () => {
    const tokenizer = join(TOKENIZERS, 'tiny-tokenizer.json');
    const args = ['--model', join(FIXTURES, 'gemma3n-tiny-a'), '--tokenizer', tokenizer, '--prompt', 'Hello there', '--max-tokens', '3', '--temperature', '0'];
    const a = await chat(args);
    const tok = Tokenizer.fromJSON(JSON.parse(await readFile(tokenizer, 'utf8')) as object);
    const prompt = encodeChat(tok, [{ role: 'user', content: [{ type: 'text', text: 'Hello there' }] }], { addGenerationPrompt: true });
    expect(a.usage.prompt_tokens).toBe(prompt.length);
    expect(a.usage.completion_tokens).toBe(a.token_ids.length);
    expect(a.token_ids.length).toBeGreaterThan(0);
    expect(a.token_ids).toEqual((await chat(args)).token_ids);
  });

  it('answers an image prompt on gemma3n-tiny-vision-a (a PNG through the vision tower, 256 image tokens)', async () => {
    const golden = await loadGolden(join(FIXTURES, 'gemma3n-tiny-vision-a', 'golden.safetensors'));
    const px = tensor(golden, 'pixel_values');
    const n = 512 * 512;
    const png = new PNG({ width: 512, height: 512 });
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < 3; c++) png.data[4 * i + c] = Math.round(px[c * n + i] * 255);
      png.data[4 * i + 3] = 255;
    }
    const dir = await mkdtemp(join(tmpdir(), 'g3n-chat-'));
    const file = join(dir, 'image.png');
    await writeFile(file, PNG.sync.write(png));
    // the checkpoint with the demo's processor settings for it (128 x 128: an encode in seconds on the software adapter)
    const model = join(dir, 'model');
    await mkdir(model);
    for (const f of ['config.json', 'model.safetensors']) await copyFile(join(FIXTURES, 'gemma3n-tiny-vision-a', f), join(model, f));
    await copyFile(join(ROOT, 'tools/tiny-vision-preprocessor.json'), join(model, 'preprocessor_config.json'));
    const r = await chat(['--model', model, '--tokenizer', join(TOKENIZERS, 'tiny-tokenizer-512.json'), '--prompt', 'What is this?', '--image', file, '--max-tokens', '2', '--temperature', '0']);
    expect(r.usage.prompt_tokens_details.image_tokens).toBe(256);
    expect(r.usage.prompt_tokens).toBeGreaterThan(256);
    expect(r.usage.completion_tokens).toBeGreaterThan(0);
  });

  it('answers an audio prompt on gemma3n-tiny-audio-a (a 48 kHz WAV resampled, its clip\'s tokens counted)', async () => {
    const golden = await loadGolden(join(FIXTURES, 'gemma3n-tiny-audio-a', 'golden.safetensors'));
    const wave = tensor(golden, 'wave');
    // the same 2 s at 48 kHz (sample and hold), as a microphone would record it
    const at48 = new Float32Array(wave.length * 3);
    for (let i = 0; i < at48.length; i++) at48[i] = wave[Math.floor(i / 3)];
    const file = join(await mkdtemp(join(tmpdir(), 'g3n-chat-')), 'clip.wav');
    await writeFile(file, encodeWav([at48], 48_000, 'pcm16'));
    const r = await chat(['--model', join(FIXTURES, 'gemma3n-tiny-audio-a'), '--tokenizer', join(TOKENIZERS, 'tiny-tokenizer.json'), '--prompt', 'Transcribe', '--audio', file, '--max-tokens', '2', '--temperature', '0']);
    // audio_soft_tokens_per_image of the fixture's config
    expect(r.usage.prompt_tokens_details.audio_tokens).toBe(16);
    expect(r.usage.completion_tokens).toBeGreaterThan(0);
  });
});
