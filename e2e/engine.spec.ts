import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test } from '@playwright/test';
import { requireFixture } from './fixture-gate.ts';
import type { EngineTestApi } from './pages/engine.ts';

const fixture = fileURLToPath(new URL('../../shared/fixtures/gemma3n-tiny-a/', import.meta.url));
const modelBundled = existsSync(`${fixture}model.safetensors`);

declare const engineTest: EngineTestApi;

test('the engine runs in a Worker: golden greedy stream, abort, next request, main thread responsive', async ({ page }) => {
  requireFixture(modelBundled, `no fixture at ${fixture}: the build has no tiny model`);
  test.setTimeout(600_000);
  const golden = JSON.parse(readFileSync(`${fixture}golden.json`, 'utf8')) as { prompt_ids: number[]; generated_ids: number[] };
  const P = golden.prompt_ids;
  const G = golden.generated_ids;
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));

  await page.goto('/e2e/engine.html');
  await expect(page.getByTestId('status')).toHaveText('idle');
  const info = await page.evaluate(() => engineTest.load());
  expect(info).toMatchObject({ maxContext: 96, vocabSize: 1024, eosTokenIds: [1, 106] });

  await page.evaluate(() => engineTest.resetFrames());
  const first = await page.evaluate(([p, n]) => engineTest.stream(p, n), [P, G.length] as const);
  expect(first.error).toBeNull();
  expect(first.ids).toEqual(G);
  expect(first.finish).toBe('length');
  expect(first.usage).toMatchObject({ prompt_tokens: P.length, completion_tokens: G.length, prefilled_tokens: P.length });

  const second = await page.evaluate(([p, n]) => engineTest.stream(p, n, 3), [P, G.length] as const);
  expect(second.finish).toBe('abort');
  expect(second.ids.length).toBeGreaterThanOrEqual(3);
  expect(second.ids.length).toBeLessThanOrEqual(4);
  expect(second.ids).toEqual(G.slice(0, second.ids.length));

  const third = await page.evaluate(([p, n]) => engineTest.stream(p, n), [P, 4] as const);
  expect(third.error).toBeNull();
  expect(third.finish).toBe('length');
  expect(third.ids).toEqual(G.slice(0, 4));

  const frames = await page.evaluate(() => engineTest.frames());
  const fps = (1000 * frames.count) / frames.elapsedMs;
  console.log(`main thread while generating: ${frames.count} frames in ${(frames.elapsedMs / 1000).toFixed(1)} s (${fps.toFixed(1)} fps), longest gap ${frames.maxGapMs.toFixed(0)} ms`);
  expect(fps).toBeGreaterThan(10);
  expect(frames.maxGapMs).toBeLessThan(1000);

  const overflow = await page.evaluate(([p]) => engineTest.stream(p, 1000), [P] as const);
  expect(overflow.error).toMatchObject({ name: 'ContextOverflowError', code: 'CONTEXT_OVERFLOW' });
  expect(errors).toEqual([]);
});
