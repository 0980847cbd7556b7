import { afterAll, describe, expect, it } from 'vitest';
import type { Gpu } from '@g3n/gpu';
import { kernelCases, runKernelBench, type SideBySide } from '../src/kernels.ts';
import { timingMethod } from '../src/timing.ts';
import { freshGpu, testGpu } from '../../kernels/test/util.ts';

describe('kernel benchmarks (1/32 widths)', () => {
  let profiled: Gpu | null = null;
  afterAll(() => profiled?.destroy());

  it('lists every shape of the issue for each dtype', () => {
    const names = kernelCases(1, ['q4', 'q8'], 1 << 30).map((c) => `${c.name} ${c.model} ${c.shape.join('x')}`);
    expect(names).toEqual(
      expect.arrayContaining([
        'q_proj/o_proj q4 E2B/E4B 2048x2048',
        'k_proj/v_proj q4 E2B/E4B 512x2048',
        'gate/up_proj q4 E2B 8192x2048',
        'down_proj q4 E4B 2048x16384',
        'lm_head q8 E2B/E4B 262400x2048',
        'prefill gate/up_proj q4 E2B 512x8192x2048',
        'attention decode global ctx=32768 E2B/E4B 8x2x256x32768',
      ]),
    );
  });

  for (const profile of [false, true]) {
    it(`times a matvec, a split LM head, decode attention and the copy (${profile ? 'timestamp queries' : 'wall clock'})`, async () => {
      const gpu = profile ? (profiled = await freshGpu({ profile: true, capLimits: { maxStorageBufferBindingSize: 1 << 17 } })) : await testGpu();
      expect(timingMethod(gpu)).toBe(profile && gpu.caps.features.timestampQuery ? 'timestamp-query' : 'wall-clock');
      const wanted = ['copy', 'q_proj/o_proj q4', 'lm_head q4', 'attention decode sliding'];
      const cases = kernelCases(32, ['q4'], 1 << 17).filter((c) => wanted.some((w) => c.name.startsWith(w)));
      const results = await runKernelBench(gpu, cases, { workingSet: 0, reps: 2, trials: 1 });
      expect(results.map((r) => r.name.split(' ')[0])).toEqual(['copy', 'q_proj/o_proj', 'lm_head', 'attention']);
      for (const r of results) {
        expect(r.ms, r.name).toBeGreaterThan(0);
        expect(Number.isFinite(r.gbps)).toBe(true);
        expect(r.ort_ms).toBeNull();
      }
    });
  }

  it('merges a side-by-side measurement into its row (ratio = ort_ms / wall_ms) and leaves the others null', async () => {
    const gpu = await testGpu();
    const cases = kernelCases(32, ['q4'], 1 << 17).filter((c) => c.name.startsWith('copy') || c.name.startsWith('k_proj'));
    const seen: string[] = [];
    const sideBySide: SideBySide = {
      measure: async (_gpu, c, built) => {
        seen.push(`${c.name}: ${built.operands.kind}`);
        return built.operands.kind === 'linear' ? { ort_ms: 6, wall_ms: 2, max_rel_diff: 1e-7 } : null;
      },
    };
    const results = await runKernelBench(gpu, cases, { workingSet: 0, reps: 1, trials: 1, sideBySide });
    expect(seen).toEqual(['copy (bandwidth reference): copy', 'k_proj/v_proj q4: linear']);
    expect(results.map((r) => [r.ort_ms, r.wall_ms, r.ratio, r.ort_max_rel_diff])).toEqual([
      [null, null, null, null],
      [6, 2, 3, 1e-7],
    ]);
  });
});
