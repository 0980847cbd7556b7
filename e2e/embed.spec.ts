import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { expect, test } from '@playwright/test';
import { requireFixture } from './fixture-gate.ts';

// The embed example page, served from a second origin (another port) by a server this spec
// starts; it loads g3n-embed.js and the tiny model from the g3n server under test (baseURL).
const examplePage = fileURLToPath(new URL('./pages/embed-example.html', import.meta.url));
const fixture = fileURLToPath(new URL('../../shared/fixtures/gemma3n-tiny-a/', import.meta.url));
const modelBundled = existsSync(`${fixture}model.safetensors`);
const INJECTION = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script> [click](javascript:window.pwned=3) **bold**';

let server: Server;
let exampleUrl = '';

test.beforeAll(async ({ baseURL }) => {
  const g3nOrigin = new URL(baseURL!).origin;
  const html = readFileSync(examplePage, 'utf8').replaceAll('http://localhost:4173', g3nOrigin);
  // `/?idle`: the same page with the element's model attribute removed, for checks that need no model.
  const idle = html.replace(/\n\s*model="[^"]*"/, '');
  server = createServer((req, res) => {
    if (req.url === '/' || req.url === '/?idle') res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(req.url === '/' ? html : idle);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, 'localhost', resolve));
  exampleUrl = `http://localhost:${(server.address() as AddressInfo).port}/`;
});

test.afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
});

test('the embed script is one self-contained file', async ({ request }) => {
  const res = await request.get('/embed/g3n-embed.js');
  expect(res.ok()).toBe(true);
  const code = await res.text();
  expect(code.length).toBeGreaterThan(100_000);
  // The engine Worker travels inside the file (no second script to fetch from the embedding page).
  expect(code).not.toMatch(/assets\/[\w-]+\.js/);
});

test('a page on another origin embeds <g3n-chat>: it loads, answers, and its events fire', async ({ page, baseURL }) => {
  requireFixture(modelBundled, `no fixture at ${fixture}: the build has no tiny model`);
  test.setTimeout(600_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(exampleUrl);
  expect(new URL(exampleUrl).origin).not.toBe(new URL(baseURL!).origin);

  const chat = page.locator('g3n-chat');
  await expect(chat.getByRole('status')).toHaveText('Ready', { timeout: 300_000 });
  await expect(page.getByTestId('events').locator('[data-event="ready"]')).toHaveText('ready: 8 layers');

  await chat.getByRole('textbox', { name: 'Message' }).fill('Hello from another site');
  await chat.getByRole('textbox', { name: 'Message' }).press('Enter');
  await expect(page.getByTestId('events').locator('[data-event="done"]')).toHaveCount(1, { timeout: 300_000 });
  const counts = await page.evaluate(() => (window as unknown as { g3nEvents: Record<string, number> }).g3nEvents);
  expect(counts.token).toBeGreaterThan(0);
  expect(counts.error).toBe(0);
  await expect(chat.locator('.msg[data-role="assistant"]')).not.toBeEmpty();
  await expect(chat.locator('.msg[data-role="user"]')).toHaveText('Hello from another site');

  // The engine API for scripts, and the per-origin weights cache: this origin holds its own copy.
  const api = await page.evaluate(async () => {
    const el = document.querySelector('g3n-chat') as HTMLElement & { engine: { capabilities(): Promise<{ model: { numLayers: number } | null }> } };
    const caps = await el.engine.capabilities();
    const cached = await window.g3n.listCachedModels();
    return { createEngine: typeof window.g3n.createEngine, layers: caps.model?.numLayers, cached: cached.map((m) => m.id) };
  });
  expect(api).toEqual({ createEngine: 'function', layers: 8, cached: [`${new URL(baseURL!).origin}/models/tiny/`] });
  await page.screenshot({ path: fileURLToPath(new URL('./screenshots/embed.png', import.meta.url)), fullPage: true });
  expect(errors).toEqual([]);
});

test('<g3n-chat> reports a model it cannot load with an error event', async ({ page, baseURL }) => {
  await page.goto(`${exampleUrl}?idle`);
  const detail = await page.evaluate(async (missing) => {
    const el = document.createElement('g3n-chat');
    const got = new Promise<{ code: string | null; message: string }>((resolve) => el.addEventListener('error', (e) => resolve((e as unknown as CustomEvent).detail)));
    el.setAttribute('model', missing);
    document.body.append(el);
    return got;
  }, `${new URL(baseURL!).origin}/models/missing/`);
  expect(detail.code).toBe('BAD_CHECKPOINT');
  expect(detail.message).toContain('config.json');
});

test('model output rendered through the embed Markdown path stays text', async ({ page }) => {
  await page.goto(`${exampleUrl}?idle`);
  const result = await page.evaluate((text) => {
    const host = document.createElement('div');
    host.append(window.g3n.renderMarkdown(text));
    document.body.append(host);
    return {
      elements: [...host.querySelectorAll('*')].map((e) => e.localName),
      text: host.textContent,
      pwned: (window as unknown as { pwned?: number }).pwned ?? null,
    };
  }, INJECTION);
  expect(result.elements).toEqual(['p', 'strong']);
  expect(result.text).toContain('<script>window.pwned=2</script>');
  expect(result.text).toContain('[click](javascript:window.pwned=3)');
  expect(result.text).toContain('<img src=x onerror=');
  expect(result.pwned).toBeNull();
});
