import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test, type Page } from '@playwright/test';
import config from '../playwright.config.ts';
import { requireFixture } from './fixture-gate.ts';

/**
 * Camera and microphone in the demo, in Chromium with its fake capture devices (a test pattern and a
 * beep): a snapshot sent to the bundled tiny vision model counts 256 image tokens, a recorded clip sent
 * to the tiny audio model counts the tokens of its length (a denied permission:
 * demo-media-denied.spec.ts). Screenshots of both flows, desktop and phone, land in e2e/screenshots.
 */
const fixtures = fileURLToPath(new URL('../../shared/fixtures/', import.meta.url));
const screenshots = fileURLToPath(new URL('./screenshots/', import.meta.url));
const SLOW = { timeout: 300_000 };
const baseArgs = config.use?.launchOptions?.args ?? [];

async function waitReady(page: Page): Promise<void> {
  await expect(page.getByTestId('status')).toHaveText('ready', SLOW);
}

async function sendAndWait(page: Page, text: string): Promise<void> {
  await page.locator('details.options').evaluate((d) => ((d as HTMLDetailsElement).open = true));
  await page.getByLabel('Longest answer (tokens)').fill('2');
  await page.getByTestId('prompt').fill(text);
  await page.getByTestId('send').click();
  await expect(page.getByTestId('answer')).toHaveAttribute('data-prompt-tokens', /\d+/, SLOW);
}

test.use({ launchOptions: { ...config.use?.launchOptions, args: [...baseArgs, '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'] } });


test('camera -> capture -> send: the answer counts 256 image tokens', async ({ page }) => {
  requireFixture(existsSync(`${fixtures}gemma3n-tiny-vision-a/model.safetensors`), 'no tiny vision fixture');
  test.setTimeout(900_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.setViewportSize({ width: 1280, height: 860 });
  await page.goto('/?model=tiny-vision');
  await waitReady(page);
  await expect(page.getByTestId('mic')).toBeDisabled();
  await expect(page.locator('#media-why')).toContainText('no audio tower');
  await page.getByTestId('camera').click();
  await expect(page.getByTestId('camera-preview')).toBeVisible();
  await expect.poll(() => page.locator('#camera-video').evaluate((v) => (v as HTMLVideoElement).videoWidth)).toBeGreaterThan(0);
  await page.screenshot({ path: `${screenshots}camera-preview-desktop.png` });
  await page.getByTestId('capture').click();
  await expect(page.getByTestId('attachment')).toHaveCount(1);
  await expect(page.getByTestId('attachment')).toHaveAttribute('data-kind', 'image');
  await sendAndWait(page, 'What is in this picture?');
  await expect(page.getByTestId('answer')).toHaveAttribute('data-image-tokens', '256');
  await expect(page.getByTestId('attachment')).toHaveCount(0);
  await expect(page.locator('.sent-media img')).toHaveCount(1);
  await page.screenshot({ path: `${screenshots}camera-answer-desktop.png` });
  expect(errors).toEqual([]);
});

test('mic -> record about 2 s -> stop -> send, on a phone: the answer counts the clip\'s audio tokens', async ({ page }) => {
  requireFixture(existsSync(`${fixtures}gemma3n-tiny-audio-a/model.safetensors`), 'no tiny audio fixture');
  test.setTimeout(900_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto('/?model=tiny-audio');
  await waitReady(page);
  await expect(page.getByTestId('camera')).toBeDisabled();
  await page.getByTestId('mic').click();
  await expect(page.getByTestId('mic')).toHaveAttribute('aria-pressed', 'true');
  await expect(page.getByTestId('elapsed')).toHaveText(/^[2-9]\.\d s$/, { timeout: 30_000 });
  await page.screenshot({ path: `${screenshots}microphone-recording-phone.png` });
  await page.getByTestId('mic').click();
  await expect(page.getByTestId('attachment')).toHaveCount(1);
  await expect(page.getByTestId('attachment')).toHaveAttribute('data-kind', 'audio');
  await sendAndWait(page, 'What do you hear?');
  // Each clip takes audio_soft_tokens_per_image positions (16 in the tiny fixture, whose 16 tokens cover
  // 2.58 s: a recording that ran longer on a slow machine is split into more clips, each counted).
  const audioTokens = Number(await page.getByTestId('answer').getAttribute('data-audio-tokens'));
  expect(audioTokens).toBeGreaterThan(0);
  expect(audioTokens % 16).toBe(0);
  await page.screenshot({ path: `${screenshots}microphone-answer-phone.png` });
  expect(errors).toEqual([]);
});
