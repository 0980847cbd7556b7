import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test, type Page } from '@playwright/test';
import config from '../playwright.config.ts';
import { requireFixture } from './fixture-gate.ts';

/**
 * Camera and microphone in the demo, in Chromium with its fake capture devices (a test pattern and a
 * beep): a snapshot sent to the bundled tiny vision model counts 256 image tokens, a recorded clip sent
 * to the tiny audio model counts the tokens of its length (a denied permission:
 * demo-media-denied.spec.ts). Each flow runs online once, then again after a reload with the network
 * off: the model and its tower come from the weights cache, and no request for the model's files
 * leaves the browser. One pass runs on a desktop window (1280 x 800), the other on a phone's
 * (390 x 844, where the preview, capture and record buttons must lie in the viewport); screenshots of
 * both flows at both sizes land in e2e/screenshots (copies in docs/screenshots, shown in the README).
 */
const fixtures = fileURLToPath(new URL('../../shared/fixtures/', import.meta.url));
const screenshots = fileURLToPath(new URL('./screenshots/', import.meta.url));
const SLOW = { timeout: 300_000 };
const baseArgs = config.use?.launchOptions?.args ?? [];
/**
 * The tiny audio model's longest clip: its 16 soft tokens per clip cover 16 x 16 log-mel frames (SSCP
 * time strides 2 x 2, conf_reduction_factor 4) of 513-sample windows at a 160-sample hop, at 16 kHz.
 */
const TOKENS_PER_CLIP = 16;
const CLIP_SECONDS = ((TOKENS_PER_CLIP * 16 - 1) * 160 + 513) / 16000;
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

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

/** Wait until the service worker is active (it precached the app shell while installing). */
async function serviceWorkerActive(page: Page): Promise<void> {
  await page.evaluate(async () => {
    const reg = await navigator.serviceWorker.ready;
    if (!reg.active) throw new Error('no active service worker');
  });
}

/** Every request for the bundled models' files, from the page and its engine Worker. */
function modelRequests(page: Page): string[] {
  const urls: string[] = [];
  page.context().on('request', (r) => {
    if (new URL(r.url()).pathname.startsWith('/models/')) urls.push(new URL(r.url()).pathname);
  });
  return urls;
}

/**
 * What the load panel says of the tower's bytes once the first image or clip loaded it: some downloaded
 * online; offline, none downloaded and all from the weights cache.
 */
async function expectTowerTraffic(page: Page, tower: 'Vision' | 'Audio', offline: boolean): Promise<void> {
  const traffic = page.getByTestId('traffic');
  if (offline) await expect(traffic).toContainText(new RegExp(`^${tower} tower: Downloaded 0 B · from the cache [\\d.]+ [kM]B\\.`));
  else await expect(traffic).toContainText(new RegExp(`^${tower} tower: Downloaded [\\d.]+ [kM]B · from the cache`));
}

/** Turn the network off and reload: the app shell comes from the service worker, the model from the weights cache. */
async function reloadOffline(page: Page, viewport: { width: number; height: number }): Promise<void> {
  await serviceWorkerActive(page);
  await page.context().setOffline(true);
  await page.setViewportSize(viewport);
  await page.reload();
  await waitReady(page);
  await expect(page.getByTestId('traffic')).toContainText('Downloaded 0 B');
}

test.use({ launchOptions: { ...config.use?.launchOptions, args: [...baseArgs, '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'] } });


/** Camera -> capture -> send; the answer counts 256 image tokens. `shot` names the screenshots. */
async function cameraFlow(page: Page, shot: string, phone: boolean, offline: boolean): Promise<void> {
  await page.getByTestId('camera').click();
  await expect(page.getByTestId('camera-preview')).toBeVisible();
  await expect.poll(() => page.locator('#camera-video').evaluate((v) => (v as HTMLVideoElement).videoWidth)).toBeGreaterThan(0);
  if (phone) {
    await expect(page.locator('#camera-video')).toBeInViewport({ ratio: 0.5 });
    await expect(page.getByTestId('capture')).toBeInViewport({ ratio: 1 });
  }
  await page.screenshot({ path: `${screenshots}camera-preview-${shot}.png` });
  await page.getByTestId('capture').click();
  await expect(page.getByTestId('attachment')).toHaveCount(1);
  await expect(page.getByTestId('attachment')).toHaveAttribute('data-kind', 'image');
  await sendAndWait(page, 'What is in this picture?');
  await expect(page.getByTestId('answer')).toHaveAttribute('data-image-tokens', '256');
  await expectTowerTraffic(page, 'Vision', offline);
  await expect(page.getByTestId('attachment')).toHaveCount(0);
  await expect(page.locator('.sent-media img')).toHaveCount(1);
  await page.screenshot({ path: `${screenshots}camera-answer-${shot}.png` });
}

