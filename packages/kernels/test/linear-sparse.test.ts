import { afterAll, describe, expect, it } from 'vitest';
import { createTensor, readF32, runOnce, ShapeError, tensorFromF32, writeTensor, type Gpu, type Tensor } from '@g3n/gpu';
import { linear, linearKernels, linearMaskedRows, linearSkipZeroBlocks, matvecFits, WEIGHT_DTYPES } from '../src/linear.ts';
import { decodeWeight, encodeWeight, type WeightDType } from '../src/quant.ts';
import { linearMaskedRowsRef, linearRef } from '../src/ref/linear.ts';
import { expectClose, freshGpu, randn, testGpu } from './util.ts';

// The sparse matvec variants are checked three ways on every dtype: against the f64 CPU reference (the
// tolerance of linear.test.ts), bit for bit against the dense matvec on the same device, and for what
// they read: the weights they must skip (masked rows, columns of all-zero 32-column blocks of x) are
// poisoned with NaN (the group scales for q8/q4), so a single read of them would show in the output.

/** [in, out] per dtype: whole 16-byte units, odd outputs, and for float weights blocks of x cut short. */
const SHAPES: Record<WeightDType, Array<[number, number]>> = {
  f32: [[4, 7], [36, 33], [96, 130], [2080, 257]],
  bf16: [[8, 1], [40, 33], [160, 130], [2080, 7]],
  f16: [[24, 5], [40, 130], [96, 33], [2080, 257]],
  q8: [[32, 1], [96, 33], [160, 130], [2080, 257]],
  q4: [[32, 7], [96, 257], [160, 130], [2080, 33]],
};

type MaskKind = 'zero' | 'dense' | 'sparse' | 'blocks';
const MASKS: MaskKind[] = ['zero', 'dense', 'sparse', 'blocks'];

/** A vector of n values with exact zeros: none, all, ~95% at random, or whole 32-blocks (every other block gets ~3 values). */
function sparseVector(kind: MaskKind, n: number, seed: number): Float32Array {
  const v = randn(n, seed);
  const pick = randn(n, seed + 7);
  for (let i = 0; i < n; i++) {
    const keep = kind === 'dense' || (kind === 'sparse' && pick[i] > 1.6449) || (kind === 'blocks' && (i >> 5) % 2 === 0 && Math.abs(pick[i]) > 1.5);
    v[i] = keep ? v[i] + Math.sign(v[i] || 1) * 0.125 : 0;
  }
  return v;
}

const NAN_F32 = 0x7fc00000;
const NAN_HALF: Record<'bf16' | 'f16', number> = { bf16: 0x7fc0, f16: 0x7e00 };
const NAN_F16 = 0x7e00;

/** Set half `i` (low half first) of packed 16-bit values. */
function setHalf(words: Uint32Array, i: number, bits: number): void {
  const w = words[i >> 1];
  words[i >> 1] = i & 1 ? (w & 0xffff) | (bits << 16) : (w & 0xffff0000) | bits;
}

/** Upload W [out, in] in `dt` with the weights of (row, 32-column block) pairs where `poison` says so made NaN. */
function uploadPoisoned(g: Gpu, dt: WeightDType, wf: Float32Array, outF: number, inF: number, poison: (row: number, block: number) => boolean): Tensor {
  const enc = encodeWeight(dt, wf, [outF, inF]);
  const data = enc.data.slice();
  const scales = enc.scales?.slice();
  const groups = Math.ceil(inF / 32);
  for (let o = 0; o < outF; o++) {
    for (let b = 0; b < groups; b++) {
      if (!poison(o, b)) continue;
      if (scales) {
        setHalf(scales, o * groups + b, NAN_F16);
        continue;
      }
      for (let i = 32 * b; i < Math.min(32 * b + 32, inF); i++) {
        if (dt === 'f32') data[o * inF + i] = NAN_F32;
        else setHalf(data, o * inF + i, NAN_HALF[dt as 'bf16' | 'f16']);
      }
    }
  }
  const t = createTensor(g, `w_${dt}_poisoned`, dt, [outF, inF]);
  writeTensor(g, t, data, scales);
  return t;
}

function tolerance(x: Float32Array, w: Float32Array, inFeatures: number) {
  const maxAbs = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  return { atol: 1e-5 * Math.sqrt(inFeatures) * maxAbs(x) * maxAbs(w), rtol: 0 };
}

