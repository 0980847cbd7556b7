/**
 * MatFormer slices fetched by HTTP ranges in headless Chromium (WebGPU on SwiftShader) from a counting
 * static server. The tiny parent (gemma3n-tiny-matformer) is converted by `g3n convert` into a
 * temporary directory; the slice's bytes are computed here from the manifest, independently of the
 * loader: kept layers only (no KV-sharing layer's unused k/v/k_norm), FFN prefixes, the kept layers'
 * PLE columns and projection rows, everything else of the text model whole. The PLE table is stored
 * layer-major, so the number of Range requests depends on the kept layers and the tensors, not on the
 * vocabulary.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test, type BrowserContext, type Page } from '@playwright/test';
import { requireFixture } from './fixture-gate.ts';
import { build } from 'vite';
import { startArtifactServer, type ArtifactServer } from './server/artifact-server.ts';
import type { SliceRun } from './pages/matformer.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const fixture = fileURLToPath(new URL('../../shared/fixtures/gemma3n-tiny-matformer/', import.meta.url));
/** Greedy ids checked against the golden: the prefill's argmax (decode plans are exercised by the engine e2e). */
const STEPS = 1;

interface SliceJson {
  layers_skipped: number[];
  ffn_hidden_dims: number[];
}
interface ManifestView {
  config: { text_config: { num_hidden_layers: number; num_kv_shared_layers: number; hidden_size_per_layer_input: number } };
  tensors: Array<{ name: string; dtype: string; shape: number[]; layout: string; parts: Array<{ shard: number; offset: number; length: number; scalesLength?: number }> }>;
  shards: Array<{ file: string; bytes: number }>;
  layout: { layers: Record<string, Array<{ shard: number; start: number; end: number }>> };
}

let tmp: string;
let server: ArtifactServer;
let manifest: ManifestView;
let manifestBytes: number;
let context: BrowserContext;
const slice = (name: string): SliceJson => JSON.parse(readFileSync(join(fixture, 'slices', `${name}.json`), 'utf8'));
const golden = (name: string): { prompt_ids: number[]; generated_ids: number[] } => JSON.parse(readFileSync(join(fixture, `golden-${name}.json`), 'utf8'));

/** Stored bytes the model of `s` reads, from the manifest (a float artifact: no Q8/Q4 tensors). */
function sliceBytes(m: ManifestView, s: SliceJson): number {
  const tc = m.config.text_config;
  const L = tc.num_hidden_layers;
  const P = tc.hidden_size_per_layer_input;
  const firstShared = L - tc.num_kv_shared_layers;
  const kept = Array.from({ length: L }, (_, l) => l).filter((l) => !s.layers_skipped.includes(l));
  const width = new Map(kept.map((l, j) => [l, s.ffn_hidden_dims[j]]));
  let total = 0;
  for (const t of m.tensors) {
    if (!/^model\.(language_model|embed_vision|embed_audio)\./.test(t.name)) continue;
    const elem = { F32: 4, BF16: 2, F16: 2 }[t.dtype as 'F32'];
    const whole = t.parts.reduce((a, p) => a + p.length + (p.scalesLength ?? 0), 0);
    const layer = /\.layers\.(\d+)\.(.+)$/.exec(t.name);
    if (layer) {
      const l = Number(layer[1]);
      const w = width.get(l);
      if (w === undefined || (l >= firstShared && /^self_attn\.(k_proj|v_proj|k_norm)\./.test(layer[2]))) continue;
      if (/^mlp\.(gate|up)_proj\./.test(layer[2])) total += w * t.shape[1] * elem;
      else if (/^mlp\.down_proj\./.test(layer[2])) total += t.shape[0] * w * elem;
      else total += whole;
    } else if (t.name.endsWith('.embed_tokens_per_layer.weight')) total += t.shape[0] * kept.length * P * elem;
    else if (t.name.endsWith('.per_layer_model_projection.weight')) total += kept.length * P * t.shape[1] * elem;
    else total += whole;
  }
  return total;
}

test.describe.configure({ mode: 'serial' });
requireFixture(existsSync(join(fixture, 'model.safetensors')), `no fixture at ${fixture}`);

