import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test } from '@playwright/test';
import { requireFixture } from './fixture-gate.ts';
import type { EngineTestApi } from './pages/engine.ts';

const fixtures = fileURLToPath(new URL('../../shared/fixtures/', import.meta.url));

declare const engineTest: EngineTestApi;

/**
 * Images and audio through the engine in its Worker in Chromium: an ImageBitmap (transferred) resized
 * on WebGPU and encoded by the vision tower, and 48 kHz PCM resampled in the Worker and encoded by the
 * audio tower, each filling its placeholder run of the chat prompt (the bundled tiny multimodal models).
 */
for (const [name, fixture, kind, tokens] of [
  ['tiny-vision', 'gemma3n-tiny-vision-a', 'image', 256],
  ['tiny-audio', 'gemma3n-tiny-audio-a', 'audio', 16],
] as const) {
  test(`the engine answers a${kind === 'image' ? 'n image' : 'n audio'} prompt in its Worker (${name})`, async ({ page }) => {
    requireFixture(existsSync(`${fixtures}${fixture}/model.safetensors`), `no fixture ${fixture}: the build has no ${name} model`);
    test.setTimeout(600_000);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto('/e2e/engine.html');
    await expect(page.getByTestId('status')).toHaveText('idle');
    await page.evaluate(([n]) => engineTest.loadBundled(n, 320), [name] as const);
    const r = await page.evaluate(([k]) => engineTest.askWith(k, 'What is this?', 2), [kind] as const);
    expect(r.error).toBeNull();
    expect(r.ids.length).toBeGreaterThan(0);
    expect(r.usage?.prompt_tokens_details).toMatchObject({ [`${kind}_tokens`]: tokens, cached_tokens: 0 });
    expect(r.usage!.prompt_tokens).toBeGreaterThan(tokens);
    expect(errors).toEqual([]);
  });
}
