import { describe, expect, it } from 'vitest';
import { numel, readBytes, readF32, runOnce, type Gpu } from '@g3n/gpu';
import { f16BitsToF32 } from '@g3n/kernels';
import { parseBenchArgs } from '../src/args.ts';
import type { BuiltCase, CaseOperands } from '../src/kernels.ts';
import { convCase, mqaCase, sameConv, visionKernelCases } from '../src/kernels-vision.ts';
import { convModel, mqaAttentionModel, ONNX_FLOAT } from '../src/ort.ts';
import { loadOrtNode } from '../src/ort-node.ts';
import { maxRelDiff, ortCallOf, ortOpOf } from '../src/ort-run.ts';
import { transposePlanes } from '../src/ort-vision.ts';
import { conv2dRef } from '../../kernels/src/ref/conv2d.ts';
import { expectClose, testGpu } from '../../kernels/test/util.ts';
import { decode, dims, msgs, text } from './onnx-wire.ts';

describe('vision kernel cases', () => {
  it('are the stem, the stride-2 depthwise of block 2.0, the pw_exp of 2.1 and two MQA attentions at the published widths', () => {
    const rows = visionKernelCases(1).map((c) => [c.name, c.shape.join('x'), c.flops / 2]);
    expect(rows).toEqual([
      ['vision stem conv 3x3 s2 f16', '768x768x3x64x3x2x1', 384 * 384 * 64 * 27],
      ['vision depthwise 5x5 s2 (2.0 dw_mid) f16', '96x96x1536x1536x5x2x1536', 48 * 48 * 1536 * 25],
      ['vision pointwise expand 1x1 (2.1 pw_exp) f16', '48x48x640x2560x1x1x1', 48 * 48 * 640 * 2560],
      ['vision mqa attention (stage 3)', '576x16x96x576', 2 * 576 * 16 * 576 * 96],
      ['vision mqa attention (stage 2)', '2304x12x64x576', 2 * 2304 * 12 * 576 * 64],
    ]);
    expect(visionKernelCases(16).map((c) => c.shape.join('x'))).toEqual(['768x768x3x4x3x2x1', '96x96x96x96x5x2x96', '48x48x40x160x1x1x1', '576x16x6x576', '2304x12x4x576']);
    expect(() => visionKernelCases(3)).toThrow(/vision kernel scale/);
  });

  it('use TF SAME padding: (0, 1) for the stem, (1, 2) for the 5x5 stride 2', () => {
    expect(sameConv(768, 3, 64, 3, 2, 1).pads).toEqual([0, 0, 1, 1]);
    expect(sameConv(96, 8, 8, 5, 2, 8)).toMatchObject({ pads: [1, 1, 2, 2], outH: 48, outW: 48 });
  });

  it('are opt-in flags of pnpm bench', () => {
    const a = parseBenchArgs(['--vision-kernels', '--vision-kernel-scale', '8', '--kernels', 'vision,copy']);
    expect([a.get('vision-kernels'), a.get('vision-kernel-scale'), a.get('kernels')]).toEqual(['true', '8', 'vision,copy']);
  });

  it('transpose channels-last to NCHW and back', () => {
    const x = Float32Array.from({ length: 12 }, (_, i) => i);
    const t = transposePlanes(x, 4, 3);
    expect(Array.from(t)).toEqual([0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11]);
    expect(transposePlanes(t, 3, 4)).toEqual(x);
  });
});

describe('ONNX models of the vision comparison', () => {
  it('Conv: group, kernel_shape, strides, pads (begins then ends), dilations, f32 weight and bias initializers', () => {
    const s = sameConv(9, 4, 6, 3, 2, 2);
    const w = new Float32Array(6 * 2 * 9).map((_, i) => i);
    const graph = msgs(decode(convModel(s, w, new Float32Array(6))), 7)[0];
    const [node] = msgs(graph, 1);
    expect([text(node.get(4)?.[0]), text(node.get(7)?.[0])]).toEqual(['Conv', '']);
    expect(node.get(1)?.map(text)).toEqual(['X', 'W', 'B']);
    const attrs = Object.fromEntries(msgs(node, 5).map((a) => [text(a.get(1)?.[0]), [a.get(20)?.[0], a.get(3)?.[0] ?? a.get(8)]]));
    expect(attrs).toEqual({ group: [2, 2], kernel_shape: [7, [3, 3]], strides: [7, [2, 2]], pads: [7, [1, 1, 1, 1]], dilations: [7, [1, 1]] });
    const [wi, bi] = msgs(graph, 5);
    expect([wi.get(1), wi.get(2), text(wi.get(8)?.[0]), (wi.get(9)?.[0] as Uint8Array).length]).toEqual([[6, 2, 3, 3], [ONNX_FLOAT], 'W', 6 * 2 * 9 * 4]);
    expect([bi.get(1), text(bi.get(8)?.[0])]).toEqual([[6], 'B']);
    expect(dims(msgs(graph, 11)[0])).toEqual([1, 4, 9, 9]);
    expect(dims(msgs(graph, 12)[0])).toEqual([1, 6, 5, 5]);
    expect(msgs(msgs(decode(convModel(s, w, null)), 7)[0], 5)).toHaveLength(1);
  });

  it('MQA attention: MatMul(Q, KT), Softmax over the keys, MatMul(P, V)', () => {
    const graph = msgs(decode(mqaAttentionModel(10, 7, 4)), 7)[0];
    expect(msgs(graph, 1).map((n) => [text(n.get(4)?.[0]), n.get(1)?.map(text).join(',')])).toEqual([['MatMul', 'Q,KT'], ['Softmax', 'S'], ['MatMul', 'P,V']]);
    expect(msgs(graph, 11).map(dims)).toEqual([[10, 4], [4, 7], [7, 4]]);
    expect(msgs(graph, 12).map(dims)).toEqual([[10, 4]]);
  });
});

