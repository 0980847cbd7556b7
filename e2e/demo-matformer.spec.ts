/**
 * The demo's MatFormer size selector: the bundled tiny MatFormer parent (`?model=tiny-matformer`)
 * lists its fixture's slicing configurations and Gemma 3n E4B the 16 published ones, each with its
 * download size, GPU memory and published quality, checked against the figures computed here with
 * the same functions of @g3n/gemma3n; then the tiny parent loads with 'auto', with a picked slice and
 * with one preselected by `?slice=`, and answers.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test, type Page } from '@playwright/test';
import { requireFixture } from './fixture-gate.ts';
import { formatBytes } from '../demo/src/format.ts';
import { parseConfig, type ModelConfig } from '../packages/gemma3n/src/config.ts';
import { runtimeBytes } from '../packages/gemma3n/src/matformer/auto.ts';
import { findPublishedSlice, publishedSlices, sliceStats, type StorageFormat } from '../packages/gemma3n/src/matformer/published.ts';
import { parseSliceJson, planSlice, type SliceConfig } from '../packages/gemma3n/src/matformer/slice.ts';
import { E4B_CONFIG } from '../packages/gemma3n/src/matformer/e4b.ts';

const screenshots = fileURLToPath(new URL('./screenshots/', import.meta.url));
const fixture = fileURLToPath(new URL('../../shared/fixtures/gemma3n-tiny-matformer/', import.meta.url));
const bundled = existsSync(`${fixture}model.safetensors`);
const SLOW = { timeout: 300_000 };
/** The context the demo loads with (the engine's default) and the engine's prefill chunk. */
const CONTEXT = 4096;
const CHUNK = 128;

interface Row {
  value: string;
  text: string;
  layers: string | null;
  download: string | null;
  gpu: string | null;
  mmlu: string | null;
}

async function rows(page: Page): Promise<Row[]> {
  return page.getByTestId('size-select').evaluate((select) =>
    [...(select as HTMLSelectElement).options].map((o) => ({
      value: o.value,
      text: o.textContent ?? '',
      layers: o.getAttribute('data-layers'),
      download: o.getAttribute('data-download'),
      gpu: o.getAttribute('data-gpu'),
      mmlu: o.getAttribute('data-mmlu'),
    })),
  );
}

/** The row the demo should show for `slice` of `parent`, with weights on the GPU in `format`. */
function expectedRow(parent: ModelConfig, slice: SliceConfig, format: StorageFormat, mmlu: number | null): Row {
  const stats = sliceStats(parent, slice);
  const plan = planSlice(parent, slice);
  const layers = plan.config.text.numLayers;
  const download = stats.bytes.bf16;
  const gpu = stats.bytes[format] + runtimeBytes(plan.config.text, CONTEXT, CHUNK).kvCache;
  const quality = mmlu === null ? 'MMLU —' : `MMLU ${mmlu.toFixed(1)}%`;
  return {
    value: slice.name,
    text: `${slice.name} · ${layers} layers · ${formatBytes(download)} download · ${formatBytes(gpu)} GPU · ${quality}`,
    layers: String(layers),
    download: String(download),
    gpu: String(gpu),
    mmlu: mmlu === null ? '' : String(mmlu),
  };
}

const AUTO_ROW = { value: 'auto', text: 'Auto (largest that fits)', layers: null, download: null, gpu: null, mmlu: null };

function tinyParent(): { parent: ModelConfig; slices: SliceConfig[] } {
  const parent = parseConfig(JSON.parse(readFileSync(`${fixture}config.json`, 'utf8')));
  const files = readdirSync(`${fixture}slices`).filter((f) => f.endsWith('.json')).sort();
  return { parent, slices: files.map((f) => parseSliceJson(JSON.parse(readFileSync(`${fixture}slices/${f}`, 'utf8')))) };
}

const byParams = (parent: ModelConfig) => (a: SliceConfig, b: SliceConfig) => sliceStats(parent, b).effectiveParams - sliceStats(parent, a).effectiveParams;

