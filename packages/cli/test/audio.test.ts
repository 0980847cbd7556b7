import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { checkLogits, FIXTURES, ids, loadGolden, tensor } from '../../gemma3n/test/golden.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '../../..');
const AUDIO = join(FIXTURES, 'gemma3n-tiny-audio-a');
const GOLDEN = join(AUDIO, 'golden.safetensors');
const TINY = join(FIXTURES, 'gemma3n-tiny-a');

function g3n(args: string[]) {
  return run('node', ['--import', 'tsx', '--import', './tools/wgsl-raw-hook.mjs', 'packages/cli/src/main.ts', ...args], { cwd: ROOT, timeout: 400_000 });
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

describe('g3n encode-audio and g3n run --audio-features (the command-line contract)', () => {
  it('encode-audio writes every intermediate, the mask and the soft tokens with the goldens\' names and shapes, within 1e-3', async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'g3n-audio-')), 'enc.safetensors');
    await g3n(['encode-audio', '--model', AUDIO, '--features', `${GOLDEN}:input_features`, '--out', out]);
    const got = await loadGolden(out);
    const golden = await loadGolden(GOLDEN);
    const names = ['audio_encoder.sscp_out', 'audio_encoder.conformer.0.output', 'audio_encoder.conformer.1.output', 'audio_encoder.last_hidden_state', 'audio_encoder.mask_valid', 'audio_soft_tokens'];
    expect([...got.keys()].sort()).toEqual([...names].sort());
    for (const n of names) {
      expect(got.get(n)!.shape, n).toEqual(golden.get(n)!.shape);
      expect(maxAbsDiff(got.get(n)!.data, tensor(golden, n)), n).toBeLessThanOrEqual(1e-3);
    }
  }, 400_000);

  it('run --audio-features fills the audio placeholders: prefill logits within 2e-2, greedy ids exact', async () => {
    const golden = await loadGolden(GOLDEN);
    const out = join(await mkdtemp(join(tmpdir(), 'g3n-audio-')), 'run.json');
    const prompt = ids(golden, 'e2e.prompt_ids');
    const expected = ids(golden, 'e2e.generated_ids');
    await g3n(['run', '--model', AUDIO, '--ids', prompt.join(','), '--max-new-tokens', String(expected.length), '--json', out, '--audio-features', `${GOLDEN}:input_features`]);
    const r = JSON.parse(await readFile(out, 'utf8')) as { prefill_logits: number[][]; generated_ids: number[]; decode_logits: number[][] };
    expect(checkLogits(Float32Array.from(r.prefill_logits.flat()), tensor(golden, 'e2e.prefill_logits'), 1024, null).maxAbs).toBeLessThanOrEqual(2e-2);
    expect(checkLogits(Float32Array.from(r.decode_logits.flat()), tensor(golden, 'e2e.decode_logits'), 1024, null).maxAbs).toBeLessThanOrEqual(2e-2);
    expect(r.generated_ids).toEqual(expected);
  }, 400_000);

  it('run --wave computes the features on the GPU first: the same greedy ids as from the stored features, logits within 0.5', async () => {
    const golden = await loadGolden(GOLDEN);
    const out = join(await mkdtemp(join(tmpdir(), 'g3n-audio-')), 'run.json');
    const prompt = ids(golden, 'e2e.prompt_ids');
    const expected = ids(golden, 'e2e.generated_ids');
    await g3n(['run', '--model', AUDIO, '--ids', prompt.join(','), '--max-new-tokens', String(expected.length), '--json', out, '--wave', `${GOLDEN}:wave`]);
    const r = JSON.parse(await readFile(out, 'utf8')) as { prefill_logits: number[][]; generated_ids: number[] };
    // The GPU log-mel differs from the stored float64 features by up to 0.1 in low-energy bins (fixture
    // README), which moves these logits by a few tenths: the greedy tokens must still agree.
    const diff = checkLogits(Float32Array.from(r.prefill_logits.flat()), tensor(golden, 'e2e.prefill_logits'), 1024, null).maxAbs;
    expect(diff).toBeLessThanOrEqual(0.5);
    expect(r.generated_ids).toEqual(expected);
  }, 400_000);

  it('typed one-line errors: bad feature shape, placeholder count, no audio tower', { timeout: 400_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'g3n-audio-'));
    expect(await failure(['encode-audio', '--model', AUDIO, '--features', `${GOLDEN}:wave`, '--out', join(dir, 'a.safetensors')])).toMatch(/^g3n: BAD_INPUT: audio features must be \[clips, frames, 128\] \(or \[frames, 128\]\); 'wave' is \[32000\]/);
    expect(await failure(['run', '--model', AUDIO, '--ids', '2,1009,1009', '--max-new-tokens', '0', '--json', join(dir, 'r.json'), '--audio-features', `${GOLDEN}:input_features`])).toMatch(
      /^g3n: BAD_INPUT: the prompt holds 2 audio placeholders \(id 1009\) but 1 clip need 16/,
    );
    expect(await failure(['encode-audio', '--model', TINY, '--features', `${GOLDEN}:input_features`, '--out', join(dir, 'b.safetensors')])).toMatch(/^g3n: BAD_CHECKPOINT: This checkpoint has no audio tower/);
  });
});
