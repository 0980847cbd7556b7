import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test, type Page } from '@playwright/test';
import { requireFixture } from './fixture-gate.ts';

const screenshots = fileURLToPath(new URL('./screenshots/', import.meta.url));
const fixture = fileURLToPath(new URL('../../shared/fixtures/gemma3n-tiny-a/', import.meta.url));
const modelBundled = existsSync(`${fixture}model.safetensors`);
// SwiftShader on shared CPUs: loading and answering take seconds to minutes.
const SLOW = { timeout: 300_000 };

/** Record every #status text and every weights-progress text the page shows, from the first paint. */
async function recordProgress(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const seen = { status: [] as string[], weights: [] as string[] };
    (window as unknown as { seen: typeof seen }).seen = seen;
    document.addEventListener('DOMContentLoaded', () => {
      new MutationObserver(() => {
        const s = document.getElementById('status')?.textContent ?? '';
        if (seen.status.at(-1) !== s) seen.status.push(s);
        const w = document.querySelector('[data-phase="weights"] .phase-detail')?.textContent ?? '';
        if (w && seen.weights.at(-1) !== w) seen.weights.push(w);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
  });
}

async function ask(page: Page, text: string, maxTokens: number): Promise<void> {
  await page.locator('details.options').evaluate((d) => ((d as HTMLDetailsElement).open = true));
  await page.getByLabel('Longest answer (tokens)').fill(String(maxTokens));
  await page.getByTestId('prompt').fill(text);
}

test('the demo loads the tiny model with visible progress, streams answers, stops one, shows stats', async ({ page }) => {
  requireFixture(modelBundled, `no fixture at ${fixture}: the build has no tiny model`);
  test.setTimeout(900_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await recordProgress(page);
  await page.setViewportSize({ width: 1280, height: 860 });
  await page.goto('/?model=tiny');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('g3n');
  await expect(page.getByTestId('status')).toHaveText('ready', SLOW);

  const seen = await page.evaluate(() => (window as unknown as { seen: { status: string[]; weights: string[] } }).seen);
  expect(seen.status).toContain('loading');
  expect(seen.status.indexOf('loading')).toBeLessThan(seen.status.lastIndexOf('ready'));
  expect(seen.weights.length).toBeGreaterThan(1);
  expect(seen.weights.at(-1)).toMatch(/MB of [\d.]+ MB/);
  for (const phase of ['config', 'tokenizer', 'weights', 'compile']) {
    await expect(page.getByTestId('load-progress').locator(`[data-phase="${phase}"]`)).toHaveAttribute('data-state', 'done');
  }
  await expect(page.getByTestId('traffic')).toContainText('Downloaded');
  await expect(page.getByTestId('model-name')).toContainText('Tiny demo model: 8 layers');

  // Device panel: adapter, features, limits.
  await expect(page.getByTestId('adapter')).toHaveText(/swiftshader|nvidia|amd|radeon|intel|apple|qualcomm|adreno|mali|arm/i);
  await expect(page.getByTestId('features').getByRole('listitem')).toHaveText([/^shader-f16: /, /^subgroups: /, /^timestamp-query: /]);
  await expect(page.getByTestId('limits')).toContainText('Largest storage binding');
  await expect(page.getByTestId('memory')).toContainText('weights');
  // Camera and microphone are there, disabled, with the reason: this checkpoint has neither tower.
  for (const name of ['Camera', 'Microphone']) {
    await expect(page.getByRole('button', { name, exact: true })).toBeDisabled();
  }
  await expect(page.locator('#media-why')).toContainText('no vision tower');
  await expect(page.locator('#media-why')).toContainText('no audio tower');

  // First answer: Enter sends; the answer streams in; stats come from usage.
  await ask(page, 'Hello! Who are you?', 6);
  await page.getByTestId('prompt').press('Enter');
  await expect(page.getByTestId('answer')).not.toBeEmpty(SLOW);
  await expect(page.getByTestId('status')).toHaveText('ready', SLOW);
  const stats = page.getByTestId('stats').last();
  await expect(stats).toContainText('first token after');
  await expect(stats).toContainText(/decode [\d.,]+ tok\/s/);
  await expect(stats).toContainText('6 tokens, reached the length limit');

  // Second turn, stopped mid-stream with the stop button.
  await ask(page, 'Tell me a long story.', 400);
  await page.getByTestId('send').click();
  await expect(page.getByTestId('stop')).toBeEnabled();
  await expect(page.getByTestId('answer')).not.toBeEmpty(SLOW);
  await page.getByTestId('stop').click();
  await expect(page.getByTestId('status')).toHaveText('ready', SLOW);
  await expect(page.getByTestId('log').locator('.msg').last()).toHaveAttribute('data-finish', 'abort');
  await expect(page.getByTestId('stats').last()).toContainText('stopped');
  // Multi-turn history: two questions, two answers; the second prompt reused the first's KV cache.
  await expect(page.getByTestId('log').locator('.msg')).toHaveCount(4);
  const reuse = /prefill [\d.,]+ tok\/s \((\d+) of (\d+) prompt tokens run\)/;
  await expect(page.getByTestId('stats').last()).toContainText(reuse);
  const [, ran, prompted] = reuse.exec((await page.getByTestId('stats').last().textContent()) ?? '')!.map(Number);
  const [, firstPrompted] = reuse.exec((await page.getByTestId('stats').first().textContent()) ?? '')!.slice(1).map(Number);
  // The second prompt holds the whole first turn, which the cache keeps: only the new tokens run.
  expect(prompted).toBeGreaterThan(firstPrompted);
  expect(ran).toBeLessThan(prompted);
  expect(ran).toBeLessThanOrEqual(prompted - firstPrompted);
  await expect(page.getByRole('button', { name: 'Copy the answer' })).toHaveCount(2);

  await page.screenshot({ path: `${screenshots}demo-desktop.png` });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: `${screenshots}demo-phone.png`, fullPage: true });

  await page.getByTestId('new-chat').click();
  await expect(page.getByTestId('log').locator('.msg')).toHaveCount(0);
  expect(errors).toEqual([]);
});

test('model output rendered through the Markdown path shows as text, not HTML', async ({ page }) => {
  await page.goto('/?model=none');
  const attack = '<img src=x onerror="window.pwned=1">\n<script>window.pwned=2</script>\n[run](javascript:window.pwned=3) and [docs](https://example.com/)\n```html\n<iframe src="https://example.com"></iframe>\n```';
  const result = await page.evaluate((text) => {
    const li = document.createElement('li');
    li.className = 'msg';
    li.append(window.g3nDemo.renderMarkdown(text));
    document.getElementById('log')!.append(li);
    return {
      elements: [...li.querySelectorAll('*')].map((e) => e.localName),
      links: [...li.querySelectorAll('a')].map((a) => [a.getAttribute('href'), a.rel]),
      text: li.textContent,
    };
  }, attack);
  expect(result.elements.every((e) => ['p', 'br', 'a', 'pre', 'code'].includes(e))).toBe(true);
  expect(result.links).toEqual([['https://example.com/', 'noopener noreferrer nofollow']]);
  expect(result.text).toContain('<script>window.pwned=2</script>');
  expect(result.text).toContain('<img src=x onerror="window.pwned=1">');
  expect(result.text).toContain('<iframe src="https://example.com"></iframe>');
  await page.waitForTimeout(200);
  expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned ?? null)).toBeNull();
});

