/**
 * What a user meets first, on a phone (390 x 844): a Load that fails (a server without CORS) keeps the
 * model that was working, says what the server must allow without naming files the user never asked
 * for, and shows the error where the user is looking, focused; the Model panel describes the chosen
 * model; the "Load a model" hint goes once one is ready; the log follows the latest stats line and
 * scrolls inside a one-screen chat, so the message box stays on screen; a long cached URL keeps its
 * Delete button inside the card.
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { expect, test, type Locator, type Page } from '@playwright/test';
import { requireFixture } from './fixture-gate.ts';

const fixture = fileURLToPath(new URL('../../shared/fixtures/gemma3n-tiny-a/', import.meta.url));
const SLOW = { timeout: 300_000 };
const PHONE = { width: 390, height: 844 };

/** A server on another origin that answers every request without CORS headers, as most file servers do. */
async function serverWithoutCors(): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => res.writeHead(req.method === 'HEAD' ? 200 : 404, { 'Content-Length': '0' }).end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/model/`, server };
}

async function inViewport(page: Page, el: Locator): Promise<boolean> {
  const box = await el.boundingBox();
  const vp = page.viewportSize()!;
  return box !== null && box.y >= 0 && box.y + box.height <= vp.height && box.x >= 0 && box.x + box.width <= vp.width;
}

test('phone: a failed Load keeps the working model, says CORS, and shows the error in view; the chat scrolls, not the page', async ({ page }) => {
  requireFixture(existsSync(`${fixture}model.safetensors`), `no fixture at ${fixture}: the build has no tiny model`);
  test.setTimeout(900_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const { url, server } = await serverWithoutCors();
  try {
    await page.setViewportSize(PHONE);
    await page.goto('/?model=tiny');
    await expect(page.getByTestId('status')).toHaveText('ready', SLOW);
    await expect(page.locator('#empty')).not.toContainText('Load a model');
    await expect(page.locator('#empty')).toContainText('Ask something');

    // The Model panel describes the choice, not the bundled tiny model.
    const info = page.getByTestId('model');
    await expect(info).toContainText('8 layers, hidden size 128');
    await page.getByLabel('Gemma 3n E2B').check();
    await expect(info).toContainText('google/gemma-3n-E2B-it');
    await expect(info).not.toContainText('hidden size 128');
    await page.getByLabel('Custom URL').check();
    await page.getByLabel('Custom model URL').fill(url);
    await expect(info).toContainText(url);
    await expect(info).not.toContainText('hidden size 128');

    // Load from a server that sends no CORS headers: the error says so, in view and focused; the tiny model stays.
    await page.getByTestId('load').scrollIntoViewIfNeeded();
    await page.getByTestId('load').click();
    const message = page.getByTestId('message');
    await expect(message).toContainText('must allow this origin', SLOW);
    await expect(message).toContainText('CORS');
    await expect(message).toContainText(new URL(url).origin);
    await expect(message).not.toContainText(/manifest\.json|config\.json|safetensors/);
    await expect(message).toContainText('Still using Tiny demo model');
    await expect(message).toBeFocused();
    expect(await inViewport(page, message)).toBe(true);
    await expect(page.getByTestId('status')).toHaveText('ready');
    await expect(page.getByTestId('model-name')).toContainText('Tiny demo model: 8 layers');

    // The kept model answers; the log follows the answer down to its stats line.
    await page.locator('details.options').evaluate((d) => ((d as HTMLDetailsElement).open = true));
    await page.getByLabel('Longest answer (tokens)').fill('3');
    await page.getByTestId('prompt').fill('Hello');
    await page.getByTestId('prompt').press('Enter');
    await expect(page.getByTestId('stats').last()).toContainText('3 tokens', SLOW);
    const log = page.getByTestId('log');
    await expect.poll(() => log.evaluate((l) => l.scrollHeight - l.scrollTop - l.clientHeight)).toBeLessThanOrEqual(1);

    // Many turns later the page is no taller: the log scrolls inside a one-screen chat and the message box stays on screen.
    const pageHeight = () => page.evaluate(() => document.documentElement.scrollHeight);
    const before = await pageHeight();
    await log.evaluate((l) => {
      for (let i = 0; i < 40; i++) {
        const li = document.createElement('li');
        li.className = 'msg';
        li.textContent = `An earlier turn of a long conversation, number ${i}.`;
        l.prepend(li);
      }
    });
    expect(await pageHeight()).toBe(before);
    expect(await log.evaluate((l) => l.scrollHeight > l.clientHeight)).toBe(true);
    await page.getByTestId('prompt').scrollIntoViewIfNeeded();
    expect(await inViewport(page, page.getByTestId('prompt'))).toBe(true);
    expect(await inViewport(page, log)).toBe(true);
    expect(errors).toEqual([]);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test('phone: the Delete button of a long custom-URL entry stays inside its card', async ({ page }) => {
  await page.setViewportSize(PHONE);
  await page.goto('/?model=none');
  const id = `https://models.example.org/${'averylongfoldernamewithoutanyplacetobreak'.repeat(4)}/`;
  await page.evaluate(async (model) => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const open = indexedDB.open('g3n-weights');
      open.onupgradeneeded = () => open.result.createObjectStore('shards');
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
    });
    const tx = db.transaction('shards', 'readwrite');
    const sha256 = 'range:config.json:0:10';
    const key = `${encodeURIComponent(model)}@files/${sha256}`;
    tx.objectStore('shards').put({ id: model, revision: 'files', file: 'config.json', sha256, bytes: 10, chunks: [10], complete: true }, `${key}/meta`);
    tx.objectStore('shards').put(new Uint8Array(10), `${key}/0`);
    await new Promise((resolve) => (tx.oncomplete = resolve));
    db.close();
  }, id);
  await page.reload();
  const entry = page.getByTestId('cached-models').locator(`li[data-model="${id}"]`);
  await expect(entry).toBeVisible();
  const button = entry.getByRole('button', { name: /^Delete / });
  const card = page.locator('section', { has: page.getByTestId('cached-models') });
  const [b, c] = [await button.boundingBox(), await card.boundingBox()];
  expect(b!.x).toBeGreaterThanOrEqual(c!.x);
  expect(b!.x + b!.width).toBeLessThanOrEqual(c!.x + c!.width);
  expect(await card.evaluate((s) => s.scrollWidth <= s.clientWidth)).toBe(true);
  // ... and the card inside the screen: no sideways scrolling of the page.
  expect(c!.x + c!.width).toBeLessThanOrEqual(PHONE.width);
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
  await button.click();
  await expect(entry).toHaveCount(0);
});
