import { describe, expect, it } from 'vitest';
import { createTensor, Plan, readU32, runOnce, ShapeError, submitPlans, tensorFromF32, type Dispatch, type Gpu, type Tensor } from '@g3n/gpu';
import { argmax, sample, SAMPLE_NONFINITE, SAMPLE_SCRATCH_WORDS, sampleKernels, samplerUniform, type SampleArgs } from '../src/sample.ts';
import { argmaxRef, pcgHash, sampleRef, sampleRefDetail, type SampleOptions } from '../src/ref/sample.ts';
import { randn, testGpu } from './util.ts';

// Tokens are compared exactly: the GPU and the reference share candidates, tie rules and RNG. The one
// allowed difference is a draw whose target lies within MARGIN (relative to the total mass) of a
// cumulative-probability boundary, where f32 and f64 sums may round to different sides.
const MARGIN = 1e-5;

function expectSameTokens(got: number[], logits: Float32Array, opts: Array<SampleOptions>): void {
  let exempt = 0;
  opts.forEach((o, i) => {
    const want = sampleRefDetail(logits, o);
    if (got[i] === want.token) return;
    expect(want.margin, `draw ${i} (seed ${o.seed}, step ${o.step}): GPU ${got[i]}, reference ${want.token}`).toBeLessThan(MARGIN);
    exempt++;
  });
  expect(exempt).toBeLessThanOrEqual(Math.max(1, opts.length / 20));
}

function u32Tensor(gpu: Gpu, label: string, words: number): Tensor {
  return createTensor(gpu, label, 'u32', [words]);
}

/** `count` u32 outputs 256 bytes apart, so each can be bound on its own. */
function outSlots(gpu: Gpu, count: number): { all: Tensor; slot: (i: number) => Tensor } {
  const all = u32Tensor(gpu, 'outs', 64 * count);
  return { all, slot: (i) => ({ label: `out${i}`, dtype: 'u32', shape: [1], buffer: all.buffer, offset: 256 * i, byteLength: 4 }) };
}

async function readSlots(gpu: Gpu, all: Tensor, count: number): Promise<number[]> {
  const words = await readU32(gpu, all);
  return Array.from({ length: count }, (_, i) => words[64 * i]);
}

function withTies(n: number, seed: number, step: number): Float32Array {
  return randn(n, seed, 2).map((x) => Math.round(x / step) * step);
}

describe('argmax', () => {
  const cases: Array<[string, Float32Array]> = [
    ['n=1', new Float32Array([-3])],
    ['n=7 ties', new Float32Array([1, 5, -2, 5, 5, 0, 4])],
    ['n=255 all negative', randn(255, 4).map((x) => -Math.abs(x) - 1)],
    ['n=1000 -inf and ties', withTies(1000, 5, 0.5).map((x, i) => (i % 3 === 0 ? -Infinity : x))],
    ['n=70001', randn(70001, 6)],
    ['n=262400 max repeated', (() => {
      const x = randn(262400, 7, 3);
      x[200000] = x[150001] = x[262399] = 50;
      return x;
    })()],
  ];
  it.each(cases)('%s', async (_, logits) => {
    const gpu = await testGpu();
    const out = u32Tensor(gpu, 'out', 1);
    await runOnce(gpu, 'argmax', argmax(gpu, { logits: tensorFromF32(gpu, 'logits', [logits.length], logits), n: logits.length, out }));
    expect((await readU32(gpu, out))[0]).toBe(argmaxRef(logits, logits.length));
  });

  it('considers only logits[0, n)', async () => {
    const gpu = await testGpu();
    const logits = randn(3000, 8);
    logits[2999] = 100;
    const out = u32Tensor(gpu, 'out', 1);
    await runOnce(gpu, 'argmax', argmax(gpu, { logits: tensorFromF32(gpu, 'logits', [3000], logits), n: 2990, out }));
    expect((await readU32(gpu, out))[0]).toBe(argmaxRef(logits, 2990));
  });
});

interface SampleCase {
  name: string;
  logits: Float32Array;
  n?: number;
  temperature: number;
  topK: number;
  topP: number;
  draws: number;
}

