import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { expect, test } from '@playwright/test';
import config from '../playwright.config.ts';
import { mp3Tone } from '../packages/engine/test/mp3-tone.ts';
import { requireFixture } from './fixture-gate.ts';

/**
 * <g3n-chat camera> on a page of another origin (a second port served here), with Chromium's fake
 * camera (its test pattern, the permission prompt accepted): the element's camera captures a snapshot
 * that the bundled tiny vision model reads as 256 image tokens; the microphone attribute shows a mic
 * that this model cannot use, with the reason; window.g3n's engine takes an image part as it is.
 * <g3n-chat microphone> on the tiny audio model records a clip from the fake microphone (a beep) and
 * counts its tokens, and its send(text, parts) takes an MP3 part, decoded by mpg123 in the embed's
 * blob: Worker.
 */
const fixtures = fileURLToPath(new URL('../../shared/fixtures/', import.meta.url));
const SLOW = { timeout: 300_000 };
const baseArgs = config.use?.launchOptions?.args ?? [];

test.use({ launchOptions: { ...config.use?.launchOptions, args: [...baseArgs, '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'] } });

let server: Server;
let pageUrl = '';

test.beforeAll(async ({ baseURL }) => {
  const g3n = new URL(baseURL!).origin;
  const page = (title: string, element: string) => `<!doctype html>
<html lang="en">
  <head><meta charset="utf-8" /><title>${title}</title><script src="${g3n}/embed/g3n-embed.js"></script></head>
  <body>
    <h1>${title}</h1>
    ${element}
  </body>
</html>`;
  // `/`: the camera on the tiny vision model; `/?audio`: the microphone on the tiny audio model.
  const camera = page('Ask about a picture', `<g3n-chat camera model="${g3n}/models/tiny-vision/" max-tokens="2" theme="light"></g3n-chat>`);
  const microphone = page('Ask about a sound', `<g3n-chat microphone model="${g3n}/models/tiny-audio/" max-tokens="1" theme="light"></g3n-chat>`);
  server = createServer((req, res) => {
    if (req.url === '/' || req.url === '/?audio') res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(req.url === '/' ? camera : microphone);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, 'localhost', resolve));
  pageUrl = `http://localhost:${(server.address() as AddressInfo).port}/`;
});

test.afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
});

test('<g3n-chat camera> on another origin: capture -> send counts 256 image tokens; window.g3n takes an image part', async ({ page, baseURL }) => {
  requireFixture(existsSync(`${fixtures}gemma3n-tiny-vision-a/model.safetensors`), 'no tiny vision fixture');
  test.setTimeout(900_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(pageUrl);
  expect(new URL(pageUrl).origin).not.toBe(new URL(baseURL!).origin);
  const chat = page.locator('g3n-chat');

  // Off by default: only the camera attribute is set, so there is no microphone button.
  await expect(chat.getByTestId('mic')).toBeHidden();
  await expect(chat.getByTestId('camera')).toBeDisabled();
  await expect(chat.getByRole('status')).toHaveText('Ready', SLOW);
  await expect(chat.getByTestId('camera')).toBeEnabled();

  // The microphone attribute shows the mic, disabled with the reason: this model has no audio tower.
  await chat.evaluate((el) => el.setAttribute('microphone', ''));
  await expect(chat.getByTestId('mic')).toBeVisible();
  await expect(chat.getByTestId('mic')).toBeDisabled();
  await expect(chat.locator('.why')).toContainText('no audio tower');
  await chat.evaluate((el) => el.removeAttribute('microphone'));
  await expect(chat.getByTestId('mic')).toBeHidden();

  await chat.getByTestId('camera').click();
  await expect(chat.getByTestId('camera-preview')).toBeVisible();
  await expect.poll(() => chat.locator('video').evaluate((v) => (v as HTMLVideoElement).videoWidth)).toBeGreaterThan(0);
  await chat.getByTestId('capture').click();
  await expect(chat.getByTestId('attachment')).toHaveCount(1);
  await expect(chat.getByTestId('attachment')).toHaveAttribute('data-kind', 'image');
  await expect(chat.getByTestId('camera-preview')).toBeHidden();
  const done = page.evaluate(() => new Promise<{ image: number }>((resolve) => document.addEventListener('done', (e) => resolve({ image: (e as CustomEvent).detail.usage.prompt_tokens_details.image_tokens }), { once: true })));
  await chat.getByRole('textbox', { name: 'Message' }).fill('What is in this picture?');
  await chat.getByRole('textbox', { name: 'Message' }).press('Enter');
  const answer = chat.locator('.msg[data-role="assistant"]');
  await expect(answer).toHaveAttribute('data-image-tokens', '256', SLOW);
  expect((await done).image).toBe(256);
  await expect(answer).toHaveAttribute('data-audio-tokens', '0');
  await expect(chat.getByTestId('attachment')).toHaveCount(0);
  await expect(chat.locator('.msg[data-role="user"] .sent-media img')).toHaveCount(1);
  await expect(chat.locator('.msg[data-role="user"]')).toContainText('What is in this picture?');
  await page.screenshot({ path: fileURLToPath(new URL('./screenshots/embed-camera.png', import.meta.url)), fullPage: true });

  // window.g3n: a script's own engine takes the engine's content parts as they are (a PNG data: URL).
  const usage = await page.evaluate(async (model) => {
    const canvas = document.createElement('canvas');
    canvas.width = 96;
    canvas.height = 64;
    const ctx = canvas.getContext('2d')!;
    ctx.fillStyle = '#2a6';
    ctx.fillRect(0, 0, 96, 64);
    ctx.fillStyle = '#c33';
    ctx.fillRect(20, 10, 40, 30);
    const engine = window.g3n.createEngine();
    try {
      await engine.load({ model });
      const r = await engine.chat.completions.create({
        messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: canvas.toDataURL('image/png') } }, { type: 'text', text: 'What colour is the square?' }] }],
        max_tokens: 1,
        temperature: 0,
      });
      return r.usage.prompt_tokens_details;
    } finally {
      engine.terminate();
    }
  }, `${new URL(baseURL!).origin}/models/tiny-vision/`);
  expect(usage).toMatchObject({ image_tokens: 256, audio_tokens: 0 });
  expect(errors).toEqual([]);
});

