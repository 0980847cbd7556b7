import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadTextModel, loadVisionTower, parseConfig } from '@g3n/gemma3n';
import { openModelDir, writeSafetensors } from '@g3n/weights';
import { nodeFileSource } from '@g3n/weights/node';
import { testGpu } from '../../kernels/test/util.ts';
import { FIXTURES, ids, loadGolden, relL2, tensor } from '../../gemma3n/test/golden.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '../../..');
const VISION = join(FIXTURES, 'gemma3n-tiny-vision-a');
const GOLDEN = join(VISION, 'golden.safetensors');
const TINY = join(FIXTURES, 'gemma3n-tiny-a');
/** The vision tower on the software adapter takes minutes on a loaded 2-core machine. */
const SLOW = 1_500_000;

function g3n(args: string[]) {
  return run('node', ['--import', 'tsx', '--import', './tools/wgsl-raw-hook.mjs', 'packages/cli/src/main.ts', ...args], { cwd: ROOT, timeout: SLOW });
}

/** The one line a failing command prints on stderr. */
async function failure(args: string[]): Promise<string> {
  try {
    await g3n(args);
  } catch (e) {
    return (e as { stderr: string }).stderr.trim();
  }
  throw new Error(`g3n ${args.join(' ')} succeeded`);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Number.isNaN(a[i] - b[i]) ? Infinity : Math.abs(a[i] - b[i]));
  return m;
}