const big = randn(262400, 11, 2.5);
const sampleCases: SampleCase[] = [
  { name: 'n=262400 top-k 64 top-p 0.95', logits: big, temperature: 1, topK: 64, topP: 0.95, draws: 6 },
  { name: 'n=262400 top-k 1024 T=0.7', logits: big, temperature: 0.7, topK: 1024, topP: 1, draws: 4 },
  { name: 'n=262144 of 262400, top-k 0 (clamped) top-p 0.9 T=3', logits: big, n: 262144, temperature: 3, topK: 0, topP: 0.9, draws: 4 },
  { name: 'n=5000 ties top-k 100', logits: withTies(5000, 12, 0.25), temperature: 0.5, topK: 100, topP: 1, draws: 40 },
  { name: 'n=5000 ties top-k 7 top-p 0.5', logits: withTies(5000, 13, 0.5), temperature: 1, topK: 7, topP: 0.5, draws: 40 },
  { name: 'n=5000 all equal top-k 300', logits: new Float32Array(5000).fill(0.5), temperature: 1, topK: 300, topP: 0.8, draws: 40 },
  { name: 'n=4097 top-k 1', logits: randn(4097, 14), temperature: 1, topK: 1, topP: 1, draws: 10 },
  { name: 'n=37 top-k 0 (all) T=2', logits: randn(37, 15), temperature: 2, topK: 0, topP: 1, draws: 60 },
  { name: 'n=1000 top-p 0 (most likely only)', logits: randn(1000, 16), temperature: 1, topK: 50, topP: 0, draws: 10 },
  { name: 'n=1500 top-k 2000 (clamped to 1024) with -inf', logits: randn(1500, 17, 0.3).map((x, i) => (i % 5 === 1 ? -Infinity : x)), temperature: 1, topK: 2000, topP: 1, draws: 40 },
  { name: 'temperature 0 is argmax', logits: withTies(20000, 18, 0.5), temperature: 0, topK: 40, topP: 0.9, draws: 3 },
];

/** Run `draws` samples of one case as one recorded plan per draw slot (seed and step vary), check tokens against the reference. */
async function drawAll(gpu: Gpu, c: SampleCase, steps: Array<[number, number]>): Promise<number[]> {
  const n = c.n ?? c.logits.length;
  const logits = tensorFromF32(gpu, 'logits', [c.logits.length], c.logits);
  const scratch = u32Tensor(gpu, 'scratch', SAMPLE_SCRATCH_WORDS);
  const outs = outSlots(gpu, steps.length);
  const dispatches: Dispatch[] = [];
  steps.forEach(([seed, step], i) => {
    const args: SampleArgs = { logits, n, out: outs.slot(i), scratch, temperature: c.temperature, topK: c.topK, topP: c.topP, seed, step };
    dispatches.push(...sample(gpu, args));
  });
  await runOnce(gpu, 'sample', dispatches);
  return readSlots(gpu, outs.all, steps.length);
}

