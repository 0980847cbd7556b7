import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { encodeWav } from '@g3n/preprocess';
import { FIXTURES, loadGolden, tensor, type GoldenTensor } from '../../gemma3n/test/golden.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '../../..');
const DIR = join(FIXTURES, 'gemma3n-tiny-audio-a');
const GOLDEN = join(DIR, 'golden.safetensors');

function g3n(args: string[]) {
  return run('node', ['--import', 'tsx', '--import', './tools/wgsl-raw-hook.mjs', 'packages/cli/src/main.ts', ...args], { cwd: ROOT, timeout: 300_000 });
}

async function tmp(name: string): Promise<string> {
  return join(await mkdtemp(join(tmpdir(), 'g3n-audio-')), name);
}

/** The fixture README's tolerance (2e-3 where golden >= -7, 0.1 elsewhere). */
function expectFeatures(got: Float32Array, golden: Float32Array): void {
  expect(got.length).toBe(golden.length);
  let high = 0;
  let low = 0;
  for (let i = 0; i < golden.length; i++) {
    const d = Math.abs(got[i] - golden[i]);
    if (golden[i] >= -7) high = Math.max(high, d);
    else low = Math.max(low, d);
  }
  expect(high).toBeLessThanOrEqual(2e-3);
  expect(low).toBeLessThanOrEqual(0.1);
}

function shape(g: Map<string, GoldenTensor>, name: string): number[] {
  return g.get(name)!.shape;
}

