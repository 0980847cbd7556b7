import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test, type Page } from '@playwright/test';
import { requireFixture } from './fixture-gate.ts';
import { startArtifactServer } from './server/artifact-server.ts';

const fixture = fileURLToPath(new URL('../../shared/fixtures/gemma3n-tiny-a/', import.meta.url));
const modelBundled = existsSync(`${fixture}model.safetensors`);
/** The demo as the web server built it for this run. */
const dist = fileURLToPath(new URL('../dist/', import.meta.url));
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
  requireFixture(modelBundled, `no fixture at ${fixture}: the build has no tiny model`);
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

/** The weights cache as stored: IndexedDB `g3n-weights`, store `shards`; its records and their bytes. */
async function weightsCache(page: Page): Promise<{ records: number; bytes: number }> {
  return page.evaluate(async () => {
    if (!(await indexedDB.databases()).some((d) => d.name === 'g3n-weights')) return { records: 0, bytes: 0 };
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const open = indexedDB.open('g3n-weights');
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
    });
    const out = { records: 0, bytes: 0 };
    if (db.objectStoreNames.contains('shards')) {
      await new Promise<void>((resolve, reject) => {
        const cursor = db.transaction('shards').objectStore('shards').openCursor();
        cursor.onerror = () => reject(cursor.error);
        cursor.onsuccess = () => {
          const c = cursor.result;
          if (!c) return resolve();
          out.records++;
          if (c.value instanceof ArrayBuffer || ArrayBuffer.isView(c.value)) out.bytes += c.value.byteLength;
          c.continue();
        };
      });
    }
    db.close();
    return out;
  });
}

/**
 * One deployment of the built demo (dist/) in `dir`: its index.html and its service worker's precache
 * entry for it marked with `version`, so that two deployments differ as two releases do (another
 * sw.js, another app shell). `vite preview` serves only dist/ as built, so the update test serves
 * its deployments itself.
 */
function deploy(dir: string, version: string): void {
  const html = readFileSync(join(dist, 'index.html'), 'utf8');
  writeFileSync(join(dir, 'index.html'), html.replace('<head>', `<head>\n    <meta name="g3n-deployment" content="${version}" />`));
  const sw = readFileSync(join(dist, 'sw.js'), 'utf8');
  const marked = sw.replace(/(url:\s*["']index\.html["'],\s*revision:\s*["'])([^"']+)/, `$1${version}-$2`);
  expect(marked, 'the precache entry of index.html in sw.js').not.toBe(sw);
  writeFileSync(join(dir, 'sw.js'), marked);
}

test('a new version is announced and applied on reload; the cached model survives', async ({ page }) => {
  requireFixture(modelBundled, `no fixture at ${fixture}: the build has no tiny model`);
  test.setTimeout(300_000);
  const root = mkdtempSync(join(tmpdir(), 'g3n-e2e-pwa-'));
  cpSync(dist, root, { recursive: true });
  deploy(root, 'old');
  const server = await startArtifactServer({ '/': root });
  try {
    // A first visit with the tiny model loaded fills the weights cache.
    await page.goto(`${server.url}/index.html?model=tiny`);
    await expect(page.getByTestId('status')).toHaveText('ready', SLOW);
    await serviceWorkerActive(page);
    const cached = await weightsCache(page);
    expect(cached.records).toBeGreaterThan(0);
    expect(cached.bytes).toBeGreaterThan(0);
    const entry = page.getByTestId('cached-models').getByRole('listitem').filter({ hasText: 'Tiny demo model' });
    const size = await entry.getByTestId('cached-size').textContent();
    expect(size).toMatch(/^ [\d.]+ MB$/);

    const update = () => page.evaluate(async () => void (await (await navigator.serviceWorker.getRegistration())!.update()));
    const deployment = page.locator('meta[name="g3n-deployment"]');
    const banner = page.getByTestId('update');

    // On this first visit no version controls the page. A new one is announced; "Later" hides the banner.
    // (The reloads that apply updates open no model: the URL says so from here on.)
    await page.evaluate(() => history.replaceState(null, '', '?model=none'));
    deploy(root, 'new');
    await update();
    await expect(banner).toBeVisible();
    await expect(banner).toContainText('A new version of g3n is available');
    await page.getByRole('button', { name: 'Later' }).click();
    await expect(banner).toBeHidden();
    // A still newer one replaces the waiting one and is announced again; applying it reloads into it.
    deploy(root, 'newer');
    await update();
    await expect(banner).toBeVisible();
    await Promise.all([page.waitForEvent('load'), page.getByRole('button', { name: 'Reload to update' }).click()]);
    await expect(deployment).toHaveAttribute('content', 'newer');
    await expect(page.getByTestId('status')).toHaveText('idle');

    // A later visit, served by that version: the next one is announced and applied the same way.
    deploy(root, 'newest');
    await page.goto(`${server.url}/index.html?model=none`);
    await expect(deployment).toHaveAttribute('content', 'newer');
    await update();
    await expect(banner).toBeVisible();
    await Promise.all([page.waitForEvent('load'), page.getByRole('button', { name: 'Reload to update' }).click()]);
    await expect(deployment).toHaveAttribute('content', 'newest');
    await expect(page.getByTestId('status')).toHaveText('idle');
    expect(await page.evaluate(async () => (await navigator.serviceWorker.getRegistration())?.waiting ?? null)).toBeNull();
    await expect(banner).toBeHidden();
    // The weights cache is untouched: the same records and bytes, and the storage view lists the model at the same size.
    expect(await weightsCache(page)).toEqual(cached);
    await expect(entry.getByTestId('cached-size')).toHaveText(size!);
  } finally {
    await server.close();
    rmSync(root, { recursive: true, force: true });
  }
});