test('the tiny model and its tokenizer are served at /models/tiny/ with byte ranges', async ({ page, request }) => {
  requireFixture(modelBundled, `no fixture at ${fixture}: the build has no tiny model`);
  // With no ?model= and nothing cached, the demo opens on the bundled tiny model.
  await page.goto('/');
  await expect(page.getByLabel('Bundled tiny model')).toBeChecked();
  await expect(page.getByTestId('status')).toHaveText(/loading|ready/);
  await expect(page.getByTestId('model')).toHaveAttribute('data-bundled', 'true');
  await expect(page.getByTestId('model')).toContainText('8 layers, hidden size 128');

  const config = await request.get('/models/tiny/config.json');
  expect(config.ok()).toBe(true);
  expect((await config.json()).model_type).toBe('gemma3n');
  const tokenizer = await request.get('/models/tiny/tokenizer.json');
  expect(tokenizer.ok()).toBe(true);
  expect(Object.keys((await tokenizer.json()).model.vocab)).toHaveLength(1024);

  const head = await request.get('/models/tiny/model.safetensors', { headers: { Range: 'bytes=0-7' } });
  expect(head.status()).toBe(206);
  expect(head.headers()['access-control-expose-headers']).toContain('Content-Range');
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
  await page.goto('/?model=tiny');
  await expect(page.getByTestId('status')).toHaveText('no-webgpu');
  await expect(page.getByRole('alert')).toContainText('WebGPU is not available');
  await expect(page.getByRole('alert')).toContainText('Chrome or Edge');
  await expect(page.getByTestId('load')).toBeDisabled();
  await expect(page.getByTestId('prompt')).toBeDisabled();
});

test('the model picker offers E2B and E4B from Hugging Face with a token kept in this browser', async ({ page }) => {
  await page.goto('/?model=none');
  await page.getByLabel('Gemma 3n E2B').check();
  const token = page.getByLabel('Hugging Face access token');
  await expect(token).toBeVisible();
  await expect(page.getByText('sent only to huggingface.co')).toBeVisible();
  await token.fill('hf_test_token');
  await token.blur();
  expect(await page.evaluate(() => localStorage.getItem('g3n.hf-token'))).toBe('hf_test_token');
  await page.getByLabel('Custom URL').check();
  await expect(page.getByLabel('Custom model URL')).toBeEnabled();
  await page.getByLabel('Bundled tiny model').check();
  await expect(token).toBeHidden();
  await expect(page.getByTestId('space')).toContainText('free');
});
