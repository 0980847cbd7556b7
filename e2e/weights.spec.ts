/**
 * The browser weight loader in headless Chromium against a local server that counts requests and can
 * cut or corrupt responses. The tiny artifact is converted from gemma3n-tiny-a by `g3n convert` into a
 * temporary directory, and the test page (e2e/pages/weights.html) is built with Vite next to it.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test, type BrowserContext, type Page } from '@playwright/test';
import { requireFixture } from './fixture-gate.ts';
import { build } from 'vite';
import { startArtifactServer, type ArtifactServer } from './server/artifact-server.ts';
import type { LoadSummary } from './pages/weights.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const fixture = fileURLToPath(new URL('../../shared/fixtures/gemma3n-tiny-a/', import.meta.url));
const TENSOR = 'model.language_model.embed_tokens.weight';

interface ManifestView {
  totalBytes: number;
  shards: Array<{ file: string; bytes: number }>;
  tensors: Array<{ name: string; parts: Array<{ shard: number; offset: number; length: number }> }>;
}

let tmp: string;
let server: ArtifactServer;
let manifest: ManifestView;
let tensorSha = '';
let context: BrowserContext;

test.describe.configure({ mode: 'serial' });
requireFixture(existsSync(join(fixture, 'model.safetensors')), `no fixture at ${fixture}`);

test.beforeAll(async ({ browser }) => {
  test.setTimeout(180_000);
  tmp = mkdtempSync(join(tmpdir(), 'g3n-e2e-weights-'));
  const model = join(tmp, 'model');
  execFileSync(process.execPath, ['--import', 'tsx', '--import', './tools/wgsl-raw-hook.mjs', 'packages/cli/src/main.ts', 'convert', '--in', fixture, '--out', model, '--quant', 'q8', '--shard-mib', '0.25', '--model-id', 'gemma3n-tiny-a', '--revision', 'e2e'], { cwd: root, stdio: 'pipe' });
  manifest = JSON.parse(readFileSync(join(model, 'manifest.json'), 'utf8')) as ManifestView;
  const part = manifest.tensors.find((t) => t.name === TENSOR)!.parts[0];
  const shard = readFileSync(join(model, manifest.shards[part.shard].file));
  tensorSha = createHash('sha256').update(shard.subarray(part.offset, part.offset + part.length)).digest('hex');

  const pages = join(root, 'e2e', 'pages');
  await build({ configFile: false, root: pages, logLevel: 'warn', build: { outDir: join(tmp, 'page'), emptyOutDir: true, rollupOptions: { input: join(pages, 'weights.html') } } });
  server = await startArtifactServer({ '/model/': model, '/': join(tmp, 'page') });
  context = await browser.newContext();
});

test.afterAll(async () => {
  await context?.close();
  await server?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

async function openPage(): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${server.url}/weights.html`);
  await expect(page.getByTestId('status')).toHaveText('ready');
  return page;
}

function load(page: Page): Promise<LoadSummary> {
  return page.evaluate(([url, name]) => window.g3nWeights.load(url, name), [`${server.url}/model/`, TENSOR] as const);
}

const shardGets = () => server.gets(/shard-\d+\.bin$/);
const sentFor = (file: string) => shardGets().filter((r) => r.path.endsWith(file));

test('first visit downloads every shard once with progress; a reload fetches no shard', async () => {
  const page = await openPage();
  server.reset();
  const first = await load(page);
  expect(first.error).toBeNull();
  expect(manifest.shards.length).toBeGreaterThan(4);
  expect(shardGets().map((r) => r.path)).toEqual(manifest.shards.map((s) => `/model/${s.file}`));
  expect(shardGets().every((r) => r.status === 200 && r.range === null)).toBe(true);
  expect(first.networkBytes).toBe(manifest.totalBytes);
  expect(first.phases.download).toBeGreaterThanOrEqual(manifest.shards.length);
  expect(first.phases.upload).toBe(manifest.shards.length);
  expect(first.monotonic).toBe(true);
  expect(first.last).toMatchObject({ phase: 'download', loadedBytes: manifest.totalBytes, totalBytes: manifest.totalBytes, fromCache: false, etaSeconds: 0 });
  expect(first.last!.bytesPerSecond).toBeGreaterThan(0);
  expect(first.shardsHanded).toEqual(manifest.shards.map((_, i) => i));
  expect(first.tensorSha256).toBe(tensorSha);
  expect(await page.evaluate(() => window.g3nWeights.list())).toEqual([
    { id: 'gemma3n-tiny-a', revision: 'e2e', bytes: manifest.totalBytes, shards: manifest.shards.length, completeShards: manifest.shards.length },
  ]);

  await page.reload();
  await expect(page.getByTestId('status')).toHaveText('ready');
  server.reset();
  const again = await load(page);
  expect(again.error).toBeNull();
  expect(shardGets()).toEqual([]);
  expect(again).toMatchObject({ fromCache: true, networkBytes: 0, tensorSha256: tensorSha });
  expect(again.phases).toEqual({ cache: manifest.shards.length, upload: manifest.shards.length });
  await page.close();
});

test('a cut download resumes with a Range request for only the missing bytes', async () => {
  const page = await openPage();
  await page.evaluate(() => window.g3nWeights.clear());
  server.reset();
  const file = manifest.shards[2].file;
  server.faults.cut.set(file, [100_000]);
  const result = await load(page);
  expect(result.error).toBeNull();
  const gets = sentFor(file);
  expect(gets).toHaveLength(2);
  expect(gets[0]).toMatchObject({ range: null, sent: 100_000 });
  expect(gets[1]).toMatchObject({ status: 206, range: `bytes=${gets[1].start}-` });
  expect(gets[1].start).toBe(100_000);
  expect(gets[0].sent + gets[1].sent).toBe(manifest.shards[2].bytes);
  expect(result.networkBytes).toBe(manifest.totalBytes);
  expect(result.tensorSha256).toBe(tensorSha);
  await page.close();
});

test('a corrupted shard is detected and fetched again', async () => {
  const page = await openPage();
  await page.evaluate(() => window.g3nWeights.clear());
  server.reset();
  const file = manifest.shards[1].file;
  server.faults.corrupt.set(file, 1);
  const result = await load(page);
  expect(result.error).toBeNull();
  expect(sentFor(file).map((r) => [r.range, r.sent])).toEqual([
    [null, manifest.shards[1].bytes],
    [null, manifest.shards[1].bytes],
  ]);

  await page.evaluate(() => window.g3nWeights.clear());
  server.reset();
  server.faults.corrupt.set(file, 2);
  const failed = await load(page);
  expect(failed.error?.code).toBe('INTEGRITY');
  expect(failed.error?.message).toContain(`${file}: sha256`);
  await page.close();
});

test('two tabs loading the same model download each shard once', async () => {
  const [a, b] = [await openPage(), await openPage()];
  expect(await a.evaluate(() => typeof navigator.locks?.request)).toBe('function');
  await a.evaluate(() => window.g3nWeights.clear());
  server.reset();
  server.faults.chunkBytes = 16 << 10;
  server.faults.delayMs = 15;
  const [ra, rb] = await Promise.all([load(a), load(b)]);
  expect(ra.error).toBeNull();
  expect(rb.error).toBeNull();
  expect(shardGets().map((r) => r.path)).toEqual(manifest.shards.map((s) => `/model/${s.file}`));
  expect(ra.networkBytes + rb.networkBytes).toBe(manifest.totalBytes);
  expect((ra.phases.cache ?? 0) + (rb.phases.cache ?? 0)).toBe(manifest.shards.length);
  expect([ra.tensorSha256, rb.tensorSha256]).toEqual([tensorSha, tensorSha]);
  await a.close();
  await b.close();
});
