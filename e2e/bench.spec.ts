/**
 * g3n's kernels side by side with onnxruntime-web in headless Chromium (WebGPU on SwiftShader): the
 * page (e2e/pages/bench.*) runs the benchmark cases of `pnpm bench` at 1/32 of the Gemma 3n widths,
 * each q4 linear case also as MatMulNBits and each global decode attention case as
 * GroupQueryAttention on the same device and buffers. Every such row must have a measured ort_ms
 * and ratio, and onnxruntime-web's output must equal g3n's to ORT_REL (largest difference over
 * largest value): both compute in f32 from the same q4 codes and scales, the same q, K and V.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test, type Page } from '@playwright/test';
import { build, preview, type PreviewServer } from 'vite';
import type { PageBenchOptions, PageBenchResult } from './pages/bench.ts';

const ORT_REL = 1e-5;
const pages = fileURLToPath(new URL('./pages/', import.meta.url));
/** The q4 layers of one decoder layer, the FFN and the LM head at 1/32, and decode attention over 16 to 1024 keys. */
const OPTIONS: PageBenchOptions = { scale: 32, reps: 1, trials: 3 };

let tmp: string;
let server: PreviewServer;
let url: string;

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  test.setTimeout(180_000);
  tmp = mkdtempSync(join(tmpdir(), 'g3n-e2e-bench-'));
  const outDir = join(tmp, 'page');
  await build({ configFile: false, root: pages, logLevel: 'warn', build: { outDir, emptyOutDir: true, rollupOptions: { input: join(pages, 'bench.html') } } });
  // Cross-origin isolated, as a page that runs onnxruntime-web's threaded wasm would be.
  const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
  server = await preview({ configFile: false, root: pages, logLevel: 'warn', build: { outDir }, preview: { host: 'localhost', port: 0, headers } });
  url = server.resolvedUrls?.local[0] ?? '';
});

test.afterAll(async () => {
  await server?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

async function runPage(page: Page): Promise<PageBenchResult> {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${url}bench.html`);
  await expect(page.getByTestId('status')).toHaveText('ready');
  const result = await page.evaluate((o) => window.g3nBench.run(o), OPTIONS);
  expect(errors).toEqual([]);
  return result;
}

test('MatMulNBits and GroupQueryAttention decode rows: numeric ort_ms and ratio, outputs equal to g3n', async ({ page }) => {
  test.setTimeout(900_000);
  const r = await runPage(page);
  expect(r.error).toBeNull();
  expect(r.crossOriginIsolated).toBe(true);
  expect(r.adapter?.is_software).toBe(true);
  expect(r.ort.measured).toBe(true);
  expect(r.ort.note).toMatch(/^1\.30\.0, WebGPU provider, wasm on one thread, on g3n's device: /);
  console.log(`${r.userAgent}\nadapter: ${r.adapter?.vendor} ${r.adapter?.architecture}\n${r.table}\nonnxruntime-web ${r.ort.note}`);

  const linear = r.kernels.filter((k) => k.dtype === 'q4');
  const globalDecode = r.kernels.filter((k) => k.name.startsWith('attention decode global'));
  expect(linear.map((k) => `${k.name} ${k.shape.join('x')}`)).toEqual([
    'q_proj/o_proj q4 64x64',
    'k_proj/v_proj q4 16x64',
    'gate/up_proj q4 256x64',
    'down_proj q4 64x256',
    'down_proj sparse 5% q4 64x256',
    'gate/up_proj q4 512x64',
    'down_proj q4 64x512',
    'lm_head q4 8200x64',
    'prefill gate/up_proj q4 16x256x64',
  ]);
  expect(globalDecode.map((k) => k.shape.join('x'))).toEqual(['8x2x8x16', '8x2x8x64', '8x2x8x256', '8x2x8x1024']);
  for (const k of [...linear, ...globalDecode]) {
    expect(k.ms, k.name).toBeGreaterThan(0);
    expect(k.ort_ms, k.name).toBeGreaterThan(0);
    expect(k.wall_ms, k.name).toBeGreaterThan(0);
    expect(k.ratio, k.name).toBeCloseTo(k.ort_ms! / k.wall_ms!, 12);
    expect(k.ort_max_rel_diff, k.name).toBeLessThan(ORT_REL);
  }
  for (const k of r.kernels.filter((x) => x.name.startsWith('copy') || x.name.startsWith('attention decode sliding'))) {
    expect([k.ort_ms, k.ratio], k.name).toEqual([null, null]);
  }
});
