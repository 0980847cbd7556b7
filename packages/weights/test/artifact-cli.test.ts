import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { openModelDir } from '../src/artifact/reader.ts';
import { nodeFileSource } from '../src/node-source.ts';
import { bytesEqual, TINY } from './artifact-util.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'g3n-cli-'));
const run = promisify(execFile);

function g3n(...args: string[]) {
  return run(process.execPath, ['--import', 'tsx', '--import', './tools/wgsl-raw-hook.mjs', 'packages/cli/src/main.ts', ...args], { cwd: root });
}

afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('g3n convert', () => {
  it('prints progress, writes the same bytes on every run, and the result opens as a model directory', async () => {
    const args = ['--in', TINY, '--quant', 'q8', '--shard-mib', '0.2', '--model-id', 'google/tiny', '--revision', 'v1'];
    const first = await g3n('convert', ...args, '--out', join(out, 'a'));
    await g3n('convert', ...args, '--out', join(out, 'b'));
    expect(first.stdout).toMatch(/^\[\s*1\/211\]\s+[\d.]+%\s+model\.language_model\./m);
    expect(first.stdout).toMatch(/wrote shard-00000\.bin: [\d.]+ MiB, sha256 [0-9a-f]{64}/);
    const files = readdirSync(join(out, 'a')).sort();
    expect(files).toEqual(readdirSync(join(out, 'b')).sort());
    expect(files.length).toBeGreaterThan(3);
    for (const f of files) expect(bytesEqual(readFileSync(join(out, 'a', f)), readFileSync(join(out, 'b', f))), f).toBe(true);

    const art = await openModelDir(nodeFileSource(join(out, 'a')), { verify: true });
    expect(art.format).toBe('g3n-artifact');
    if (art.format !== 'g3n-artifact') return;
    expect(art.manifest.model).toEqual({ id: 'google/tiny', revision: 'v1' });
    expect(art.manifest.quant).toBe('q8');
    expect((art.config as { model_type: string }).model_type).toBe('gemma3n');
  });

  it('openModelDir falls back to the Hugging Face checkpoint, with readTensorData', async () => {
    const ckpt = await openModelDir(nodeFileSource(TINY));
    expect(ckpt.format).toBe('safetensors');
    const d = await ckpt.readTensorData('model.language_model.layers.0.mlp.down_proj.weight');
    expect(d.dtype).toBe('BF16');
    expect(d.bytes.length).toBe(128 * 256 * 2);
  });

  it('rejects bad options with a one-line error', async () => {
    const err = await g3n('convert', '--in', TINY, '--out', join(out, 'c'), '--quant', 'q3').catch((e) => e);
    expect(err.code).toBe(1);
    expect(err.stderr.trim()).toBe('g3n: --quant must be one of q4, q8, f16, bf16, f32, got \'q3\'');
  });
});