describe('g3n audio-features (the command-line contract)', () => {
  it('one --wave writes input_features [T, 128] F32 and input_features_mask [T] I64 equal to the goldens', async () => {
    const out = await tmp('features.safetensors');
    const { stdout } = await g3n(['audio-features', '--wave', `${GOLDEN}:wave`, '--config', join(DIR, 'preprocessor_config.json'), '--out', out]);
    expect(stdout).toMatch(/1 clip\(s\), 197 frames x 128 mel bins/);
    const golden = await loadGolden(GOLDEN);
    const r = await loadGolden(out);
    expect([...r.keys()].sort()).toEqual(['input_features', 'input_features_mask']);
    expect(shape(r, 'input_features')).toEqual([197, 128]);
    expect(shape(r, 'input_features_mask')).toEqual([197]);
    expectFeatures(tensor(r, 'input_features'), tensor(golden, 'input_features'));
    expect(Array.from(tensor(r, 'input_features_mask'))).toEqual(Array.from(tensor(golden, 'input_features_mask')));
    const header = await readFile(out);
    expect(header.subarray(8, 8 + Number(header.readBigUInt64LE(0))).toString()).toContain('"input_features_mask":{"dtype":"I64"');
  });

  it('several --wave write batch.input_features [B, T, 128] and batch.input_features_mask [B, T]', async () => {
    const out = await tmp('batch.safetensors');
    await g3n(['audio-features', '--wave', `${GOLDEN}:batch.wave.0`, '--wave', `${GOLDEN}:batch.wave.1`, '--out', out]);
    const golden = await loadGolden(GOLDEN);
    const r = await loadGolden(out);
    expect(shape(r, 'batch.input_features')).toEqual([2, 197, 128]);
    expectFeatures(tensor(r, 'batch.input_features'), tensor(golden, 'batch.input_features'));
    expect(Array.from(tensor(r, 'batch.input_features_mask'))).toEqual(Array.from(tensor(golden, 'batch.input_features_mask')));
  });

  it('--audio reads WAV files: the golden wave as 16 kHz float WAV, a 48 kHz 16-bit stereo tone resampled, 31 s split into two clips', async () => {
    const golden = await loadGolden(GOLDEN);
    const floatWav = await tmp('wave.wav');
    await writeFile(floatWav, encodeWav([tensor(golden, 'wave')], 16000, 'float32'));
    // 1.5 s of 1 kHz at 48 kHz: 72,000 samples -> 24,000 at 16 kHz -> 150 valid frames.
    const tone = Float32Array.from({ length: 72000 }, (_, i) => 0.3 * Math.sin((2 * Math.PI * 1000 * i) / 48000));
    const toneWav = await tmp('tone.wav');
    await writeFile(toneWav, encodeWav([tone, tone], 48000, 'pcm16'));
    // 31 s at 16 kHz: two clips of 15.5 s (248,000 samples, padded to 248,064: 1,548 frames).
    const longWav = await tmp('long.wav');
    await writeFile(longWav, encodeWav([Float32Array.from({ length: 496_000 }, (_, i) => 0.1 * Math.sin(i / 7))], 16000, 'pcm16'));
    const out = await tmp('wav.safetensors');
    const { stdout } = await g3n(['audio-features', '--audio', floatWav, '--audio', toneWav, '--audio', longWav, '--out', out]);
    expect(stdout).toMatch(/float32, 1 channel\(s\): 2\.0 s of audio in one clip/);
    expect(stdout).toMatch(/pcm16, 2 channel\(s\), resampled from 48000 Hz: 1\.5 s of audio in one clip/);
    expect(stdout).toMatch(/pcm16, 1 channel\(s\): 31\.0 s of audio split into 2 clips of 15\.5 s \(each at most 30\.0 s\)/);
    const r = await loadGolden(out);
    const T = 1548;
    expect(shape(r, 'batch.input_features')).toEqual([4, T, 128]);
    const f = tensor(r, 'batch.input_features');
    const mask = Array.from(tensor(r, 'batch.input_features_mask'));
    const valid = [0, 1, 2, 3].map((b) => mask.slice(b * T, (b + 1) * T).reduce((a, v) => a + v, 0));
    // Valid frames start inside the clip: 2 s -> 200, 1.5 s -> 150, 15.5 s -> all 1548.
    expect(valid).toEqual([200, 150, T, T]);
    // The golden wave's first 197 frames read only its own samples, so they are the single-clip golden's.
    expectFeatures(f.subarray(0, 197 * 128), tensor(golden, 'input_features'));
    // The tone's energy sits in the mel bin around 1 kHz in a middle frame.
    const row = f.subarray((T + 75) * 128, (T + 76) * 128);
    const peak = row.indexOf(Math.max(...row));
    const centre = (m: number) => 700 * (10 ** ((2595 * Math.log10(1 + 125 / 700) + ((2595 * Math.log10(1 + 7600 / 700) - 2595 * Math.log10(1 + 125 / 700)) * (m + 1)) / 129) / 2595) - 1);
    expect(Math.abs(centre(peak) - 1000)).toBeLessThan(60);
  });

  for (const [what, setup, message] of [
    ['a file that is not a WAV', (p: string) => writeFile(p, 'hello'), /BAD_INPUT: not a WAV file/],
    ['an ADPCM WAV', (p: string) => { const w = encodeWav([new Float32Array(100)], 16000, 'pcm16'); new DataView(w.buffer).setUint16(20, 2, true); return writeFile(p, w); }, /BAD_INPUT: WAV format 2/],
  ] as const) {
    it(`refuses ${what} with a typed error, before any GPU work`, async () => {
      const wav = await tmp('bad.wav');
      await setup(wav);
      const err = await g3n(['audio-features', '--audio', wav, '--out', await tmp('x.safetensors')]).then(() => null, (e: { stderr: string; code: number }) => e);
      expect(err?.code).toBe(1);
      expect(err?.stderr).toMatch(message);
    });
  }

  it('refuses a missing tensor and a missing --out', async () => {
    const err = await g3n(['audio-features', '--wave', `${GOLDEN}:nope`, '--out', await tmp('x.safetensors')]).then(() => null, (e: { stderr: string }) => e);
    expect(err?.stderr).toMatch(/has no tensor 'nope'/);
    const err2 = await g3n(['audio-features', '--wave', `${GOLDEN}:wave`]).then(() => null, (e: { stderr: string }) => e);
    expect(err2?.stderr).toMatch(/missing --out/);
  });
});