test('<g3n-chat microphone>: a recorded clip counts its audio tokens; an MP3 part sent through the element is decoded in its Worker', async ({ page }) => {
  requireFixture(existsSync(`${fixtures}gemma3n-tiny-audio-a/model.safetensors`), 'no tiny audio fixture');
  test.setTimeout(600_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${pageUrl}?audio`);
  const chat = page.locator('g3n-chat');
  await expect(chat.getByTestId('camera')).toBeHidden();
  await expect(chat.getByRole('status')).toHaveText('Ready', SLOW);

  await chat.getByTestId('mic').click();
  await expect(chat.getByTestId('mic')).toHaveAttribute('aria-pressed', 'true');
  await expect(chat.getByTestId('elapsed')).toHaveText(/^[1-9]\.\d s$/, { timeout: 30_000 });
  await chat.getByTestId('mic').click();
  await expect(chat.getByTestId('attachment')).toHaveCount(1);
  await expect(chat.getByTestId('attachment')).toHaveAttribute('data-kind', 'audio');
  await chat.getByRole('textbox', { name: 'Message' }).fill('What do you hear?');
  await chat.getByRole('textbox', { name: 'Message' }).press('Enter');
  const answer = chat.locator('.msg[data-role="assistant"]');
  await expect(answer.first()).toHaveAttribute('data-audio-tokens', /^\d+$/, SLOW);
  // 16 positions per clip of at most 2.58 s in the tiny fixture: a longer recording is more clips.
  const recorded = Number(await answer.first().getAttribute('data-audio-tokens'));
  expect(recorded).toBeGreaterThan(0);
  expect(recorded % 16).toBe(0);

  // 1.5 s of 440 Hz at 22.05 kHz as MP3 (resampled in the Worker): one more clip of 16 tokens, and
  // bytes that are no MP3 are an AudioDecodeError.
  const data = mp3Tone(440, 1.5, 22050, 1, 48);
  const result = await chat.evaluate(async (el, data) => {
    type Chat = HTMLElement & { send(text: string, parts: unknown[]): Promise<string> };
    const chat = el as Chat;
    const done = new Promise<number>((resolve) => chat.addEventListener('done', (e) => resolve((e as CustomEvent).detail.usage.prompt_tokens_details.audio_tokens), { once: true }));
    await chat.send('And this?', [{ type: 'input_audio', input_audio: { data, format: 'mp3' } }]);
    const audio = await done;
    const failed = new Promise<{ name: string; code: string | null }>((resolve) => chat.addEventListener('error', (e) => resolve((e as unknown as CustomEvent).detail), { once: true }));
    await chat.send('And this?', [{ type: 'input_audio', input_audio: { data: btoa('no mp3 here, only text '.repeat(20)), format: 'mp3' } }]).catch(() => undefined);
    return { audio, bad: await failed };
  }, data);
  // The second turn's prompt holds the recorded clip again and the MP3's one clip.
  expect(result.audio).toBe(recorded + 16);
  expect(result.bad).toMatchObject({ name: 'AudioDecodeError', code: 'BAD_INPUT' });
  await expect(answer).toHaveCount(3);
  await page.screenshot({ path: fileURLToPath(new URL('./screenshots/embed-microphone.png', import.meta.url)), fullPage: true });
  expect(errors).toEqual([]);
});
