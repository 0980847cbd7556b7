import { afterAll, describe, expect, it } from 'vitest';
import type { Gpu } from '@g3n/gpu';
import { kernelCases, runKernelBench } from '../src/kernels.ts';
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
});