test('the size selector shows each configuration with its download size, GPU memory and published quality', async ({ page }) => {
  requireFixture(bundled, `no fixture at ${fixture}: the build has no tiny MatFormer model`);
  await page.goto('/?model=none');
  await expect(page.getByTestId('status')).toHaveText('idle');
  await expect(page.getByTestId('size-select')).toBeHidden();

  // The tiny parent: its four fixture slices, largest first, with no published quality.
  const tiny = tinyParent();
  expect(tiny.slices.map((s) => s.name).sort()).toEqual(['e2b-like', 'identity', 'mix-block-skip', 'mix-layer']);
  const order = tiny.slices.slice().sort(byParams(tiny.parent));
  await page.getByLabel('Bundled tiny MatFormer model').check();
  await expect(page.getByTestId('size-select')).toBeVisible();
  await expect(page.getByTestId('model')).toContainText('gemma3n-tiny-matformer: a MatFormer parent of 15 layers (FFN width 256), hidden size 128, vocabulary 1024');
  expect(await rows(page)).toEqual([AUTO_ROW, ...order.map((s) => expectedRow(tiny.parent, s, 'bf16', null))]);
  expect((await rows(page)).slice(1).map((r) => [r.value, r.layers])).toEqual([
    ['identity', '15'],
    ['mix-layer', '15'],
    ['mix-block-skip', '10'],
    ['e2b-like', '10'],
  ]);
  await page.getByTestId('size-select').selectOption('e2b-like');
  await expect(page.getByTestId('size-detail')).toContainText('e2b-like: 10 of 15 layers');
  // 4-bit weights: the GPU figures follow the format, the download stays the checkpoint's.
  await page.getByTestId('quant-select').selectOption('q4');
  expect(await rows(page)).toEqual([AUTO_ROW, ...order.map((s) => expectedRow(tiny.parent, s, 'q4', null))]);
  await expect(page.getByTestId('size-select')).toHaveValue('e2b-like');
  await expect(page.getByTestId('size-detail')).toContainText('q4 weights');
  await page.getByTestId('quant-select').selectOption('auto');

  // E4B: the 16 published configurations with their MMLU; the built-in config is the one of spec §7.4.
  const e4b = parseConfig(E4B_CONFIG);
  expect(sliceStats(e4b, findPublishedSlice('E4B')!).effectiveParams).toBe(3_980_491_248);
  expect(sliceStats(e4b, findPublishedSlice('E2B')!).effectiveParams).toBe(1_905_495_648);
  await page.getByLabel('Gemma 3n E4B').check();
  const published = publishedSlices.slice().sort((a, b) => byParams(e4b)(a, b) || b.mmlu - a.mmlu);
  const e4bRows = await rows(page);
  expect(e4bRows).toHaveLength(17);
  expect(e4bRows).toEqual([AUTO_ROW, ...published.map((s) => expectedRow(e4b, s, 'bf16', s.mmlu))]);
  expect(e4bRows[1]).toMatchObject({ value: 'Main model (E4B)', layers: '35', mmlu: '62.3' });
  expect(e4bRows.at(-1)).toMatchObject({ value: 'Config for official E2B Model', layers: '30', mmlu: '50.9' });

  // E2B and the tiny model are no MatFormer parents the demo offers sizes for.
  await page.getByLabel('Gemma 3n E2B').check();
  await expect(page.getByTestId('size-select')).toBeHidden();
  await page.getByLabel('Bundled tiny model').check();
  await expect(page.getByTestId('size-select')).toBeHidden();
});

async function ask(page: Page, text: string, maxTokens: number): Promise<void> {
  await page.locator('details.options').evaluate((d) => ((d as HTMLDetailsElement).open = true));
  await page.getByLabel('Longest answer (tokens)').fill(String(maxTokens));
  await page.getByTestId('prompt').fill(text);
  await page.getByTestId('send').click();
}

test('the tiny MatFormer parent loads with auto, then with the picked e2b-like slice, and answers', async ({ page }) => {
  requireFixture(bundled, `no fixture at ${fixture}: the build has no tiny MatFormer model`);
  test.setTimeout(600_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/?model=tiny-matformer');
  await expect(page.getByLabel('Bundled tiny MatFormer model')).toBeChecked();
  await expect(page.getByTestId('size-select')).toHaveValue('auto');
  expect((await rows(page)).map((r) => r.value)).toEqual(['auto', 'identity', 'mix-layer', 'mix-block-skip', 'e2b-like']);
  // Auto: every slice fits this GPU, so the largest, the whole parent, is chosen, with the engine's reason.
  await expect(page.getByTestId('status')).toHaveText('ready', SLOW);
  await expect(page.getByTestId('model-name')).toHaveText('Tiny MatFormer demo model (identity): 15 layers, up to 4,096 tokens of context');
  await expect(page.getByTestId('matformer')).toContainText(/^identity: .*identity/);

  await page.getByTestId('size-select').selectOption('e2b-like');
  await page.getByTestId('load').click();
  await expect(page.getByTestId('status')).toHaveText('loading');
  await expect(page.getByTestId('status')).toHaveText('ready', SLOW);
  await expect(page.getByTestId('model-name')).toHaveText('Tiny MatFormer demo model (e2b-like): 10 layers, up to 4,096 tokens of context');
  await expect(page.getByTestId('matformer')).toContainText(/^e2b-like: /);

  await ask(page, 'Hello, slice!', 4);
  await expect(page.getByTestId('answer')).not.toBeEmpty(SLOW);
  await expect(page.getByTestId('status')).toHaveText('ready', SLOW);
  await expect(page.getByTestId('stats').last()).toContainText('4 tokens, reached the length limit');
  await page.setViewportSize({ width: 1280, height: 1100 });
  await page.screenshot({ path: `${screenshots}demo-matformer.png`, fullPage: true });
  expect(errors).toEqual([]);
});

test('?slice= preselects a configuration, which is the one loaded', async ({ page }) => {
  requireFixture(bundled, `no fixture at ${fixture}: the build has no tiny MatFormer model`);
  test.setTimeout(600_000);
  await page.goto('/?model=tiny-matformer&slice=mix-block-skip');
  await expect(page.getByTestId('size-select')).toHaveValue('mix-block-skip');
  await expect(page.getByTestId('status')).toHaveText('ready', SLOW);
  await expect(page.getByTestId('model-name')).toHaveText('Tiny MatFormer demo model (mix-block-skip): 10 layers, up to 4,096 tokens of context');
  await expect(page.getByTestId('matformer')).toContainText(/^mix-block-skip: /);
});
