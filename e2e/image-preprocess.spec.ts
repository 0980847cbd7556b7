/**
 * Image preprocessing in headless Chromium on WebGPU (SwiftShader): the fixture PNGs are fetched as
 * Blobs and decoded by the browser (createImageBitmap, no colour conversion, no premultiplication),
 * preprocessImage runs on the GPU, and the page compares pixel_values with the goldens of
 * image-preprocess-a within the fixture's tolerance. The test page (e2e/pages/image-preprocess.html)
 * is built with Vite into a temporary folder, so dist/ never ships it.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test, type Page } from '@playwright/test';
import { requireFixture } from './fixture-gate.ts';
import { build } from 'vite';
import { startArtifactServer, type ArtifactServer } from './server/artifact-server.ts';
import type { ImageRun, SourceKind } from './pages/image-preprocess.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const fixtureDir = fileURLToPath(new URL('../../shared/fixtures/image-preprocess-a/', import.meta.url));

interface Fixture {
  cases: Array<{ name: string; png: string; golden_key: string; shape: number[] }>;
  tolerance: { max_abs: number; mean_abs: number };
}

let tmp: string;
let server: ArtifactServer;
let page: Page;
let fixture: Fixture;

test.describe.configure({ mode: 'serial' });
requireFixture(existsSync(join(fixtureDir, 'fixture.json')), `no fixture at ${fixtureDir}`);

test.beforeAll(async ({ browser }) => {
  test.setTimeout(180_000);
  fixture = JSON.parse(readFileSync(join(fixtureDir, 'fixture.json'), 'utf8')) as Fixture;
  tmp = mkdtempSync(join(tmpdir(), 'g3n-e2e-image-'));
  const pages = join(root, 'e2e', 'pages');
  await build({ configFile: false, root: pages, logLevel: 'warn', build: { outDir: join(tmp, 'page'), emptyOutDir: true, rollupOptions: { input: join(pages, 'image-preprocess.html') } } });
  server = await startArtifactServer({ '/fixture/': fixtureDir, '/': join(tmp, 'page') });
  page = await browser.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') console.log(`[page] ${m.text()}`);
  });
  await page.goto(`${server.url}/image-preprocess.html`);
  await expect(page.getByTestId('status')).toHaveText('ready');
});

test.afterAll(async () => {
  await page?.close();
  await server?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function run(png: string, key: string, kind: SourceKind): Promise<ImageRun> {
  return page.evaluate(([image, golden, k, s]) => window.g3nImage.run(image, golden, k, s as SourceKind), [`${server.url}/fixture/${png}`, `${server.url}/fixture/golden.safetensors`, key, kind] as const);
}

function expectWithinTolerance(r: ImageRun, shape: number[]): void {
  expect(r.error).toBeNull();
  expect(r.ok).toBe(true);
  expect(r.shape).toEqual(shape);
  expect(r.maxAbs, JSON.stringify(r)).toBeLessThanOrEqual(fixture.tolerance.max_abs);
  expect(r.meanAbs, JSON.stringify(r)).toBeLessThanOrEqual(fixture.tolerance.mean_abs);
}

test('both fixture PNGs, decoded by the browser from a Blob, match the golden pixel_values', async () => {
  test.setTimeout(240_000);
  for (const c of fixture.cases) {
    const r = await run(c.png, c.golden_key, 'blob');
    console.log(`${c.name} (blob): max ${(r.maxAbs * 255).toFixed(3)}/255, mean ${(r.meanAbs * 255).toFixed(4)}/255, exact ${(100 * r.exact).toFixed(2)}%`);
    expectWithinTolerance(r, c.shape);
  }
});

test('an ImageBitmap, a VideoFrame and a canvas of the same image reach the GPU and match too', async () => {
  test.setTimeout(240_000);
  const c = fixture.cases.find((x) => x.name.startsWith('small')) ?? fixture.cases[0];
  for (const kind of ['bitmap', 'video-frame', 'canvas'] as const) {
    const r = await run(c.png, c.golden_key, kind);
    console.log(`${c.name} (${kind}): max ${(r.maxAbs * 255).toFixed(3)}/255, mean ${(r.meanAbs * 255).toFixed(4)}/255`);
    expectWithinTolerance(r, c.shape);
  }
});

test('bytes that are no image fail with ImageError undecodable (BAD_INPUT)', async () => {
  const err = await page.evaluate(() => window.g3nImage.undecodable());
  expect(err).toMatchObject({ name: 'ImageError', code: 'BAD_INPUT', reason: 'undecodable' });
});
