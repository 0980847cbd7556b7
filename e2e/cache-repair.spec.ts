/**
 * A cache that never keeps a bad file, as a user meets it in the demo: a custom checkpoint whose
 * config.json is corrupt fails to load with an error that says the bytes came from the network and
 * were not cached; once the server's file is fixed, one Load succeeds (the bad file was never stored,
 * so it is requested again). The checkpoint is served through Playwright's request routing, so its
 * files can change between loads.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test, type Route } from '@playwright/test';
import { requireFixture } from './fixture-gate.ts';

const fixture = fileURLToPath(new URL('../../shared/fixtures/gemma3n-tiny-a/', import.meta.url));
const tokenizer = fileURLToPath(new URL('../packages/preprocess/test/fixtures/tiny-tokenizer.json', import.meta.url));
const BASE = 'https://checkpoints.example/custom/';
const SLOW = { timeout: 300_000 };

test('a corrupt config.json is never cached: after the server fixes it, one Load succeeds', async ({ page, context }) => {
  requireFixture(existsSync(`${fixture}model.safetensors`), `no fixture at ${fixture}`);
  test.setTimeout(600_000);
  const good = readFileSync(`${fixture}config.json`);
  const files: Record<string, Buffer> = {
    'config.json': Buffer.concat([good.subarray(0, good.length >> 1), Buffer.from('\u0000garbage')]),
    'model.safetensors': readFileSync(`${fixture}model.safetensors`),
    'tokenizer.json': readFileSync(tokenizer),
  };
  const gets: string[] = [];
  const cors = { 'access-control-allow-origin': '*', 'access-control-allow-headers': '*', 'access-control-expose-headers': 'Content-Range, Content-Length, Accept-Ranges' };
  await context.route(`${BASE}**`, async (route: Route) => {
    const req = route.request();
    const name = new URL(req.url()).pathname.split('/').pop() ?? '';
    if (req.method() === 'OPTIONS') return route.fulfill({ status: 204, headers: cors });
    const body = files[name];
    if (!body) return route.fulfill({ status: 404, headers: cors, body: 'not found' });
    const range = /^bytes=(\d+)-(\d+)$/.exec((await req.allHeaders()).range ?? '');
    if (req.method() === 'GET') gets.push(`${name} ${range ? range[0] : ''}`);
    if (!range || req.method() === 'HEAD') {
      return route.fulfill({ status: 200, headers: { ...cors, 'content-length': String(body.length), 'accept-ranges': 'bytes' }, body: req.method() === 'HEAD' ? '' : body });
    }
    const [a, b] = [Number(range[1]), Math.min(Number(range[2]), body.length - 1)];
    return route.fulfill({ status: 206, headers: { ...cors, 'content-range': `bytes ${a}-${b}/${body.length}`, 'accept-ranges': 'bytes' }, body: body.subarray(a, b + 1) });
  });

  await page.goto(`/?model=${encodeURIComponent(BASE)}`);
  await expect(page.getByTestId('status')).toHaveText('error', SLOW);
  await expect(page.getByTestId('message')).toContainText('config.json is not valid JSON');
  await expect(page.getByTestId('message')).toContainText('downloaded 2 times, not cached');
  const before = gets.filter((g) => g.startsWith('config.json')).length;
  expect(before).toBe(2);

  files['config.json'] = good;
  await page.getByTestId('load').click();
  await expect(page.getByTestId('status')).toHaveText('ready', SLOW);
  await expect(page.getByTestId('model-name')).toContainText('8 layers');
  expect(gets.filter((g) => g.startsWith('config.json')).length).toBe(before + 1);
});
