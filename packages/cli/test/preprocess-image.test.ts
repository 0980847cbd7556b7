import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadGolden } from '../../gemma3n/test/golden.ts';
import { diffStats, IMAGE_FIXTURE, imageFixture, imageGolden } from '../../preprocess/test/image-golden.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '../../..');

function g3n(args: string[]) {
  return run('node', ['--import', 'tsx', '--import', './tools/wgsl-raw-hook.mjs', 'packages/cli/src/main.ts', 'preprocess-image', ...args], { cwd: ROOT, timeout: 300_000 });
}

async function pixelValues(path: string) {
  const t = (await loadGolden(path)).get('pixel_values');
  if (!t) throw new Error(`${path} has no pixel_values`);
  return t;
}

describe('g3n preprocess-image', async () => {
  const fixture = await imageFixture();
  for (const c of fixture.cases) {
    for (const input of ['rgba', 'image'] as const) {
      it(`${c.name} via --${input} matches the golden pixel_values`, async () => {
        const out = join(await mkdtemp(join(tmpdir(), 'g3n-pre-')), 'pv.safetensors');
        const args = input === 'rgba' ? ['--rgba', join(IMAGE_FIXTURE, c.raw), '--size', `${c.width}x${c.height}`] : ['--image', join(IMAGE_FIXTURE, c.png)];
        const { stdout } = await g3n([...args, '--out', out]);
        expect(stdout).toContain(`from a ${c.width} x ${c.height} image`);
        const t = await pixelValues(out);
        expect(t.shape).toEqual(c.shape);
        const stats = diffStats(t.data, await imageGolden(c));
        expect(stats.maxAbs, JSON.stringify(stats)).toBeLessThanOrEqual(fixture.tolerance.max_abs);
        expect(stats.meanAbs, JSON.stringify(stats)).toBeLessThanOrEqual(fixture.tolerance.mean_abs);
      });
    }
  }

  it("takes the target size from --model's preprocessor_config.json", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'g3n-pre-'));
    await writeFile(join(dir, 'preprocessor_config.json'), JSON.stringify({ size: { height: 48, width: 64 } }));
    const out = join(dir, 'pv.safetensors');
    const c = fixture.cases.find((x) => x.name.startsWith('small'))!;
    await g3n(['--rgba', join(IMAGE_FIXTURE, c.raw), '--size', `${c.width}x${c.height}`, '--model', dir, '--out', out]);
    expect((await pixelValues(out)).shape).toEqual([3, 48, 64]);
  });

  it('exits non-zero with one line for bad arguments, mis-sized RGBA data and a file that is no image', async () => {
    const cases = [
      [['--rgba', 'x.rgba', '--out', '/tmp/pv.safetensors'], /--rgba needs --size/],
      [['--rgba', join(IMAGE_FIXTURE, 'small_500x375.rgba'), '--size', '500x376', '--out', '/tmp/pv.safetensors'], /BAD_INPUT: .*does not match 500 x 376/],
      [['--image', join(IMAGE_FIXTURE, 'fixture.json'), '--out', '/tmp/pv.safetensors'], /BAD_INPUT: .*neither a PNG nor a JPEG/],
    ] as const;
    // Started together: each is mostly Node start-up.
    const errors = await Promise.all(cases.map(([args]) => g3n([...args]).then(() => null, (e: { code: number; stderr: string }) => e)));
    errors.forEach((err, i) => {
      expect(err, String(cases[i][1])).not.toBeNull();
      expect(err!.code).not.toBe(0);
      const lines = err!.stderr.split('\n').filter((l) => l.startsWith('g3n:'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(cases[i][1]);
    });
  });
});
