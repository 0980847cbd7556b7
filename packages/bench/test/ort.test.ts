import { describe, expect, it } from 'vitest';
import { groupQueryAttentionModel, matMulNBitsModel, ONNX_FLOAT, ONNX_INT32, ONNX_UINT8 } from '../src/ort.ts';
import { decode, dims, msgs, text } from './onnx-wire.ts';

describe('ONNX models of the onnxruntime-web comparison', () => {
  it('MatMulNBits: com.microsoft op with K, N, bits, block_size and the q4 codes and scales as initializers', () => {
    const codes = new Uint8Array(64 * 2 * 16).map((_, i) => i & 0xff);
    const scales = new Float32Array(64 * 2).fill(0.5);
    const model = decode(matMulNBitsModel(1, 64, 64, codes, scales));
    expect(model.get(1)).toEqual([8]);
    expect(msgs(model, 8).map((o) => [text(o.get(1)?.[0] ?? new Uint8Array()), o.get(2)?.[0]])).toEqual([['', 21], ['com.microsoft', 1]]);
    const graph = msgs(model, 7)[0];
    const [node] = msgs(graph, 1);
    expect([text(node.get(4)?.[0]), text(node.get(7)?.[0])]).toEqual(['MatMulNBits', 'com.microsoft']);
    expect(node.get(1)?.map(text)).toEqual(['A', 'B', 'scales']);
    const attrs = Object.fromEntries(msgs(node, 5).map((a) => [text(a.get(1)?.[0]), a.get(3)?.[0]]));
    expect(attrs).toEqual({ K: 64, N: 64, bits: 4, block_size: 32 });
    const [b, s] = msgs(graph, 5);
    expect([b.get(1), b.get(2), text(b.get(8)?.[0])]).toEqual([[64, 2, 16], [ONNX_UINT8], 'B']);
    expect(b.get(9)?.[0]).toEqual(codes);
    expect([s.get(1), s.get(2), (s.get(9)?.[0] as Uint8Array).length]).toEqual([[128], [ONNX_FLOAT], 512]);
    expect(dims(msgs(graph, 11)[0])).toEqual([1, 64]);
    expect(dims(msgs(graph, 12)[0])).toEqual([1, 64]);
  });

  it('GroupQueryAttention: decode inputs with a shared past/present K/V cache, int32 lengths and scale 1', () => {
    const graph = msgs(decode(groupQueryAttentionModel(8, 2, 32, 100)), 7)[0];
    const [node] = msgs(graph, 1);
    expect(text(node.get(4)?.[0])).toBe('GroupQueryAttention');
    const attrs = msgs(node, 5).map((a) => [text(a.get(1)?.[0]), a.get(3)?.[0] ?? a.get(2)?.[0]]);
    expect(attrs).toEqual([['num_heads', 8], ['kv_num_heads', 2], ['scale', 1]]);
    const inputs = msgs(graph, 11);
    expect(inputs.map((v) => text(v.get(1)?.[0]))).toEqual(['query', 'key', 'value', 'past_key', 'past_value', 'seqlens_k', 'total_sequence_length']);
    expect(dims(inputs[3])).toEqual([1, 2, 100, 32]);
    expect(dims(inputs[5])).toEqual([1]);
    const scalar = msgs(msgs(inputs[6], 2)[0], 1)[0];
    expect(scalar.get(1)).toEqual([ONNX_INT32]);
    expect(msgs(msgs(scalar, 2)[0], 1)).toHaveLength(0);
    expect(msgs(graph, 12).map(dims)).toEqual([[1, 1, 256], [1, 2, 100, 32], [1, 2, 100, 32]]);
  });
});
