import { afterAll, describe, expect, it } from 'vitest';
import { createTensor, readBytes, runOnce, type Gpu } from '@g3n/gpu';
import { bf16BitsToF32, decodeWeight, f16BitsToF32 } from '@g3n/kernels';
import { FILL_MODES, fillKernels, fillRandom, fillWeight, type FillMode } from '../src/fill.ts';
import { fillRef } from '../src/ref/fill.ts';
import { expectClose, freshGpu, testGpu } from '../../kernels/test/util.ts';

/** The f32 values a word array holds in `mode` (two per word for the 16-bit modes). */
function values(words: Uint32Array, mode: FillMode): Float32Array {
  if (mode === 'f32') return new Float32Array(words.buffer.slice(0));
  const halves = new Uint16Array(words.buffer.slice(0));
  return mode === 'bf16' ? bf16BitsToF32(halves) : f16BitsToF32(halves);
}

async function run(gpu: Gpu, words: number, mode: FillMode, seed: number, amp: number): Promise<Uint32Array> {
  const t = createTensor(gpu, 'fill.out', 'u32', [words]);
  await runOnce(gpu, 'fill', [fillRandom(gpu, { out: t, words, mode, seed, amp })]);
  const out = new Uint32Array(await readBytes(gpu, t.buffer, 0, 4 * words));
  t.buffer.destroy();
  return out;
}

const MODES = Object.keys(FILL_MODES) as FillMode[];
/** Bit-exact where the kernel's arithmetic is exact in f32; one f16 rounding step otherwise. */
const EXACT: ReadonlySet<FillMode> = new Set(['f32', 'bf16', 'bits']);

describe('fill (random weights on the device)', () => {
  let folded: Gpu | null = null;
  afterAll(() => folded?.destroy());

  it('compiles its variant', async () => {
    const gpu = await testGpu();
    await gpu.pipelines.prepare(Object.values(fillKernels));
  });

  for (const words of [1, 255, 257, 70_001]) {
    for (const mode of MODES) {
      it(`${mode}, ${words} words, equals the CPU reference`, async () => {
        const gpu = await testGpu();
        const amp = mode === 'scales' ? 0.01 : 0.37;
        const got = await run(gpu, words, mode, 1234 + words, amp);
        const want = fillRef(words, mode, 1234 + words, amp);
        if (EXACT.has(mode)) expect(Array.from(got)).toEqual(Array.from(want));
        else expectClose(`fill ${mode}`, values(got, mode), values(want, mode), { atol: 1e-7, rtol: 2 ** -10 });
        if (mode !== 'bits') {
          const v = values(got, mode);
          const lo = mode === 'scales' ? (amp / 2) * (1 - 2 ** -10) : -amp * (1 + 2 ** -10);
          expect(v.every((x) => x >= lo && x <= amp * (1 + 2 ** -10))).toBe(true);
        }
      });
    }
  }

  it('folds a grid past the per-dimension workgroup limit', async () => {
    folded = await freshGpu({ capLimits: { maxComputeWorkgroupsPerDimension: 64 } });
    const d = fillRandom(folded, { out: createTensor(folded, 'x', 'u32', [70_001]), words: 70_001, mode: 'bits', seed: 9, amp: 1 });
    expect(d.workgroups[1]).toBeGreaterThan(1);
    const got = await run(folded, 70_001, 'bits', 9, 1);
    expect(Array.from(got)).toEqual(Array.from(fillRef(70_001, 'bits', 9, 1)));
  });

  for (const dtype of ['q4', 'q8', 'bf16', 'f16', 'f32'] as const) {
    it(`fillWeight ${dtype}: values within the amplitude, scales positive`, async () => {
      const gpu = await testGpu();
      const [rows, cols] = [33, 96];
      const t = createTensor(gpu, `w.${dtype}`, dtype, [rows, cols]);
      const amp = 0.25;
      await runOnce(gpu, 'fill.weight', fillWeight(gpu, t, 77, amp));
      const data = new Uint32Array(await readBytes(gpu, t.buffer, 0, t.byteLength));
      const scales = t.scales ? new Uint32Array(await readBytes(gpu, t.scales.buffer, 0, t.scales.byteLength)) : undefined;
      const v = decodeWeight(dtype, data, scales, rows * cols);
      const max = v.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
      expect(max).toBeLessThanOrEqual(amp * (1 + 2 ** -9));
      expect(max).toBeGreaterThan(amp / 4);
      t.buffer.destroy();
      t.scales?.buffer.destroy();
    });
  }

  it('rejects bad arguments before any GPU work', async () => {
    const gpu = await testGpu();
    const t = createTensor(gpu, 'small', 'u32', [4]);
    expect(() => fillRandom(gpu, { out: t, words: 5, mode: 'bits', seed: 0, amp: 1 })).toThrow(/overrun/);
    expect(() => fillRandom(gpu, { out: t, words: 0, mode: 'bits', seed: 0, amp: 1 })).toThrow(/positive/);
    expect(() => fillRandom(gpu, { out: t, words: 4, mode: 'f16', seed: 0, amp: 1e6 })).toThrow(/out of range/);
    t.buffer.destroy();
  });
});
