import { afterAll, describe, expect, it } from 'vitest';
import { createTensor, readF32, runOnce, type Gpu } from '@g3n/gpu';
import { linear } from '@g3n/kernels';
import { seedOf } from '../src/fill.ts';
import { kernelCases, runKernelBench, sparseActivation, type SideBySide } from '../src/kernels.ts';
import { timingMethod } from '../src/timing.ts';
import { expectClose, freshGpu, testGpu } from '../../kernels/test/util.ts';

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
        'down_proj sparse 5% q4 E2B 2048x8192',
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

  it('the sparse down_proj case gathers its transposed weight: the dense product on 5% of the inputs, reading their rows', async () => {
    const gpu = await testGpu();
    const [c] = kernelCases(32, ['q4'], 1 << 17).filter((k) => k.name.startsWith('down_proj sparse'));
    expect([c.name, c.shape]).toEqual(['down_proj sparse 5% q4', [64, 256]]);
    const x = sparseActivation(256, 0.05, seedOf(c.name));
    const kept = x.filter((v) => v !== 0).length;
    const groups = [0, 1, 2, 3, 4, 5, 6, 7].filter((g) => x.subarray(32 * g, 32 * g + 32).some((v) => v !== 0)).length;
    expect(kept).toBeGreaterThan(3);
    expect(kept).toBeLessThan(30);
    // a q4 row of 64 outputs is 32 bytes; each group holding a kept input adds 64 f16 scales
    expect(c.bytes).toBe(kept * 32 + groups * 64 * 2);
    const built = c.build(gpu, 0);
    try {
      await runOnce(gpu, 'sparse.fill', built.fills);
      await runOnce(gpu, 'sparse.call', built.call);
      const op = built.operands;
      if (op.kind !== 'linear') throw new Error('a linear case');
      const dense = createTensor(gpu, 'dense', 'f32', [1, 64]);
      await runOnce(gpu, 'dense', op.w.parts.map((p) => linear(gpu, { x: op.x, w: p.tensor, out: dense, rows: 1, outOffset: p.row0, outStride: 64 })));
      const want = await readF32(gpu, dense);
      expect(want.some((v) => v !== 0)).toBe(true);
      expectClose('sparse down_proj', await readF32(gpu, op.out), Float64Array.from(want), { atol: 1e-5 * Math.max(...want.map(Math.abs)), rtol: 0 });
      dense.buffer.destroy();
    } finally {
      built.destroy();
    }
  });

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
