import { describe, expect, it } from 'vitest';
import { createTensor, runOnce, writeTensor, type Gpu, type Tensor } from '@g3n/gpu';
import { attention, attentionScratchShape, dequantize, f16BitsToF32, linear, quantizeQ4 } from '@g3n/kernels';
import { uploadMatrix, type MatrixWeight } from '@g3n/gemma3n';
import type { BuiltCase, CaseOperands, KernelCase } from '../src/kernels.ts';
import { loadOrtNode } from '../src/ort-node.ts';
import { maxRelDiff, measureSideBySide, ortCallOf, ortOpOf, readQ4Matrix, timeSideBySide } from '../src/ort-run.ts';
import { linearRef } from '../../kernels/src/ref/linear.ts';
import { attentionRef } from '../../kernels/src/ref/attention.ts';
import { expectClose, randn, testGpu } from '../../kernels/test/util.ts';

/** f32 outputs of the two runtimes agree to this, relative to the largest output (both compute in f32). */
const SIDE_BY_SIDE_REL = 1e-5;

function f32(gpu: Gpu, label: string, values: Float32Array, shape: number[]): Tensor {
  const t = createTensor(gpu, label, 'f32', shape);
  writeTensor(gpu, t, values);
  return t;
}

interface Built {
  operands: CaseOperands;
  call: BuiltCase['call'];
  expected: Float32Array;
  destroy(): void;
}

/** A q4 [outF, inF] linear layer on `rows` rows, with its f64 reference on the dequantized weights. */
function linearOperands(gpu: Gpu, rows: number, outF: number, inF: number, capParts = false): Built & { q: { data: Uint32Array; scales: Uint32Array }; w: MatrixWeight } {
  const q = quantizeQ4(randn(outF * inF, 11, 0.2), outF, inF);
  const wGpu: Gpu = capParts ? { ...gpu, caps: { ...gpu.caps, limits: { ...gpu.caps.limits, maxStorageBufferBindingSize: ((outF / 2) * inF) / 2 } } } : gpu;
  const w = uploadMatrix(wGpu, 'w', { dtype: 'Q4', bytes: new Uint8Array(q.data.buffer), scales: new Uint8Array(q.scales.buffer) }, outF, inF, 'q4');
  const xv = randn(rows * inF, 12);
  const x = f32(gpu, 'x', xv, [rows, inF]);
  const out = createTensor(gpu, 'out', 'f32', [rows, outF]);
  const call = w.parts.map((p) => linear(gpu, { x, w: p.tensor, out, rows, outOffset: p.row0, outStride: outF }));
  const expected = Float32Array.from(linearRef(xv, dequantize('q4', q.data, q.scales, outF * inF), rows, inF, outF));
  const destroy = () => [x, out, ...w.parts.map((p) => p.tensor), ...w.parts.map((p) => p.tensor.scales!)].forEach((t) => t.buffer.destroy());
  return { operands: { kind: 'linear', rows, x, w, out }, call, expected, destroy, q, w };
}

/** One decode step of global attention: H heads over Hkv cached heads, `context` keys, query at the last position. */
function attentionOperands(gpu: Gpu, heads: number, kvHeads: number, headDim: number, context: number): Built {
  const qv = randn(heads * headDim, 21);
  const kv = randn(kvHeads * context * headDim, 22);
  const vv = randn(kvHeads * context * headDim, 23);
  const q = f32(gpu, 'q', qv, [1, heads, headDim]);
  const kCache = f32(gpu, 'k', kv, [kvHeads, context, headDim]);
  const vCache = f32(gpu, 'v', vv, [kvHeads, context, headDim]);
  const out = createTensor(gpu, 'out', 'f32', [1, heads * headDim]);
  const args = { q, kCache, vCache, out, rows: 1, nHeads: heads, nKV: kvHeads, headDim, pos0: context - 1, capacity: context, window: 0, scale: 1 };
  const scratch = createTensor(gpu, 'scratch', 'f32', attentionScratchShape(args));
  const expected = attentionRef({ q: qv, k: kv, v: vv, positions: context, rows: 1, nHeads: heads, nKV: kvHeads, headDim, pos0: context - 1, window: 0, scale: 1 });
  return {
    operands: { kind: 'attention', heads, kvHeads, headDim, context, capacity: context, window: 0, q, kCache, vCache, out },
    call: attention(gpu, { ...args, scratch }),
    expected,
    destroy: () => [q, kCache, vCache, out, scratch].forEach((t) => t.buffer.destroy()),
  };
}

/** g3n's output, onnxruntime-web's output (one call each) and the reference. */
async function bothRuntimes(gpu: Gpu, b: Built): Promise<{ ours: Float32Array; theirs: Float32Array }> {
  const ort = await loadOrtNode(gpu);
  const call = await ortCallOf(ort, gpu, 'case', b.operands);
  if (!call) throw new Error('no onnxruntime-web counterpart');
  try {
    await runOnce(gpu, 'g3n', b.call);
    await call.run();
    const [theirs, ours] = await call.outputs();
    return { ours: ours.slice(), theirs };
  } finally {
    await call.release();
  }
}

