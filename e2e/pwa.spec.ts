import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test, type Page } from '@playwright/test';

const fixture = fileURLToPath(new URL('../../shared/fixtures/gemma3n-tiny-a/', import.meta.url));
const modelBundled = existsSync(`${fixture}model.safetensors`);
const SLOW = { timeout: 300_000 };

/** Wait until the service worker is active (it precached the app shell while installing). */
async function serviceWorkerActive(page: Page): Promise<void> {
  await page.evaluate(async () => {
    const reg = await navigator.serviceWorker.ready;
    if (!reg.active) throw new Error('no active service worker');
  });
}

test('the demo is installable: manifest, icons, theme, service worker', async ({ page, request }) => {
  await page.goto('/?model=none');
  const href = await page.locator('link[rel="manifest"]').getAttribute('href');
  expect(href).toBeTruthy();
  const manifest = await (await request.get(href!)).json();
  expect(manifest).toMatchObject({ name: 'g3n: Gemma 3n on WebGPU', short_name: 'g3n', display: 'standalone', theme_color: '#1a5fd0' });
  const sizes = manifest.icons.map((i: { sizes: string }) => i.sizes);
  expect(sizes).toEqual(expect.arrayContaining(['192x192', '512x512']));
  for (const icon of manifest.icons as Array<{ src: string; type: string }>) {
    const res = await request.get(new URL(icon.src, new URL(href!, page.url())).href);
    expect(res.ok(), icon.src).toBe(true);
    expect(res.headers()['content-type']).toContain(icon.type.split('+')[0]);
  }
  await expect(page.locator('meta[name="theme-color"]')).toHaveAttribute('content', '#1a5fd0');
  await serviceWorkerActive(page);
  // The precache holds the app shell and the engine Worker, not the weights.
  const cached = await page.evaluate(async () => {
    const urls: string[] = [];
    for (const name of await caches.keys()) for (const req of await (await caches.open(name)).keys()) urls.push(new URL(req.url).pathname);
    return urls;
  });
  expect(cached).toEqual(expect.arrayContaining(['/index.html', '/manifest.webmanifest']));
  expect(cached.some((u) => /^\/assets\/engine-worker-[\w-]+\.js$/.test(u))).toBe(true);
  expect(cached.some((u) => u.startsWith('/models/'))).toBe(false);
});

test('after one visit with the model loaded, the demo reloads and answers with the network off', async ({ page, context }) => {
  test.skip(!modelBundled, `no fixture at ${fixture}: the build has no tiny model`);
  test.setTimeout(900_000);
  await page.goto('/?model=tiny');
  await expect(page.getByTestId('status')).toHaveText('ready', SLOW);
  await serviceWorkerActive(page);

  await context.setOffline(true);
  await page.reload();
  await expect(page.getByTestId('status')).toHaveText('ready', SLOW);
  await expect(page.getByTestId('traffic')).toContainText('Downloaded 0 B');
  await page.getByTestId('prompt').fill('Are you offline?');
  await page.locator('details.options').evaluate((d) => ((d as HTMLDetailsElement).open = true));
  await page.getByLabel('Longest answer (tokens)').fill('4');
  await page.getByTestId('send').click();
  await expect(page.getByTestId('answer')).not.toBeEmpty(SLOW);
  await expect(page.getByTestId('status')).toHaveText('ready', SLOW);

  // The storage view lists the cached model; deleting it empties the cache.
  const item = page.getByTestId('cached-models').getByRole('listitem').filter({ hasText: 'Tiny demo model' });
  await expect(item).toContainText('MB');
  await item.getByRole('button', { name: 'Delete Tiny demo model from the cache' }).click();
  await expect(page.getByTestId('cached-models')).toHaveText('No models are cached yet.');
});

// Not yet reliable on the software adapter: the update check after the second visit did not finish within
// the time limit in the last full run. Kept as fixme, with the PWA update flow listed as open in issue 6.
test.fixme('a new version is announced and applied on reload; the cached model survives', async ({ page, context }) => {
  test.skip(!modelBundled, `no fixture at ${fixture}: the build has no tiny model`);
  test.setTimeout(600_000);
  // The first visit installs an older deployment (its service worker differs by a comment); every
  // later fetch of sw.js (the browser's update checks) gets the server's current file: a new version.
  let fetches = 0;
  await context.route('**/sw.js', async (route) => {
    const res = await route.fetch();
    const body = await res.text();
    await route.fulfill({ response: res, body: fetches++ === 0 ? `${body}\n// an older deployment\n` : body });
  });
  await page.goto('/?model=tiny');
  await expect(page.getByTestId('status')).toHaveText('ready', SLOW);
  await serviceWorkerActive(page);
  // A second visit, controlled by the installed (older) version: the update check finds the new one.
  await page.reload();
  await expect(page.getByTestId('status')).toHaveText('ready', SLOW);
  expect(await page.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);
  await page.evaluate(async () => void (await (await navigator.serviceWorker.getRegistration())!.update()));
  await expect(page.getByTestId('update')).toBeVisible({ timeout: 60_000 });
  await expect(page.getByTestId('update')).toContainText('new version');

  await Promise.all([page.waitForEvent('framenavigated'), page.getByRole('button', { name: 'Reload to update' }).click()]);
  await expect(page.getByTestId('status')).toHaveText('ready', SLOW);
  await expect(page.getByTestId('update')).toBeHidden();
  expect(await page.evaluate(async () => (await navigator.serviceWorker.getRegistration())?.waiting ?? null)).toBeNull();
  // The weights came from IndexedDB: the update did not touch them.
  await expect(page.getByTestId('traffic')).toContainText('Downloaded 0 B');
});
