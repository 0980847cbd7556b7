import { describe, expect, it } from 'vitest';
import { createTensor, Plan, readF32, runOnce, ShapeError, submitPlans, tensorFromF32, writeTensor, type Gpu, type Tensor } from '@g3n/gpu';
import { attention, attentionKernels, attentionScratchShape, type AttentionArgs } from '../src/attention.ts';
import { kvAppend } from '../src/kv-cache.ts';
import { attentionRef } from '../src/ref/attention.ts';
import { kvAppendRef } from '../src/ref/kv-cache.ts';
import { expectClose, randn, testGpu } from './util.ts';

// f32 dot products of up to 256 terms and a streamed softmax against an f64 reference.
const TOL = { atol: 2e-6, rtol: 1e-5 };

interface Case {
  rows: number;
  headDim: number;
  nHeads: number;
  nKV: number;
  window: number;
  pos0: number;
  /** Extra cache slots beyond the minimum the guards allow. */
  slack: number;
  scale: number;
  splits?: number;
}

/** Keys and values of every position 0 .. pos0 + rows - 1, [nKV, positions, headDim], scaled so scores stay O(1). */
function history(c: Case, seed: number) {
  const positions = c.pos0 + c.rows;
  const std = c.headDim ** -0.25;
  return {
    positions,
    k: randn(c.nKV * positions * c.headDim, seed, std),
    v: randn(c.nKV * positions * c.headDim, seed + 1),
    q: randn(c.rows * c.nHeads * c.headDim, seed + 2, std * 2),
  };
}

function capacityOf(c: Case): number {
  return (c.window > 0 ? c.window + c.rows - 1 : c.pos0 + c.rows) + c.slack;
}

/** Rows [p0, p0 + n) of positions-major K or V ([nKV, positions, D]) as [n, nKV, D]. */
function tokens(x: Float32Array, c: Case, positions: number, p0: number, n: number): Float32Array {
  const D = c.headDim;
  const out = new Float32Array(n * c.nKV * D);
  for (let t = 0; t < n; t++) {
    for (let g = 0; g < c.nKV; g++) out.set(x.subarray((g * positions + p0 + t) * D, (g * positions + p0 + t + 1) * D), (t * c.nKV + g) * D);
  }
  return out;
}

/** Caches already holding positions 0 .. pos0 - 1, written through the ring as the model would have. */
function warmCache(x: Float32Array, c: Case, positions: number, capacity: number): Float32Array {
  const empty = new Float32Array(c.nKV * capacity * c.headDim);
  return kvAppendRef(empty, tokens(x, c, positions, 0, c.pos0), { rows: c.pos0, nKV: c.nKV, headDim: c.headDim, pos0: 0, capacity });
}

interface Setup {
  args: AttentionArgs;
  kNew: Tensor;
  vNew: Tensor;
  expected: Float32Array;
  h: ReturnType<typeof history>;
}

function setup(gpu: Gpu, c: Case, seed: number): Setup {
  const h = history(c, seed);
  const capacity = capacityOf(c);
  const kCache = tensorFromF32(gpu, 'k_cache', [c.nKV, capacity, c.headDim], warmCache(h.k, c, h.positions, capacity));
  const vCache = tensorFromF32(gpu, 'v_cache', [c.nKV, capacity, c.headDim], warmCache(h.v, c, h.positions, capacity));
  const kNew = tensorFromF32(gpu, 'k', [c.rows, c.nKV, c.headDim], tokens(h.k, c, h.positions, c.pos0, c.rows));
  const vNew = tensorFromF32(gpu, 'v', [c.rows, c.nKV, c.headDim], tokens(h.v, c, h.positions, c.pos0, c.rows));
  const q = tensorFromF32(gpu, 'q', [c.rows, c.nHeads, c.headDim], h.q);
  const out = createTensor(gpu, 'out', 'f32', [c.rows, c.nHeads * c.headDim]);
  const args: AttentionArgs = { q, kCache, vCache, out, rows: c.rows, nHeads: c.nHeads, nKV: c.nKV, headDim: c.headDim, pos0: c.pos0, capacity, window: c.window, scale: c.scale, splits: c.splits };
  if (c.rows === 1) args.scratch = createTensor(gpu, 'scratch', 'f32', attentionScratchShape(args));
  const expected = attentionRef({ ...c, q: h.q, k: h.k, v: h.v, positions: h.positions });
  return { args, kNew, vNew, expected, h };
}

