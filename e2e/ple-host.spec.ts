import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test } from '@playwright/test';
import { requireFixture } from './fixture-gate.ts';
import type { EngineTestApi } from './pages/engine.ts';

const fixture = fileURLToPath(new URL('../../shared/fixtures/gemma3n-tiny-a/', import.meta.url));
const modelBundled = existsSync(`${fixture}model.safetensors`);

declare const engineTest: EngineTestApi;

test("ple: 'host' in Chromium: the PLE table's rows from OPFS in the engine's Worker, the golden greedy stream", async ({ page }) => {
  requireFixture(modelBundled, `no fixture at ${fixture}: the build has no tiny model`);
  test.setTimeout(600_000);
  const golden = JSON.parse(readFileSync(`${fixture}golden.json`, 'utf8')) as { prompt_ids: number[]; generated_ids: number[] };
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));

  await page.goto('/e2e/engine.html');
  await expect(page.getByTestId('status')).toHaveText('idle');
  const info = await page.evaluate(() => engineTest.load('host'));
  expect(info.memory).toMatchObject({ ple: 'host', pleRows: 'opfs' });
  // The table was written once into OPFS: a file of the header (16 bytes) and 992 rows of 128 bf16 values.
  const files = await page.evaluate(async () => {
    const dir = (await navigator.storage.getDirectory()) as unknown as { entries(): AsyncIterable<[string, FileSystemFileHandle]> };
    const out: Array<{ name: string; size: number }> = [];
    for await (const [name, h] of dir.entries()) if (name.startsWith('g3n-ple-')) out.push({ name, size: (await h.getFile()).size });
    return out;
  });
  expect(files).toEqual([{ name: expect.stringMatching(/^g3n-ple-[0-9a-f]{8}\.bin$/), size: 16 + 992 * 128 * 2 }]);

  const run = await page.evaluate(([p, n]) => engineTest.stream(p, n), [golden.prompt_ids, golden.generated_ids.length] as const);
  expect(run.error).toBeNull();
  expect(run.ids).toEqual(golden.generated_ids);
  expect(errors).toEqual([]);
});