describe('onnxruntime-web side by side (WebGPU provider on the g3n device)', () => {
  it('reads the q4 codes back in MatMulNBits layout and the f16 scales as f32, across row parts', async () => {
    const gpu = await testGpu();
    const b = linearOperands(gpu, 1, 40, 96, true);
    try {
      expect(b.w.parts.length).toBe(2);
      const { codes, scales } = await readQ4Matrix(gpu, b.w);
      expect(codes).toEqual(new Uint8Array(b.q.data.buffer));
      const half = new Uint16Array(b.q.scales.buffer).subarray(0, (40 * 96) / 32);
      expect(scales).toEqual(f16BitsToF32(half));
    } finally {
      b.destroy();
    }
  });

  it('picks MatMulNBits for q4 linear layers and GroupQueryAttention for global decode over a full cache only', async () => {
    const gpu = await testGpu();
    const lin = linearOperands(gpu, 1, 8, 32);
    const att = attentionOperands(gpu, 2, 1, 8, 4);
    try {
      expect(ortOpOf(lin.operands)).toBe('MatMulNBits');
      expect(ortOpOf({ ...lin.operands, w: { ...lin.w, dtype: 'q8' } } as CaseOperands)).toBeNull();
      expect(ortOpOf(att.operands)).toBe('GroupQueryAttention');
      expect(ortOpOf({ ...att.operands, window: 2 } as CaseOperands)).toBeNull();
      expect(ortOpOf({ ...att.operands, capacity: 8 } as CaseOperands)).toBeNull();
      expect(ortOpOf({ kind: 'copy' })).toBeNull();
    } finally {
      lin.destroy();
      att.destroy();
    }
  });

  for (const [rows, outF, inF] of [[1, 40, 96], [3, 24, 64]]) {
    it(`MatMulNBits [${rows}x${inF}] x [${outF}x${inF}] q4: onnxruntime-web = g3n = reference`, async () => {
      const gpu = await testGpu();
      const b = linearOperands(gpu, rows, outF, inF);
      try {
        const { ours, theirs } = await bothRuntimes(gpu, b);
        expectClose('g3n vs reference', ours, b.expected, { atol: 1e-5, rtol: 1e-5 });
        expectClose('onnxruntime-web vs reference', theirs, b.expected, { atol: 1e-5, rtol: 1e-5 });
        expect(maxRelDiff(theirs, ours)).toBeLessThan(SIDE_BY_SIDE_REL);
      } finally {
        b.destroy();
      }
    });
  }

  it('GroupQueryAttention decode, 4 heads over 2 KV heads, head_dim 8, 13 keys: onnxruntime-web = g3n = reference', async () => {
    const gpu = await testGpu();
    const b = attentionOperands(gpu, 4, 2, 8, 13);
    try {
      const { ours, theirs } = await bothRuntimes(gpu, b);
      expectClose('g3n vs reference', ours, b.expected, { atol: 1e-5, rtol: 1e-5 });
      expectClose('onnxruntime-web vs reference', theirs, b.expected, { atol: 1e-5, rtol: 1e-5 });
      expect(maxRelDiff(theirs, ours)).toBeLessThan(SIDE_BY_SIDE_REL);
    } finally {
      b.destroy();
    }
  });

  it('alternates the two runtimes after two warm-up calls each; slow calls get the fewest calls per measurement', async () => {
    const gpu = await testGpu();
    const order: string[] = [];
    const slow = (name: string, ms: number) => () => (order.push(name), new Promise((r) => setTimeout(r, ms)));
    const [a, b] = await timeSideBySide(gpu, [slow('a', 120), slow('b', 150)], { reps: 2, trials: 2 });
    expect(order.join('')).toBe('aabb' + 'aabb'.repeat(2));
    expect(a).toBeGreaterThanOrEqual(119);
    expect(b).toBeGreaterThanOrEqual(149);
  });

  it('times both runtimes on one case and reports their output difference', async () => {
    const gpu = await testGpu();
    const b = attentionOperands(gpu, 4, 2, 8, 13);
    try {
      const ort = await loadOrtNode(gpu);
      const c = { name: 'attention decode global ctx=13' } as KernelCase;
      const r = await measureSideBySide(ort, gpu, c, { fills: [], call: b.call, operands: b.operands, destroy: b.destroy }, { reps: 2, trials: 1 });
      expect(r).not.toBeNull();
      expect(r!.ort_ms).toBeGreaterThan(0);
      expect(r!.wall_ms).toBeGreaterThan(0);
      expect(r!.max_rel_diff).toBeLessThan(SIDE_BY_SIDE_REL);
      expect(await measureSideBySide(ort, gpu, c, { fills: [], call: [], operands: { kind: 'copy' }, destroy: () => {} }, { reps: 1, trials: 1 })).toBeNull();
    } finally {
      b.destroy();
    }
  });
});