/** Run a filled case's g3n call and its onnxruntime-web call once: both outputs. */
async function runBoth(gpu: Gpu, name: string, built: BuiltCase): Promise<{ ours: Float32Array; theirs: Float32Array }> {
  await runOnce(gpu, 'g3n', built.call);
  const call = await ortCallOf(await loadOrtNode(gpu), gpu, name, built.operands);
  if (!call) throw new Error('no onnxruntime-web counterpart');
  try {
    await call.run();
    const [theirs, ours] = await call.outputs();
    return { ours: ours.slice(), theirs };
  } finally {
    await call.release();
  }
}

describe('vision cases side by side (WebGPU provider on the g3n device)', () => {
  for (const [label, s, bias] of [
    ['grouped 3x3 stride 2 with bias', sameConv(9, 4, 6, 3, 2, 2), true],
    ['depthwise 5x5 stride 2', sameConv(10, 8, 8, 5, 2, 8), false],
    ['pointwise 1x1 (GEMM)', sameConv(5, 12, 20, 1, 1, 1), false],
  ] as const) {
    it(`Conv ${label}: onnxruntime-web = g3n = reference`, async () => {
      const gpu = await testGpu();
      const c = convCase(`t ${label}`, s, bias, 'f16');
      const built = c.build(gpu, 0);
      try {
        await runOnce(gpu, 'fill', built.fills);
        const op = built.operands as Extract<CaseOperands, { kind: 'conv' }>;
        expect(ortOpOf(op)).toBe('Conv');
        const w = f16BitsToF32(new Uint16Array(await readBytes(gpu, op.w.buffer, op.w.offset, numel(op.w.shape) * 2), 0, numel(op.w.shape)));
        const a = { ...s, strideH: s.stride, strideW: s.stride, padTop: s.pads[0], padLeft: s.pads[1] };
        const ref = conv2dRef(await readF32(gpu, op.x), w, op.bias ? await readF32(gpu, op.bias) : null, a);
        const { ours, theirs } = await runBoth(gpu, c.name, built);
        expectClose('g3n vs reference', ours, ref, { atol: 1e-5, rtol: 1e-4 });
        expectClose('onnxruntime-web vs reference', theirs, ref, { atol: 1e-5, rtol: 1e-4 });
        expect(maxRelDiff(theirs, ours)).toBeLessThan(1e-5);
      } finally {
        built.destroy();
      }
    });
  }

  it('MQA attention, 5 queries x 2 heads over 7 keys of dim 4: onnxruntime-web = g3n = reference', async () => {
    const gpu = await testGpu();
    const c = mqaCase('t mqa', 5, 2, 4, 7);
    const built = c.build(gpu, 0);
    try {
      await runOnce(gpu, 'fill', built.fills);
      const op = built.operands as Extract<CaseOperands, { kind: 'mqa' }>;
      expect(ortOpOf(op)).toBe('MatMul+Softmax+MatMul');
      const [q, k, v] = await Promise.all([readF32(gpu, op.q), readF32(gpu, op.k), readF32(gpu, op.v)]);
      const ref = new Float64Array(10 * 4);
      for (let r = 0; r < 10; r++) {
        const s = Array.from({ length: 7 }, (_, j) => [0, 1, 2, 3].reduce((acc, d) => acc + q[r * 4 + d] * k[j * 4 + d], 0) / 2);
        const m = Math.max(...s);
        const e = s.map((x) => Math.exp(x - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let d = 0; d < 4; d++) ref[r * 4 + d] = e.reduce((acc, p, j) => acc + (p / z) * v[j * 4 + d], 0);
      }
      const { ours, theirs } = await runBoth(gpu, c.name, built);
      expectClose('g3n vs reference', ours, ref, { atol: 1e-5, rtol: 1e-4 });
      expectClose('onnxruntime-web vs reference', theirs, ref, { atol: 1e-5, rtol: 1e-4 });
      expect(maxRelDiff(theirs, ours)).toBeLessThan(1e-5);
    } finally {
      built.destroy();
    }
  });
});