describe('sample', () => {
  it('compiles every variant', async () => {
    const gpu = await testGpu();
    await gpu.pipelines.prepare(Object.values(sampleKernels));
    for (const k of Object.values(sampleKernels)) expect(gpu.pipelines.has(k)).toBe(true);
  });

  it('samplerUniform is the documented PCG hash', () => {
    expect(pcgHash(0)).toBe(129708002);
    expect(pcgHash(1)).toBe(2831084092);
    expect(pcgHash(0xffffffff)).toBe(3861530882);
    expect(samplerUniform(42, 0)).toBe(0.6485052108764648);
    expect(samplerUniform(123456789, 1000)).toBe(0.26803058385849);
    for (let s = 0; s < 100; s++) {
      const u = samplerUniform(s * 7919, s);
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
      expect(u * 16777216).toBe(Math.floor(u * 16777216));
    }
  });

  it.each(sampleCases.map((c) => [c.name, c] as const))('matches the reference token for token: %s', async (_, c) => {
    const gpu = await testGpu();
    const steps = Array.from({ length: c.draws }, (_, i): [number, number] => [1000 + 37 * i, i * 13]);
    const got = await drawAll(gpu, c, steps);
    const n = c.n ?? c.logits.length;
    expectSameTokens(got, c.logits, steps.map(([seed, step]) => ({ n, temperature: c.temperature, topK: c.topK, topP: c.topP, seed, step })));
    if (c.draws >= 40 && c.topK !== 1) expect(new Set(got).size).toBeGreaterThan(1);
  });

  it('a recorded plan replays per step, and switches to greedy with temperature 0', async () => {
    const gpu = await testGpu();
    const logits = randn(3000, 21);
    const tl = tensorFromF32(gpu, 'logits', [3000], logits);
    const out = u32Tensor(gpu, 'out', 1);
    const opts: SampleOptions = { n: 3000, temperature: 1.5, topK: 40, topP: 0.9, seed: 7, step: 0 };
    const dispatches = sample(gpu, { logits: tl, out, ...opts });
    const plan = await Plan.build(gpu, 'sample', dispatches);
    for (let step = 0; step < 12; step++) {
      const temperature = step === 11 ? 0 : opts.temperature;
      for (let i = 0; i < dispatches.length; i++) plan.setParams(i, { step, temperature });
      submitPlans(gpu, [plan]);
      expect((await readU32(gpu, out))[0]).toBe(sampleRef(logits, { ...opts, step, temperature }));
    }
    plan.destroy();
  });

  it('2000 draws follow the truncated softmax', async () => {
    const gpu = await testGpu();
    const logits = new Float32Array([1.2, 0.3, 2.0, -0.5, 0.9, 2.0, -3, 0.1]);
    const opts = { n: 8, temperature: 0.8, topK: 5, topP: 0.9 };
    // Expected: the 5 largest (ties by index), softmax at T = 0.8, cut at mass 0.9, renormalised.
    const order = [2, 5, 0, 4, 1];
    const w = order.map((i) => Math.exp((logits[i] - 2) / opts.temperature));
    const z = w.reduce((a, b) => a + b);
    let kept = 0;
    for (let acc = 0; acc < 0.9 * z; kept++) acc += w[kept];
    const mass = w.slice(0, kept).reduce((a, b) => a + b);
    const draws = 2000;
    const batch = 250;
    const counts = new Map<number, number>();
    for (let b = 0; b < draws / batch; b++) {
      const steps = Array.from({ length: batch }, (_, i): [number, number] => [42, b * batch + i]);
      const got = await drawAll(gpu, { name: 'stats', logits, draws: batch, ...opts }, steps);
      expectSameTokens(got, logits, steps.map(([seed, step]) => ({ ...opts, seed, step })));
      for (const t of got) counts.set(t, (counts.get(t) ?? 0) + 1);
    }
    for (const t of counts.keys()) expect(order.slice(0, kept)).toContain(t);
    order.slice(0, kept).forEach((t, i) => {
      const p = w[i] / mass;
      const f = (counts.get(t) ?? 0) / draws;
      expect(Math.abs(f - p), `token ${t}: frequency ${f}, probability ${p}`).toBeLessThan(4 * Math.sqrt((p * (1 - p)) / draws) + 1e-3);
    });
  });

  describe('flags NaN and +inf logits in the token word (bit 31), not -inf', () => {
    const n = 70001;
    const withBad = (i: number, v: number) => {
      const x = randn(n, 30);
      x[i] = v;
      return x;
    };
    const cases: Array<[string, Float32Array, boolean]> = [
      ['finite', randn(n, 30), false],
      ['NaN in the first block', withBad(3, Number.NaN), true],
      ['NaN in the last block', withBad(n - 1, Number.NaN), true],
      ['+inf', withBad(40000, Infinity), true],
      ['-inf', withBad(40000, -Infinity), false],
    ];
    it.each(cases)('%s: argmax and sampling, then a clean replay', async (_, x, flagged) => {
      const gpu = await testGpu();
      const logits = tensorFromF32(gpu, 'logits', [n], x);
      const clean = tensorFromF32(gpu, 'clean', [n], randn(n, 31));
      const scratch = u32Tensor(gpu, 'scratch', SAMPLE_SCRATCH_WORDS);
      const outs = outSlots(gpu, 4);
      const ds = [
        ...argmax(gpu, { logits, n, out: outs.slot(0), scratch }),
        ...sample(gpu, { logits, n, out: outs.slot(1), scratch, temperature: 1, topK: 40, topP: 0.9, seed: 3, step: 1 }),
        ...sample(gpu, { logits: clean, n, out: outs.slot(2), scratch, temperature: 1, topK: 40, topP: 0.9, seed: 3, step: 2 }),
        ...argmax(gpu, { logits: clean, n, out: outs.slot(3), scratch }),
      ];
      await runOnce(gpu, 'flags', ds);
      const got = await readSlots(gpu, outs.all, 4);
      expect(got.map((t) => (t & SAMPLE_NONFINITE) !== 0)).toEqual([flagged, flagged, false, false]);
      for (const t of got) expect((t & ~SAMPLE_NONFINITE) >>> 0).toBeLessThan(n);
      if (!flagged) expect(got[0]).toBe(argmaxRef(x, n));
    });
  });

  it('guards reject bad arguments before any GPU work', async () => {
    const gpu = await testGpu();
    const logits = tensorFromF32(gpu, 'logits', [10], randn(10, 1));
    const out = u32Tensor(gpu, 'out', 1);
    const ok: SampleArgs = { logits, n: 10, out, temperature: 1, topK: 5, topP: 0.9, seed: 1, step: 2 };
    expect(() => sample(gpu, { ...ok, n: 11 })).toThrow(ShapeError);
    expect(() => sample(gpu, { ...ok, temperature: -1 })).toThrow(ShapeError);
    expect(() => sample(gpu, { ...ok, topK: 1.5 })).toThrow(ShapeError);
    expect(() => sample(gpu, { ...ok, seed: -1 })).toThrow(ShapeError);
    expect(() => sample(gpu, { ...ok, out: createTensor(gpu, 'f', 'f32', [1]) })).toThrow(ShapeError);
    expect(() => argmax(gpu, { logits, n: 10, out, scratch: u32Tensor(gpu, 's', 8) })).toThrow(ShapeError);
  });
});