test('camera -> capture -> send: 256 image tokens, on a desktop, then offline after a reload on a phone', async ({ page }) => {
  requireFixture(existsSync(`${fixtures}gemma3n-tiny-vision-a/model.safetensors`), 'no tiny vision fixture');
  test.setTimeout(900_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const requests = modelRequests(page);
  await page.setViewportSize(DESKTOP);
  await page.goto('/?model=tiny-vision');
  await waitReady(page);
  await expect(page.getByTestId('mic')).toBeDisabled();
  await expect(page.locator('#media-why')).toContainText('no audio tower');
  const loadRequests = requests.length;
  await cameraFlow(page, 'desktop', false, false);
  // The first image read the vision tower's bytes, seen here: so the offline count below can see them too.
  expect(requests.slice(loadRequests).filter((u) => u.endsWith('/model.safetensors')).length).toBeGreaterThan(0);

  await reloadOffline(page, PHONE);
  const online = requests.length;
  await cameraFlow(page, 'phone', true, true);
  expect(requests.slice(online)).toEqual([]);
  expect(errors).toEqual([]);
});

/** Mic -> record about 2 s -> stop -> send; the answer counts the clip's audio tokens. */
async function micFlow(page: Page, shot: string, phone: boolean, offline: boolean): Promise<void> {
  if (phone) await expect(page.getByTestId('mic')).toBeInViewport({ ratio: 1 });
  await page.getByTestId('mic').click();
  await expect(page.getByTestId('mic')).toHaveAttribute('aria-pressed', 'true');
  await expect(page.getByTestId('elapsed')).toHaveText(/^[2-9]\.\d s$/, { timeout: 30_000 });
  if (phone) await expect(page.getByTestId('mic')).toBeInViewport({ ratio: 1 });
  await page.screenshot({ path: `${screenshots}microphone-recording-${shot}.png` });
  await page.getByTestId('mic').click();
  await expect(page.getByTestId('attachment')).toHaveCount(1);
  await expect(page.getByTestId('attachment')).toHaveAttribute('data-kind', 'audio');
  const label = await page.getByTestId('attachment').textContent();
  const seconds = Number(/audio clip, ([\d.]+) s/.exec(label ?? '')?.[1]);
  expect(seconds, label ?? '').toBeGreaterThanOrEqual(2);
  await sendAndWait(page, 'What do you hear?');
  // A clip longer than the model's soft tokens cover is split into clips of at most CLIP_SECONDS (2.58 s),
  // each counted: the label rounds to 0.1 s, so either count on its two sides is the one the clip implies.
  const audioTokens = Number(await page.getByTestId('answer').getAttribute('data-audio-tokens'));
  const implied = [seconds - 0.05, seconds + 0.05].map((s) => TOKENS_PER_CLIP * Math.ceil(s / CLIP_SECONDS));
  expect(implied, `${audioTokens} audio tokens for ${seconds} s`).toContain(audioTokens);
  await expectTowerTraffic(page, 'Audio', offline);
  await page.screenshot({ path: `${screenshots}microphone-answer-${shot}.png` });
}

test("mic -> record about 2 s -> stop -> send: the clip's audio tokens, on a phone, then offline after a reload on a desktop", async ({ page }) => {
  requireFixture(existsSync(`${fixtures}gemma3n-tiny-audio-a/model.safetensors`), 'no tiny audio fixture');
  test.setTimeout(900_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const requests = modelRequests(page);
  await page.setViewportSize(PHONE);
  await page.goto('/?model=tiny-audio');
  await waitReady(page);
  await expect(page.getByTestId('camera')).toBeDisabled();
  const loadRequests = requests.length;
  await micFlow(page, 'phone', true, false);
  expect(requests.slice(loadRequests).filter((u) => u.endsWith('/model.safetensors')).length).toBeGreaterThan(0);

  await reloadOffline(page, DESKTOP);
  const online = requests.length;
  await micFlow(page, 'desktop', false, true);
  expect(requests.slice(online)).toEqual([]);
  expect(errors).toEqual([]);
});
