/**
 * Integrity as a user meets it in the demo: a custom g3n artifact with one flipped byte in a shard is
 * refused (INTEGRITY, naming the shard), and once the server's shard is repaired one Load succeeds.
 * The artifact is converted from gemma3n-tiny-a by `g3n convert` and served through Playwright's
 * request routing, so its files can change between loads.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test, type Route } from '@playwright/test';
import { requireFixture } from './fixture-gate.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const fixture = fileURLToPath(new URL('../../shared/fixtures/gemma3n-tiny-a/', import.meta.url));
const tokenizer = fileURLToPath(new URL('../packages/preprocess/test/fixtures/tiny-tokenizer.json', import.meta.url));
const BASE = 'https://artifacts.example/tiny-q8/';
const SLOW = { timeout: 300_000 };

test('a shard with a flipped byte is refused with INTEGRITY; after the server repairs it, one Load succeeds', async ({ page, context }) => {
  requireFixture(existsSync(`${fixture}model.safetensors`), `no fixture at ${fixture}`);
  test.setTimeout(600_000);
  const dir = mkdtempSync(join(tmpdir(), 'g3n-e2e-integrity-'));
  try {
    execFileSync(process.execPath, ['--import', 'tsx', '--import', './tools/wgsl-raw-hook.mjs', 'packages/cli/src/main.ts', 'convert', '--in', fixture, '--out', dir, '--quant', 'q8', '--shard-mib', '1', '--model-id', 'tiny', '--revision', 'integrity'], { cwd: root, stdio: 'pipe' });
    const files: Record<string, Buffer> = { 'tokenizer.json': readFileSync(tokenizer) };
    for (const f of readdirSync(dir)) files[f] = readFileSync(join(dir, f));
    const manifest = JSON.parse(files['manifest.json'].toString('utf8')) as { shards: Array<{ file: string }>; tensors: Array<{ parts: Array<{ shard: number; offset: number; length: number }> }> };
    const last = manifest.shards.length - 1;
    const shard = manifest.shards[last].file;
    const part = manifest.tensors.flatMap((t) => t.parts).find((p) => p.shard === last)!;
    const good = files[shard];
    const bad = Buffer.from(good);
    bad[part.offset + (part.length >> 1)] ^= 0x20;
    files[shard] = bad;

    const cors = { 'access-control-allow-origin': '*', 'access-control-allow-headers': '*', 'access-control-expose-headers': 'Content-Range, Content-Length, Accept-Ranges' };
    await context.route(`${BASE}**`, async (route: Route) => {
      const req = route.request();
      const name = new URL(req.url()).pathname.split('/').pop() ?? '';
      if (req.method() === 'OPTIONS') return route.fulfill({ status: 204, headers: cors });
      const body = files[name];
      if (!body) return route.fulfill({ status: 404, headers: cors, body: 'not found' });
      const range = /^bytes=(\d+)-(\d+)$/.exec((await req.allHeaders()).range ?? '');
      if (!range || req.method() === 'HEAD') {
        return route.fulfill({ status: 200, headers: { ...cors, 'content-length': String(body.length), 'accept-ranges': 'bytes' }, body: req.method() === 'HEAD' ? '' : body });
      }
      const [a, b] = [Number(range[1]), Math.min(Number(range[2]), body.length - 1)];
      return route.fulfill({ status: 206, headers: { ...cors, 'content-range': `bytes ${a}-${b}/${body.length}`, 'accept-ranges': 'bytes' }, body: body.subarray(a, b + 1) });
    });

    await page.goto(`/?model=${encodeURIComponent(BASE)}`);
    await expect(page.getByTestId('status')).toHaveText('error', SLOW);
    await expect(page.getByTestId('message')).toContainText(shard);
    await expect(page.getByTestId('message')).toContainText(/does not match the manifest's [0-9a-f]{64} after 2 downloads/);

    files[shard] = good;
    await page.getByTestId('load').click();
    await expect(page.getByTestId('status')).toHaveText('ready', SLOW);
    await expect(page.getByTestId('model-name')).toContainText('8 layers');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