describe('g3n encode-image and g3n run --pixel-values (the command-line contract)', () => {
  it("encode-image writes the stage outputs, last_hidden_state and soft tokens with the goldens' names and shapes, within the README tolerances", async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'g3n-vision-')), 'enc.safetensors');
    await g3n(['encode-image', '--model', VISION, '--pixel-values', `${GOLDEN}:pixel_values`, '--out', out]);
    const got = await loadGolden(out);
    const golden = await loadGolden(GOLDEN);
    const names = ['vision_tower.stage0', 'vision_tower.stage1', 'vision_tower.stage2', 'vision_tower.stage3', 'vision_tower.last_hidden_state', 'vision_soft_tokens'];
    expect([...got.keys()].sort()).toEqual([...names].sort());
    for (const n of names) {
      expect(got.get(n)!.shape, n).toEqual(golden.get(n)!.shape);
      expect(maxAbsDiff(got.get(n)!.data, tensor(golden, n)), n).toBeLessThanOrEqual(1e-3);
      if (n !== 'vision_soft_tokens') expect(relL2(got.get(n)!.data, tensor(golden, n)), n).toBeLessThanOrEqual(1e-4);
    }
  }, SLOW);

  it('run --pixel-values fills the image placeholders: the prefill logits and greedy ids of the tower and model run in-process', async () => {
    // A 64 x 64 crop of the golden image keeps this a test of the command (reading the tensor, encoding,
    // placing the soft tokens) at 1/64 of the 512 x 512 encode, whose end-to-end goldens (logits, greedy
    // ids) packages/gemma3n/test/vision.test.ts checks.
    const golden = await loadGolden(GOLDEN);
    const S = 64;
    const full = tensor(golden, 'pixel_values');
    const px = new Float32Array(3 * S * S);
    for (let c = 0; c < 3; c++) for (let y = 0; y < S; y++) px.set(full.subarray((c * 512 + 200 + y) * 512 + 180, (c * 512 + 200 + y) * 512 + 180 + S), (c * S + y) * S);
    const dir = await mkdtemp(join(tmpdir(), 'g3n-vision-'));
    const pxFile = join(dir, 'px.safetensors');
    await writeFile(pxFile, writeSafetensors([{ name: 'pixel_values', dtype: 'F32', shape: [3, S, S], data: new Uint8Array(px.buffer) }]));
    const prompt = ids(golden, 'e2e.prompt_ids');
    const steps = 4;
    const out = join(dir, 'run.json');
    await g3n(['run', '--model', VISION, '--ids', prompt.join(','), '--max-new-tokens', String(steps), '--json', out, '--pixel-values', `${pxFile}:pixel_values`]);
    const r = JSON.parse(await readFile(out, 'utf8')) as { prefill_logits: number[][]; generated_ids: number[] };

    const gpu = await testGpu();
    const weights = await openModelDir(nodeFileSource(VISION));
    const cfg = parseConfig(weights.config);
    const tower = await loadVisionTower(gpu, cfg, weights);
    // as `g3n run` loads it: prefill chunks of at most 256 rows
    const model = await loadTextModel(gpu, weights, { maxContext: prompt.length + steps, maxChunk: Math.min(prompt.length, 256) });
    try {
      const [enc] = await tower.encode([{ data: px, shape: [3, S, S] }]);
      const { logits } = await model.prefill(prompt, { allLogits: true, softTokens: [{ tokenId: cfg.imageTokenId!, embeds: enc.softTokens, count: tower.config.tokensPerImage }] });
      enc.softTokens.buffer.destroy();
      const V = model.cfg.vocabSize;
      expect(r.prefill_logits.length).toBe(prompt.length);
      expect(maxAbsDiff(Float32Array.from(r.prefill_logits.flat()), logits), 'prefill logits, command vs in-process').toBeLessThanOrEqual(1e-4);
      const generated: number[] = [];
      let last = logits.subarray((prompt.length - 1) * V);
      for (let step = 0; step < steps; step++) {
        let best = 0;
        for (let i = 1; i < V; i++) if (last[i] > last[best]) best = i;
        generated.push(best);
        if (step + 1 < steps) last = await model.decode(best);
      }
      expect(r.generated_ids).toEqual(generated);
    } finally {
      model.destroy();
      tower.destroy();
    }
  }, SLOW);

  it('typed one-line errors before any GPU work: wrong pixel_values shape, placeholder count, no vision tower', async () => {
    const golden = await loadGolden(GOLDEN);
    const prompt = ids(golden, 'e2e.prompt_ids');
    const dir = await mkdtemp(join(tmpdir(), 'g3n-vision-'));
    const shape = await failure(['encode-image', '--model', VISION, '--pixel-values', `${GOLDEN}:vision_soft_tokens`, '--out', join(dir, 'a.safetensors')]);
    expect(shape).toMatch(/^g3n: BAD_INPUT: pixel_values must be f32 \[3, height, width\]/);
    const tooMany = await failure(['run', '--model', VISION, '--ids', prompt.join(','), '--max-new-tokens', '1', '--json', join(dir, 'b.json'), '--pixel-values', `${GOLDEN}:pixel_values`, '--pixel-values', `${GOLDEN}:pixel_values`]);
    expect(tooMany).toMatch(/^g3n: BAD_INPUT: the prompt holds 256 image placeholders \(id 481\) but 2 images need 512/);
    const none = await failure(['run', '--model', VISION, '--ids', prompt.join(','), '--max-new-tokens', '1', '--json', join(dir, 'c.json')]);
    expect(none).toMatch(/^g3n: BAD_INPUT: the prompt holds 256 image placeholders \(id 481\) but 0 images need 0/);
    const png = join(FIXTURES, 'image-preprocess-a', 'small_500x375.png');
    const twoFiles = await failure(['run', '--model', VISION, '--ids', prompt.join(','), '--max-new-tokens', '1', '--json', join(dir, 'e.json'), '--image', png, '--pixel-values', `${GOLDEN}:pixel_values`]);
    expect(twoFiles).toMatch(/^g3n: BAD_INPUT: the prompt holds 256 image placeholders \(id 481\) but 2 images need 512/);
    expect(await failure(['run', '--model', VISION, '--ids', '1,2', '--max-new-tokens', '1', '--json', join(dir, 'f.json'), '--image', join(dir, 'missing.png')])).toMatch(/cannot read/);
    const noTower = await failure(['encode-image', '--model', TINY, '--pixel-values', `${GOLDEN}:pixel_values`, '--out', join(dir, 'd.safetensors')]);
    expect(noTower).toMatch(/^g3n: BAD_CHECKPOINT: This checkpoint has no vision tower/);
  }, 200_000);
});
