import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test } from '@playwright/test';

const screenshots = fileURLToPath(new URL('./screenshots/', import.meta.url));
const fixture = fileURLToPath(new URL('../../shared/fixtures/gemma3n-tiny-a/', import.meta.url));
const modelBundled = existsSync(`${fixture}model.safetensors`);

test('the demo reports the WebGPU adapter and runs a kernel in a Worker', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('g3n');

  await expect(page.getByTestId('status')).toHaveText('ready');
  await expect(page.getByTestId('adapter')).toHaveText(/swiftshader|nvidia|amd|radeon|intel|apple|qualcomm|adreno|mali|arm/i);
  const features = page.getByTestId('features').getByRole('listitem');
  await expect(features).toHaveText([/^shader-f16: /, /^subgroups: /, /^timestamp-query: /]);
  await expect(page.getByTestId('limits')).toContainText('Largest storage binding');

  await page.getByRole('button', { name: 'Run the kernel' }).click();
  await expect(page.getByTestId('worker-result')).toHaveText('[11, 22, 33, 44, 55]');

  await page.screenshot({ path: `${screenshots}demo.png`, fullPage: true });
  expect(errors).toEqual([]);
});

test('the tiny model is served at /models/tiny/ with byte ranges', async ({ page, request }) => {
  test.skip(!modelBundled, `no fixture at ${fixture}: the build has no tiny model`);
  await page.goto('/');
  await expect(page.getByTestId('model')).toHaveAttribute('data-bundled', 'true');
  await expect(page.getByTestId('model')).toContainText('8 layers, hidden size 128');

  const config = await request.get('/models/tiny/config.json');
  expect(config.ok()).toBe(true);
  expect((await config.json()).model_type).toBe('gemma3n');

  const head = await request.get('/models/tiny/model.safetensors', { headers: { Range: 'bytes=0-7' } });
  expect(head.status()).toBe(206);
  const bytes = await head.body();
  expect([...bytes]).toEqual([...readFileSync(`${fixture}model.safetensors`).subarray(0, 8)]);
});

test('without the model fixture the page says so', async ({ page }) => {
  test.skip(modelBundled, 'the tiny model is bundled in this build');
  await page.goto('/');
  await expect(page.getByTestId('model')).toHaveAttribute('data-bundled', 'false');
  await expect(page.getByTestId('model')).toContainText('not bundled');
});

test('without WebGPU the page says what to do', async ({ page }) => {
  await page.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true });
  });
  await page.goto('/');
  await expect(page.getByTestId('status')).toHaveText('no-webgpu');
  await expect(page.getByRole('alert')).toContainText('WebGPU is not available');
  await expect(page.getByRole('button', { name: 'Run the kernel' })).toBeDisabled();
});