/** Indices where the f32 bit patterns differ (the first few), for a readable failure. */
function bitDiff(got: Float32Array, want: Float32Array): string[] {
  const a = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const b = new Uint32Array(want.buffer, want.byteOffset, want.length);
  const out: string[] = [];
  for (let i = 0; i < b.length && out.length < 5; i++) if (a[i] !== b[i]) out.push(`[${i}] ${got[i]} != ${want[i]}`);
  return out;
}

async function run(g: Gpu, dispatch: ReturnType<typeof linear>, out: Tensor): Promise<Float32Array> {
  await runOnce(g, dispatch.kernel.key, [dispatch]);
  return readF32(g, out);
}

const gpu = await testGpu();
const plain = await freshGpu({ features: [] });
const devices: Array<[string, Gpu]> = gpu.caps.features.subgroups ? [['subgroups', gpu], ['plain', plain]] : [['plain', plain]];

afterAll(async () => {
  await plain.device.queue.onSubmittedWorkDone();
  plain.destroy();
});

/** Up-projection case: a dense x, a gate-like mask over the outputs; masked rows poisoned. */
async function checkMasked(g: Gpu, dt: WeightDType, inF: number, outF: number, kind: MaskKind, seed: number): Promise<void> {
  const x = randn(inF, seed);
  const mask = sparseVector(kind, outF, seed + 1);
  const wf = randn(outF * inF, seed + 2, 0.5);
  const enc = encodeWeight(dt, wf, [outF, inF]);
  const wd = decodeWeight(dt, enc.data, enc.scales, outF * inF);
  const tx = tensorFromF32(g, 'x', [inF], x);
  const tm = tensorFromF32(g, 'mask', [outF], mask);
  const clean = createTensor(g, `w_${dt}`, dt, [outF, inF]);
  writeTensor(g, clean, enc.data, enc.scales);
  const poisoned = uploadPoisoned(g, dt, wf, outF, inF, (o) => mask[o] === 0);
  const outDense = createTensor(g, 'out_dense', 'f32', [outF]);
  const outSparse = createTensor(g, 'out_sparse', 'f32', [outF]);
  writeTensor(g, outSparse, new Float32Array(outF).fill(7));
  const dense = await run(g, linear(g, { x: tx, w: clean, out: outDense, rows: 1 }), outDense);
  const d = linearMaskedRows(g, { x: tx, w: poisoned, out: outSparse, mask: tm });
  const got = await run(g, d, outSparse);
  const label = `${d.kernel.key} ${inF}x${outF} ${kind}`;
  const want = dense.map((v, o) => (mask[o] === 0 ? 0 : v));
  expect(bitDiff(got, want), `${label}: bits against the dense matvec (0 on masked rows)`).toEqual([]);
  expectClose(label, got, linearMaskedRowsRef(x, wd, mask, inF, outF), tolerance(x, wd, inF));
}

/** Down-projection case: a sparse x; columns of all-zero 32-blocks of x poisoned in every row. */
async function checkSkip(g: Gpu, dt: WeightDType, inF: number, outF: number, kind: MaskKind, seed: number): Promise<void> {
  const x = sparseVector(kind, inF, seed);
  const wf = randn(outF * inF, seed + 2, 0.5);
  const enc = encodeWeight(dt, wf, [outF, inF]);
  const wd = decodeWeight(dt, enc.data, enc.scales, outF * inF);
  const emptyBlock = (b: number) => x.subarray(32 * b, 32 * b + 32).every((v) => v === 0);
  const tx = tensorFromF32(g, 'x', [inF], x);
  const clean = createTensor(g, `w_${dt}`, dt, [outF, inF]);
  writeTensor(g, clean, enc.data, enc.scales);
  const poisoned = uploadPoisoned(g, dt, wf, outF, inF, (_, b) => emptyBlock(b));
  const outDense = createTensor(g, 'out_dense', 'f32', [outF]);
  const outSparse = createTensor(g, 'out_sparse', 'f32', [outF]);
  const dense = await run(g, linear(g, { x: tx, w: clean, out: outDense, rows: 1 }), outDense);
  const d = linearSkipZeroBlocks(g, { x: tx, w: poisoned, out: outSparse });
  const got = await run(g, d, outSparse);
  const label = `${d.kernel.key} ${inF}x${outF} ${kind}`;
  expect(bitDiff(got, dense), `${label}: bits against the dense matvec`).toEqual([]);
  expectClose(label, got, linearRef(x, wd, 1, inF, outF), tolerance(x, wd, inF));
}