test.beforeAll(async ({ browser }) => {
  test.setTimeout(180_000);
  tmp = mkdtempSync(join(tmpdir(), 'g3n-e2e-matformer-'));
  const model = join(tmp, 'model');
  const convert = ['convert', '--in', fixture, '--out', model, '--quant', 'bf16', '--shard-mib', '0.25', '--model-id', 'gemma3n-tiny-matformer', '--revision', 'e2e'];
  execFileSync(process.execPath, ['--import', 'tsx', '--import', './tools/wgsl-raw-hook.mjs', 'packages/cli/src/main.ts', ...convert], { cwd: root, stdio: 'pipe' });
  manifest = JSON.parse(readFileSync(join(model, 'manifest.json'), 'utf8')) as ManifestView;
  manifestBytes = statSync(join(model, 'manifest.json')).size;
  const pages = join(root, 'e2e', 'pages');
  await build({ configFile: false, root: pages, logLevel: 'warn', build: { outDir: join(tmp, 'page'), emptyOutDir: true, rollupOptions: { input: join(pages, 'matformer.html') } } });
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
  await page.goto(`${server.url}/matformer.html`);
  await expect(page.getByTestId('status')).toHaveText('ready');
  return page;
}

function run(page: Page, name: string): Promise<SliceRun> {
  return page.evaluate(([url, s, prompt, steps]) => window.g3nMatformer.run(url, s, prompt, steps), [`${server.url}/model/`, slice(name), golden(name).prompt_ids, STEPS] as const);
}

const modelGets = () => server.gets(/^\/model\//);
const shardGets = () => server.gets(/\/model\/shard-\d+\.bin$/);
const sent = (gets: Array<{ sent: number }>) => gets.reduce((a, r) => a + r.sent, 0);

test('the e2b-like slice fetches exactly its bytes plus the manifest and predicts the golden first id; a reload fetches no shard byte', async () => {
  test.setTimeout(300_000);
  const e2b = sliceBytes(manifest, slice('e2b-like'));
  const page = await openPage();
  await page.evaluate(() => window.g3nMatformer.clear());
  server.reset();
  const first = await run(page, 'e2b-like');
  expect(first.error).toBeNull();
  expect(first.numLayers).toBe(10);
  expect(first.generated).toEqual(golden('e2b-like').generated_ids.slice(0, STEPS));
  expect(server.gets(/manifest\.json$/).map((r) => r.sent)).toEqual([manifestBytes]);
  expect(sent(modelGets())).toBe(manifestBytes + e2b);
  expect(sent(shardGets())).toBe(e2b);
  expect(shardGets().every((r) => r.status === 206 && /^bytes=\d+-\d+$/.test(r.range ?? ''))).toBe(true);
  expect(first.report).toMatchObject({ neededBytes: e2b, cachedBytes: 0, networkBytes: e2b });
  console.log(`e2b-like: ${e2b} of ${manifest.shards.reduce((a, s) => a + s.bytes, 0)} shard bytes in ${shardGets().length} Range requests`);
  // Per kept layer: its tensors less the FFN suffixes and unused k/v (at most 6 runs), its PLE block and
  // projection rows (2); per shard, one run of global tensors. A row-major PLE table needs one per row.
  const kept = manifest.config.text_config.num_hidden_layers - slice('e2b-like').layers_skipped.length;
  const ple = manifest.tensors.find((t) => t.name.endsWith('.embed_tokens_per_layer.weight'))!;
  expect(ple.layout).toBe('layer-major');
  expect(shardGets().length).toBeLessThanOrEqual(8 * kept + manifest.shards.length);
  expect(first.report?.requests).toBe(shardGets().length);
  const inPle = (g: { path: string; start: number; sent: number }) => ple.parts.some((p) => g.path === `/model/${manifest.shards[p.shard].file}` && g.start < p.offset + p.length && g.start + g.sent > p.offset);
  expect(shardGets().filter(inPle).length).toBeLessThanOrEqual(kept + ple.parts.length);
  for (const l of slice('e2b-like').layers_skipped) {
    for (const r of manifest.layout.layers[l]) {
      const file = `/model/${manifest.shards[r.shard].file}`;
      const touching = shardGets().filter((g) => g.path === file && g.start < r.end && g.start + g.sent > r.start);
      expect(touching, `skipped layer ${l}`).toEqual([]);
    }
  }
  expect(first.progress.last).toMatchObject({ loadedBytes: e2b, totalBytes: e2b });
  expect(await page.evaluate(() => window.g3nMatformer.list())).toEqual([expect.objectContaining({ id: 'gemma3n-tiny-matformer', revision: 'e2e', bytes: e2b })]);

  await page.reload();
  await expect(page.getByTestId('status')).toHaveText('ready');
  server.reset();
  const again = await run(page, 'e2b-like');
  expect(again.error).toBeNull();
  expect(shardGets()).toEqual([]);
  expect(again.report).toMatchObject({ neededBytes: e2b, cachedBytes: e2b, networkBytes: 0, requests: 0 });
  expect(again.generated).toEqual(first.generated);
  await page.close();
});

test('switching to identity afterwards fetches only the bytes e2b-like did not', async () => {
  test.setTimeout(300_000);
  const e2b = sliceBytes(manifest, slice('e2b-like'));
  const identity = sliceBytes(manifest, slice('identity'));
  const page = await openPage();
  server.reset();
  const full = await run(page, 'identity');
  expect(full.error).toBeNull();
  expect(full.numLayers).toBe(15);
  expect(full.generated).toEqual(golden('identity').generated_ids.slice(0, STEPS));
  expect(sent(shardGets())).toBe(identity - e2b);
  expect(sent(modelGets())).toBe(manifestBytes + identity - e2b);
  expect(full.report).toMatchObject({ neededBytes: identity, cachedBytes: e2b, networkBytes: identity - e2b });
  console.log(`identity after e2b-like: ${identity - e2b} more bytes in ${shardGets().length} Range requests`);
  await page.close();
});