function append(gpu: Gpu, s: Setup) {
  const a = s.args;
  return kvAppend(gpu, { k: s.kNew, v: s.vNew, kCache: a.kCache, vCache: a.vCache, rows: a.rows, nKV: a.nKV, headDim: a.headDim, pos0: a.pos0, capacity: a.capacity });
}

function label(c: Case): string {
  const ring = c.window > 0 && c.pos0 + c.rows > capacityOf(c) ? ' ring' : '';
  return `T=${c.rows} D=${c.headDim} heads=${c.nHeads}/${c.nKV} window=${c.window} pos0=${c.pos0}${ring}${c.splits ? ` splits=${c.splits}` : ''}`;
}

const ROWS = [1, 2, 7, 33];
const DIMS = [8, 32, 64, 256];
const HEADS = [[4, 2], [8, 2], [2, 2], [3, 1]];
const WINDOWS = [0, 5, 16];
const POS0 = [0, 3, 21, 40];

const table: Case[] = [];
for (const [i, rows] of ROWS.entries()) {
  for (const [j, headDim] of DIMS.entries()) {
    for (const [k, [nHeads, nKV]] of HEADS.entries()) {
      const n = 16 * i + 4 * j + k;
      table.push({ rows, headDim, nHeads, nKV, window: WINDOWS[n % 3], pos0: POS0[(n + j) % 4], slack: n % 5 === 0 ? 3 : 0, scale: n % 2 ? 1 : 1 / Math.sqrt(headDim) });
    }
  }
}

describe('attention', () => {
  it('compiles every variant', async () => {
    const gpu = await testGpu();
    await gpu.pipelines.prepare(Object.values(attentionKernels));
    for (const k of Object.values(attentionKernels)) expect(gpu.pipelines.has(k)).toBe(true);
  });

  it.each(table.map((c) => [label(c), c] as const))('kv_append + attention %s', async (_, c) => {
    const gpu = await testGpu();
    const s = setup(gpu, c, 17 * c.rows + c.headDim + c.nHeads);
    await runOnce(gpu, 'attention', [append(gpu, s), ...attention(gpu, s.args)]);
    expectClose(label(c), await readF32(gpu, s.args.out), s.expected, TOL);
  });

  const splitCases: Case[] = [
    { rows: 1, headDim: 64, nHeads: 8, nKV: 2, window: 0, pos0: 150, slack: 20, scale: 1, splits: 1 },
    { rows: 1, headDim: 64, nHeads: 8, nKV: 2, window: 0, pos0: 150, slack: 20, scale: 1, splits: 3 },
    { rows: 1, headDim: 32, nHeads: 4, nKV: 1, window: 0, pos0: 300, slack: 0, scale: 1, splits: 7 },
    { rows: 1, headDim: 256, nHeads: 3, nKV: 1, window: 16, pos0: 90, slack: 0, scale: 1, splits: 4 },
    { rows: 1, headDim: 8, nHeads: 2, nKV: 2, window: 0, pos0: 2, slack: 0, scale: 1, splits: 9 },
    { rows: 1, headDim: 8, nHeads: 16, nKV: 2, window: 5, pos0: 11, slack: 0, scale: 1 },
  ];
  it.each(splitCases.map((c) => [label(c), c] as const))('decode with key splits %s', async (_, c) => {
    const gpu = await testGpu();
    const s = setup(gpu, c, 5 + c.pos0);
    await runOnce(gpu, 'attention', [append(gpu, s), ...attention(gpu, s.args)]);
    expectClose(label(c), await readF32(gpu, s.args.out), s.expected, TOL);
  });

  const consistency: Case[] = [
    { rows: 9, headDim: 32, nHeads: 8, nKV: 2, window: 0, pos0: 4, slack: 2, scale: 1 },
    { rows: 7, headDim: 64, nHeads: 4, nKV: 2, window: 5, pos0: 6, slack: 0, scale: 1 },
    { rows: 12, headDim: 256, nHeads: 3, nKV: 1, window: 16, pos0: 20, slack: 0, scale: 1 },
  ];
  it.each(consistency.map((c) => [label(c), c] as const))('one decode plan replayed per token matches the prefill %s', async (_, c) => {
    const gpu = await testGpu();
    const prefill = setup(gpu, c, 99);
    await runOnce(gpu, 'prefill', [append(gpu, prefill), ...attention(gpu, prefill.args)]);
    const full = await readF32(gpu, prefill.args.out);

    const step = setup(gpu, { ...c, rows: 1 }, 99);
    const { h } = prefill;
    const capacity = capacityOf(c);
    const kCache = tensorFromF32(gpu, 'k_cache', [c.nKV, capacity, c.headDim], warmCache(h.k, c, h.positions, capacity));
    const vCache = tensorFromF32(gpu, 'v_cache', [c.nKV, capacity, c.headDim], warmCache(h.v, c, h.positions, capacity));
    const args = { ...step.args, kCache, vCache, capacity };
    const plan = await Plan.build(gpu, 'decode', [append(gpu, { ...step, args }), ...attention(gpu, args)]);
    const width = c.nHeads * c.headDim;
    for (let t = 0; t < c.rows; t++) {
      const pos0 = c.pos0 + t;
      writeTensor(gpu, step.kNew, tokens(h.k, c, h.positions, pos0, 1));
      writeTensor(gpu, step.vNew, tokens(h.v, c, h.positions, pos0, 1));
      writeTensor(gpu, args.q, h.q.subarray(t * width, (t + 1) * width));
      plan.setParams(0, { pos0 });
      plan.setParams(1, { pos0 });
      submitPlans(gpu, [plan]);
      const row = await readF32(gpu, args.out);
      expectClose(`${label(c)} token ${t}`, row, full.subarray(t * width, (t + 1) * width), TOL);
    }
    plan.destroy();
  });

  it('guards reject shapes before any GPU work', async () => {
    const gpu = await testGpu();
    const c: Case = { rows: 4, headDim: 8, nHeads: 4, nKV: 2, window: 5, pos0: 10, slack: 0, scale: 1 };
    const s = setup(gpu, c, 3);
    expect(() => attention(gpu, { ...s.args, capacity: 7 })).toThrow(ShapeError);
    expect(() => attention(gpu, { ...s.args, window: 0 })).toThrow(/global cache/);
    expect(() => attention(gpu, { ...s.args, nKV: 3 })).toThrow(ShapeError);
    expect(() => attention(gpu, { ...s.args, headDim: 512 })).toThrow(ShapeError);
    const d = setup(gpu, { ...c, rows: 1 }, 4);
    expect(attention(gpu, d.args)).toHaveLength(2);
    expect(() => attention(gpu, { ...d.args, scratch: undefined })).toThrow(/needs its scratch/);
    expect(attention(gpu, s.args)).toHaveLength(1);
    expect(attentionScratchShape({ ...d.args, splits: 3 })).toEqual([3, 4, 10]);
    const small = createTensor(gpu, 'small', 'f32', [3, 4, 9]);
    expect(() => attention(gpu, { ...d.args, splits: 3, scratch: small })).toThrow(/small must be f32 with at least 120/);
  });
});