describe('sparse matvec: masked rows (up_proj) and zero blocks skipped (down_proj)', () => {
  let seed = 0;
  for (const dt of WEIGHT_DTYPES) {
    for (const [inF, outF] of SHAPES[dt]) {
      const s = (seed += 10);
      it(`${dt} in=${inF} out=${outF}: masks ${MASKS.join(', ')}`, async () => {
        for (const [, g] of devices) {
          for (const kind of MASKS) {
            await checkMasked(g, dt, inF, outF, kind, s);
            await checkSkip(g, dt, inF, outF, kind, s + 5);
          }
        }
      });
    }
  }

  it('masked row parts write their own columns and read the mask at the same index', async () => {
    for (const [, g] of devices) {
      const inF = 64;
      const x = randn(inF, 3);
      const mask = sparseVector('sparse', 300, 4);
      mask[0] = 1;
      mask[299] = 0;
      const wf = randn(300 * inF, 5, 0.5);
      const enc = encodeWeight('q4', wf, [300, inF]);
      const wd = decodeWeight('q4', enc.data, enc.scales, 300 * inF);
      const tx = tensorFromF32(g, 'x', [inF], x);
      const tm = tensorFromF32(g, 'mask', [300], mask);
      const out = createTensor(g, 'out', 'f32', [300]);
      writeTensor(g, out, new Float32Array(300).fill(7));
      const dispatches = [[0, 200], [200, 100]].map(([row0, n]) => {
        const w = uploadPoisoned(g, 'q4', wf.subarray(row0 * inF, (row0 + n) * inF), n, inF, (o) => mask[row0 + o] === 0);
        return linearMaskedRows(g, { x: tx, w, out, mask: tm, outOffset: row0 });
      });
      await runOnce(g, 'masked_parts', dispatches);
      expectClose('masked parts', await readF32(g, out), linearMaskedRowsRef(x, wd, mask, inF, 300), tolerance(x, wd, inF));
    }
  });

  it('picks the subgroup variant where the adapter has subgroups', () => {
    const x = createTensor(gpu, 'x', 'f32', [64]);
    const out = createTensor(gpu, 'out', 'f32', [8]);
    const w = createTensor(gpu, 'w', 'q8', [8, 64]);
    const sg = gpu.caps.features.subgroups ? 'matvec_subgroups' : 'matvec';
    expect(linearMaskedRows(gpu, { x, w, out, mask: out }).kernel).toBe(linearKernels[`${sg}_masked_q8`]);
    expect(linearSkipZeroBlocks(gpu, { x, w, out }).kernel).toBe(linearKernels[`${sg}_skip_q8`]);
    expect(linearMaskedRows(plain, { x, w, out, mask: out }).kernel).toBe(linearKernels.matvec_masked_q8);
    expect(linearSkipZeroBlocks(plain, { x, w, out }).kernel).toBe(linearKernels.matvec_skip_q8);
    expect([matvecFits(w), matvecFits(createTensor(gpu, 'w50', 'bf16', [8, 50])), matvecFits(createTensor(gpu, 'w36', 'f32', [8, 36]))]).toEqual([true, false, true]);
  });

  it('rejects bad shapes before any GPU work', () => {
    const x = createTensor(gpu, 'x', 'f32', [48]);
    const out = createTensor(gpu, 'out', 'f32', [8]);
    const w = createTensor(gpu, 'w', 'f32', [8, 48]);
    const bad: Array<() => unknown> = [
      () => linearSkipZeroBlocks(gpu, { x, w: createTensor(gpu, 'wh', 'bf16', [8, 50]), out }),
      () => linearSkipZeroBlocks(gpu, { x, w: createTensor(gpu, 'wq', 'q4', [8, 48]), out }),
      () => linearSkipZeroBlocks(gpu, { x, w: createTensor(gpu, 'w64', 'f32', [8, 64]), out }),
      () => linearSkipZeroBlocks(gpu, { x, w, out, outOffset: 1 }),
      () => linearMaskedRows(gpu, { x, w, out, mask: createTensor(gpu, 'm', 'f32', [7]) }),
      () => linearMaskedRows(gpu, { x, w, out, mask: createTensor(gpu, 'mu', 'u32', [8]) }),
      () => linearMaskedRows(gpu, { x, w: createTensor(gpu, 'w3', 'f32', [2, 8, 48]), out, mask: out }),
    ];
    for (const f of bad) expect(f).toThrow(ShapeError);
  });
});
