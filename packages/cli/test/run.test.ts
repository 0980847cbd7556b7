import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { checkpointWith } from '../../gemma3n/test/damaged.ts';
import { checkLogits, FIXTURES, ids, loadGolden, readJson, tensor, type LogitCheck } from '../../gemma3n/test/golden.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '../../..');
const TINY = join(FIXTURES, 'gemma3n-tiny-a');

/** The fixture README's criteria, as the decoder tests apply them: max and mean |diff|, and the argmax where the golden margin is clear. */
function expectLogits(label: string, c: LogitCheck): void {
  expect(c.maxAbs, `${label}: max |diff|`).toBeLessThanOrEqual(2e-2);
  expect(c.meanAbs, `${label}: mean |diff|`).toBeLessThanOrEqual(2e-3);
  expect(c.top1Mismatches, `${label}: argmax differs at rows`).toEqual([]);
}

function g3n(args: string[]) {
  return run('node', ['--import', 'tsx', '--import', './tools/wgsl-raw-hook.mjs', 'packages/cli/src/main.ts', ...args], { cwd: ROOT, timeout: 300_000 });
}

describe('g3n run (the command-line contract)', () => {
  it('writes prompt ids, every prefill row, greedy ids and the logits that chose them', async () => {
    const golden = await loadGolden(join(TINY, 'golden.safetensors'));
    const meta = await readJson<{ generated_ids: number[]; prefill_top1_top2_margin: number[] }>(join(TINY, 'golden.json'));
    const out = join(await mkdtemp(join(tmpdir(), 'g3n-run-')), 'out.json');
    const prompt = ids(golden, 'prompt_ids');
    const steps = 4;
    await g3n(['run', '--model', TINY, '--ids', prompt.join(','), '--max-new-tokens', String(steps), '--json', out]);
    const r = JSON.parse(await readFile(out, 'utf8')) as { prompt_ids: number[]; prefill_logits: number[][]; generated_ids: number[]; decode_logits: number[][] };
    expect(r.prompt_ids).toEqual(prompt);
    expect(r.generated_ids).toEqual(meta.generated_ids.slice(0, steps));
    const V = 1024;
    expect(r.prefill_logits).toHaveLength(prompt.length);
    expectLogits('prefill', checkLogits(Float32Array.from(r.prefill_logits.flat()), tensor(golden, 'prefill_logits'), V, meta.prefill_top1_top2_margin));
    // Greedy steps: the smallest top-1/top-2 margin is 0.109 (README), so every row's argmax must agree.
    expectLogits('decode', checkLogits(Float32Array.from(r.decode_logits.flat()), tensor(golden, 'decode_logits').subarray(0, steps * V), V, null));
  });

  it('prefill only with --max-new-tokens 0', async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'g3n-run-')), 'out.json');
    await g3n(['run', '--model', TINY, '--ids', '2,5,7', '--max-new-tokens', '0', '--json', out]);
    const r = JSON.parse(await readFile(out, 'utf8'));
    expect(r.prefill_logits).toHaveLength(3);
    expect(r.generated_ids).toEqual([]);
    expect(r.decode_logits).toEqual([]);
  });

  it('runs a MatFormer slice of the parent with --matformer <slice.json>', async () => {
    const dir = join(FIXTURES, 'gemma3n-tiny-matformer');
    const golden = await loadGolden(join(dir, 'golden-e2b-like.safetensors'));
    const meta = await readJson<{ generated_ids: number[]; prefill_top1_top2_margin: number[] }>(join(dir, 'golden-e2b-like.json'));
    const out = join(await mkdtemp(join(tmpdir(), 'g3n-run-')), 'out.json');
    const prompt = ids(golden, 'prompt_ids');
    await g3n(['run', '--model', dir, '--matformer', join(dir, 'slices', 'e2b-like.json'), '--ids', prompt.join(','), '--max-new-tokens', '3', '--json', out]);
    const r = JSON.parse(await readFile(out, 'utf8'));
    expect(r.generated_ids).toEqual(meta.generated_ids.slice(0, 3));
    expectLogits('prefill', checkLogits(Float32Array.from(r.prefill_logits.flat()), tensor(golden, 'prefill_logits'), 1024, meta.prefill_top1_top2_margin));
  });

  it('exits non-zero with one line naming the non-finite values when a weight holds NaN', async () => {
    const tensorName = 'model.language_model.layers.2.mlp.up_proj.weight';
    const dir = await checkpointWith(TINY, tensorName, [Number.NaN], 100);
    const out = join(await mkdtemp(join(tmpdir(), 'g3n-run-')), 'out.json');
    const err = await g3n(['run', '--model', dir, '--ids', '2,5,7', '--max-new-tokens', '2', '--json', out]).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err, 'g3n run succeeded on NaN weights').not.toBeNull();
    expect(err!.code).not.toBe(0);
    const lines = err!.stderr.split('\n').filter((l) => l.startsWith('g3n:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/NUMERIC/);
    expect(lines[0]).toContain('non-finite values (NaN or infinity)');
    expect(lines[0]).toContain(tensorName);
  });

  it('--check-numerics names the first layer with a non-finite output (finite weights that overflow in layer 5)', async () => {
    const dir = await checkpointWith(TINY, 'model.language_model.layers.5.mlp.down_proj.weight', Array.from({ length: 2 * 320 }, () => 3e38));
    const out = join(await mkdtemp(join(tmpdir(), 'g3n-run-')), 'out.json');
    const err = await g3n(['run', '--model', dir, '--check-numerics', '--ids', '2,5,7', '--max-new-tokens', '1', '--json', out]).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err, 'g3n run --check-numerics succeeded on an overflowing layer').not.toBeNull();
    expect(err!.code).not.toBe(0);
    const lines = err!.stderr.split('\n').filter((l) => l.startsWith('g3n:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^g3n: NUMERIC: .*at prefill: the first stage with a non-finite output is layers\.5\.\w+ \(layer 5\)/);
  });

  for (const [what, args, message] of [
    ['a missing model directory', ['--model', '/nonexistent/model', '--ids', '2,3'], /BAD_CHECKPOINT|config\.json/],
    ['ids that are not numbers', ['--model', TINY, '--ids', '2,x'], /--ids/],
    ['an id outside the vocabulary', ['--model', TINY, '--ids', '2,999999'], /outside the vocabulary/],
  ] as const) {
    it(`exits non-zero with one line for ${what}`, async () => {
      const err = await g3n(['run', ...args, '--max-new-tokens', '1', '--json', '/tmp/never.json']).then(
        () => null,
        (e: { code: number; stderr: string }) => e,
      );
      expect(err).not.toBeNull();
      expect(err!.code).not.toBe(0);
      const lines = err!.stderr.split('\n').filter((l) => l.startsWith('g3n:'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(message);
    });
  }
});