describe('attention, non-causal (vision multi-query attention)', () => {
  // [rows (queries), nHeads, headDim, keys]: one shared K/V head, every query sees every key.
  const cases: Array<[number, number, number, number]> = [
    [40, 12, 64, 9],
    [7, 3, 96, 36],
    [1, 4, 32, 5],
    [16, 16, 96, 16],
  ];
  it.each(cases)('rows %i, %i heads of %i over %i keys', async (rows, nHeads, headDim, keys) => {
    const gpu = await testGpu();
    const q = randn(rows * nHeads * headDim, rows + keys);
    const k = randn(keys * headDim, keys + 1);
    const v = randn(keys * headDim, keys + 2);
    const scale = 1 / Math.sqrt(headDim);
    const out = createTensor(gpu, 'out', 'f32', [rows, nHeads * headDim]);
    const args = { q: tensorFromF32(gpu, 'q', [rows, nHeads, headDim], q), kCache: tensorFromF32(gpu, 'k', [1, keys, headDim], k), vCache: tensorFromF32(gpu, 'v', [1, keys, headDim], v), out };
    const shape = { rows, nHeads, nKV: 1, headDim, pos0: 0, capacity: keys, window: 0, scale, causal: false };
    const scratch = createTensor(gpu, 'scratch', 'f32', attentionScratchShape(shape));
    await runOnce(gpu, 'mqa', attention(gpu, { ...args, ...shape, scratch }));
    const expected = new Float32Array(rows * nHeads * headDim);
    for (let t = 0; t < rows; t++) {
      const qt = q.subarray(t * nHeads * headDim, (t + 1) * nHeads * headDim);
      expected.set(attentionRef({ q: qt, k, v, positions: keys, rows: 1, nHeads, nKV: 1, headDim, pos0: keys - 1, window: 0, scale }), t * nHeads * headDim);
    }
    expectClose('non-causal', await readF32(gpu, out), expected, TOL);
  });
});
