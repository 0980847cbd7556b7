import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { convertCheckpoint, openCheckpoint, type Manifest } from '@g3n/weights';
import { nodeArtifactSink, nodeFileSource } from '@g3n/weights/node';
import { FIXTURES } from '../../gemma3n/test/golden.ts';
import { checkOutputPath, errorLine, HelpRequested } from '../src/args.ts';
import { CONVERT_USAGE } from '../src/commands/convert.ts';
import { RUN_USAGE, runCommand } from '../src/commands/run.ts';
import { fuzzSafetensors, rng } from '../../weights/test/fuzz.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '../../..');
const TINY = join(FIXTURES, 'gemma3n-tiny-a');
const tmp = mkdtempSync(join(tmpdir(), 'g3n-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** `pnpm g3n ...` without pnpm; resolves to the exit code and both streams. */
async function g3n(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env };
  delete env.XDG_RUNTIME_DIR;
  try {
    const r = await run('node', ['--import', 'tsx', '--import', './tools/wgsl-raw-hook.mjs', 'packages/cli/src/main.ts', ...args], { cwd: ROOT, timeout: 300_000, env });
    return { code: 0, ...r };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

describe('the one line an error prints', () => {
  it('handles anything thrown, prints the code once and the first line only', () => {
    class Typed extends Error {
      code = 'INTEGRITY';
    }
    expect(errorLine(new Error('boom\nstack-ish detail'))).toBe('g3n: boom');
    expect(errorLine(new Typed('INTEGRITY: shard-00000.bin does not match'))).toBe('g3n: INTEGRITY: shard-00000.bin does not match');
    expect(errorLine(new Typed('shard-00000.bin does not match'))).toBe('g3n: INTEGRITY: shard-00000.bin does not match');
    expect(errorLine('a plain string')).toBe('g3n: a plain string');
    expect(errorLine(42)).toBe('g3n: unexpected failure (42)');
    expect(errorLine(undefined)).toBe('g3n: unexpected failure (undefined)');
    expect(errorLine(null)).toBe('g3n: unexpected failure (null)');
    expect(errorLine(Symbol('s'))).toBe('g3n: unexpected failure (Symbol(s))');
    expect(errorLine(Object.create(null))).toBe('g3n: unexpected failure ([object Object])');
    expect(errorLine({ message: 'shaped like an error', code: 'NETWORK' })).toBe('g3n: NETWORK: shaped like an error');
    expect(errorLine(new Error(''))).toBe('g3n: unknown error');
  });

  it('checks the output path before any work', () => {
    expect(() => checkOutputPath(join(tmp, 'missing', 'out.json'), 'json')).toThrow(/does not exist/);
    expect(() => checkOutputPath(tmp, 'json')).toThrow(/is a folder/);
    writeFileSync(join(tmp, 'file'), '');
    expect(() => checkOutputPath(join(tmp, 'file', 'out.json'), 'json')).toThrow(/is not a folder/);
    expect(() => checkOutputPath(join(tmp, 'out.json'), 'json')).not.toThrow();
  });

  it('every command takes --help, with a usage that names each option', async () => {
    const help = async (f: () => Promise<unknown>) => {
      try {
        await f();
      } catch (e) {
        if (e instanceof HelpRequested) return e.usage;
        throw e;
      }
      throw new Error('no usage');
    };
    expect(await help(() => runCommand(['--help']))).toBe(RUN_USAGE);
    expect(await help(() => runCommand(['--model', 'x', '-h']))).toBe(RUN_USAGE);
    for (const o of ['model', 'ids', 'max-new-tokens', 'json', 'matformer']) expect(RUN_USAGE).toContain(`--${o}`);
    for (const o of ['in', 'out', 'quant', 'model-id', 'revision', 'shard-mib', 'roles']) expect(CONVERT_USAGE).toContain(`--${o}`);
  });
});

describe('g3n run from the shell', () => {
  it('--help prints the usage and exits 0', async () => {
    const r = await g3n(['run', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--matformer');
    expect(r.stderr).toBe('');
  });

  it('an output path in a missing folder fails at once, before the model loads', async () => {
    const started = Date.now();
    const r = await g3n(['run', '--model', TINY, '--ids', '2,3', '--max-new-tokens', '1', '--json', join(tmp, 'nope', 'out.json')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^g3n: --json .*does not exist$/)]);
    expect(Date.now() - started).toBeLessThan(60_000);
  });

  it('a flipped byte in an artifact shard: exit 1, one line that the integrity check failed, no GPU warnings', async () => {
    const dir = join(tmp, 'artifact');
    const manifest: Manifest = await convertCheckpoint(await openCheckpoint(nodeFileSource(TINY)), { quant: 'q8', modelId: 'tiny', revision: 'r1', shardBytes: 1 << 20 }, nodeArtifactSink(dir));
    for (const f of ['tokenizer.json', 'generation_config.json']) {
      try {
        copyFileSync(join(TINY, f), join(dir, f));
      } catch {
        // The fixture does not ship it.
      }
    }
    expect(manifest.shards.length).toBeGreaterThan(1);
    // The last shard, so that most of the model has loaded when the damage is read.
    const last = manifest.shards[manifest.shards.length - 1];
    const t = manifest.tensors.find((x) => x.parts.some((p) => p.shard === manifest.shards.length - 1)) as Manifest['tensors'][number];
    const part = t.parts.find((p) => p.shard === manifest.shards.length - 1) as Manifest['tensors'][number]['parts'][number];
    const bytes = readFileSync(join(dir, last.file));
    bytes[part.offset + (part.length >> 1)] ^= 0x40;
    writeFileSync(join(dir, last.file), bytes);
    const r = await g3n(['run', '--model', dir, '--ids', '2,3', '--max-new-tokens', '1', '--json', join(tmp, 'out.json')]);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^g3n: INTEGRITY: ${last.file} \\(.*\\): sha256 [0-9a-f]{64} does not match`));
    expect(r.stderr).not.toContain('XDG_RUNTIME_DIR');
  });

  it('fuzzed safetensors through g3n run: each case exits 0 or with one typed line, never a hang or a stack trace', async () => {
    const file = new Uint8Array(readFileSync(join(TINY, 'model.safetensors')));
    for (const seed of [3, 7, 12, 21]) {
      const dir = join(tmp, `fuzz-${seed}`);
      mkdirSync(dir);
      copyFileSync(join(TINY, 'config.json'), join(dir, 'config.json'));
      writeFileSync(join(dir, 'model.safetensors'), fuzzSafetensors(file, rng(seed)));
      const r = await g3n(['run', '--model', dir, '--ids', '2,3', '--max-new-tokens', '1', '--json', join(dir, 'out.json')]);
      expect([0, 1], `case ${seed}: ${r.stderr}`).toContain(r.code);
      expect(r.stderr, `case ${seed}`).not.toMatch(/^\s+at /m);
      if (r.code !== 0) expect(r.stderr.trim().split('\n'), `case ${seed}`).toEqual([expect.stringMatching(/^g3n: (BAD_CHECKPOINT|BAD_CONFIG|BAD_SHAPE): /)]);
    }
  });

  it('a config.json without hidden_size: exit 1 with one line that names hidden_size', async () => {
    const dir = join(tmp, 'no-hidden-size');
    mkdirSync(dir);
    const config = JSON.parse(readFileSync(join(TINY, 'config.json'), 'utf8'));
    delete config.text_config.hidden_size;
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    copyFileSync(join(TINY, 'model.safetensors'), join(dir, 'model.safetensors'));
    const r = await g3n(['run', '--model', dir, '--ids', '2,3', '--max-new-tokens', '1', '--json', join(dir, 'out.json')]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^g3n: BAD_CONFIG: config\.json: text_config\.hidden_size is missing/)]);
  });
});
