/**
 * The onnxruntime-web side of the kernel comparison: small ONNX models (protobuf wire format,
 * onnx.proto field numbers) of the two kernels Transformers.js runs quantized LLMs with,
 * `MatMulNBits` (4-bit, block 32) and `GroupQueryAttention` (decode), both in the com.microsoft
 * domain, on the same shapes as the g3n kernel cases. Weights are initializers in the model.
 */

const enum Wire {
  Varint = 0,
  Len = 2,
  Fixed32 = 5,
}

/** TensorProto.DataType values used here. */
export const ONNX_FLOAT = 1;
export const ONNX_UINT8 = 2;
export const ONNX_INT32 = 6;

/** Protobuf writer: small fields go to a byte list, large byte fields are kept as views and joined once at the end. */
class Writer {
  private readonly parts: Uint8Array[] = [];
  private pending: number[] = [];
  private length = 0;

  varint(field: number, v: number): this {
    this.tag(field, Wire.Varint);
    this.raw(v);
    return this;
  }

  float(field: number, v: number): this {
    this.tag(field, Wire.Fixed32);
    this.pending.push(...new Uint8Array(new Float32Array([v]).buffer));
    return this;
  }

  bytes(field: number, data: Uint8Array): this {
    this.tag(field, Wire.Len);
    this.raw(data.length);
    this.flush();
    this.parts.push(data);
    this.length += data.length;
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  message(field: number, build: (w: Writer) => void): this {
    const inner = new Writer();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    this.flush();
    if (this.parts.length === 1) return this.parts[0];
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  private flush(): void {
    if (!this.pending.length) return;
    this.parts.push(Uint8Array.from(this.pending));
    this.length += this.pending.length;
    this.pending = [];
  }

  private tag(field: number, wire: Wire): void {
    this.raw(field * 8 + wire);
  }

  private raw(v: number): void {
    let x = v;
    while (x >= 0x80) {
      this.pending.push((x % 0x80) | 0x80);
      x = Math.floor(x / 0x80);
    }
    this.pending.push(x);
  }
}

export interface OnnxValue {
  name: string;
  type: number;
  dims: number[];
}

export interface OnnxNode {
  op: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  ints?: Record<string, number>;
  floats?: Record<string, number>;
  /** INTS attributes (kernel_shape, pads, strides, ...); non-negative values. */
  intLists?: Record<string, number[]>;
}

export interface OnnxInitializer extends OnnxValue {
  data: Uint8Array;
}

function valueInfo(w: Writer, v: OnnxValue): void {
  w.string(1, v.name).message(2, (t) =>
    t.message(1, (tt) => tt.varint(1, v.type).message(2, (shape) => v.dims.forEach((d) => shape.message(1, (dim) => dim.varint(1, d))))),
  );
}

/** A ModelProto (IR 8, opsets ai.onnx 21 and com.microsoft 1) of one graph. */
export function onnxModel(graph: { nodes: OnnxNode[]; initializers: OnnxInitializer[]; inputs: OnnxValue[]; outputs: OnnxValue[] }): Uint8Array {
  const w = new Writer();
  w.varint(1, 8);
  w.string(2, 'g3n-bench');
  w.message(7, (g) => {
    graph.nodes.forEach((n, i) =>
      g.message(1, (node) => {
        n.inputs.forEach((x) => node.string(1, x));
        n.outputs.forEach((x) => node.string(2, x));
        node.string(3, `${n.op}_${i}`).string(4, n.op).string(7, n.domain);
        for (const [name, v] of Object.entries(n.ints ?? {})) node.message(5, (a) => a.string(1, name).varint(3, v).varint(20, 2));
        for (const [name, v] of Object.entries(n.floats ?? {})) node.message(5, (a) => a.string(1, name).float(2, v).varint(20, 1));
        for (const [name, v] of Object.entries(n.intLists ?? {})) node.message(5, (a) => (a.string(1, name), v.forEach((x) => a.varint(8, x)), a.varint(20, 7)));
      }),
    );
    g.string(2, 'bench');
    for (const t of graph.initializers) g.message(5, (tp) => (t.dims.forEach((d) => tp.varint(1, d)), tp.varint(2, t.type).string(8, t.name).bytes(9, t.data)));
    for (const v of graph.inputs) g.message(11, (x) => valueInfo(x, v));
    for (const v of graph.outputs) g.message(12, (x) => valueInfo(x, v));
  });
  w.message(8, (o) => o.string(1, '').varint(2, 21));
  w.message(8, (o) => o.string(1, 'com.microsoft').varint(2, 1));
  return w.finish();
}

/**
 * Y[M, N] = A[M, K] B^T with B as MatMulNBits stores it: [N, K / 32, 16] bytes of 4-bit codes (two
 * per byte, the even element in the low nibble, value = (code - 8) * scale) and one f32 scale per
 * block of 32, no zero points (the default 8). The same codes and scales as g3n's q4 layout.
 */
export function matMulNBitsModel(m: number, n: number, k: number, codes: Uint8Array, scales: Float32Array): Uint8Array {
  return onnxModel({
    nodes: [{ op: 'MatMulNBits', domain: 'com.microsoft', inputs: ['A', 'B', 'scales'], outputs: ['Y'], ints: { K: k, N: n, bits: 4, block_size: 32 } }],
    initializers: [
      { name: 'B', type: ONNX_UINT8, dims: [n, k / 32, 16], data: codes },
      { name: 'scales', type: ONNX_FLOAT, dims: [n * (k / 32)], data: new Uint8Array(scales.buffer, scales.byteOffset, scales.byteLength) },
    ],
    inputs: [{ name: 'A', type: ONNX_FLOAT, dims: [m, k] }],
    outputs: [{ name: 'Y', type: ONNX_FLOAT, dims: [m, n] }],
  });
}

/**
 * One decode step of GroupQueryAttention with the KV cache shared between past and present (the
 * way onnxruntime's WebGPU provider runs decode: present_key / present_value are bound to the
 * past_key / past_value buffers): query [1, 1, H * d], key / value [1, 1, Hkv * d] of the new token,
 * past_key / past_value [1, Hkv, capacity, d] holding `seqlens_k` positions, seqlens_k = [position of
 * the new token], total_sequence_length = that + 1; scale 1 as in Gemma 3n. Outputs the attention and
 * the present K/V (the caches with the new token written at its position).
 */
export function groupQueryAttentionModel(heads: number, kvHeads: number, headDim: number, capacity: number): Uint8Array {
  const f = (name: string, dims: number[]): OnnxValue => ({ name, type: ONNX_FLOAT, dims });
  const cache = [1, kvHeads, capacity, headDim];
  return onnxModel({
    nodes: [
      {
        op: 'GroupQueryAttention',
        domain: 'com.microsoft',
        inputs: ['query', 'key', 'value', 'past_key', 'past_value', 'seqlens_k', 'total_sequence_length'],
        outputs: ['output', 'present_key', 'present_value'],
        ints: { num_heads: heads, kv_num_heads: kvHeads },
        floats: { scale: 1 },
      },
    ],
    initializers: [],
    inputs: [
      f('query', [1, 1, heads * headDim]),
      f('key', [1, 1, kvHeads * headDim]),
      f('value', [1, 1, kvHeads * headDim]),
      f('past_key', cache),
      f('past_value', cache),
      { name: 'seqlens_k', type: ONNX_INT32, dims: [1] },
      { name: 'total_sequence_length', type: ONNX_INT32, dims: [] },
    ],
    outputs: [f('output', [1, 1, heads * headDim]), f('present_key', cache), f('present_value', cache)],
  });
}

const f32Bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** One 2-D convolution (ONNX `Conv`, NCHW) of the vision tower's kinds: any group count, explicit (SAME) pads. */
export interface ConvModelShape {
  inH: number;
  inW: number;
  inC: number;
  outC: number;
  kh: number;
  kw: number;
  stride: number;
  /** [top, left, bottom, right] (ONNX order: begins, then ends). */
  pads: [number, number, number, number];
  outH: number;
  outW: number;
  groups: number;
}

/**
 * Y[1, outC, outH, outW] = Conv(X[1, inC, inH, inW], W[outC, inC / groups, kh, kw] (+ B[outC])) with
 * the weight and bias as f32 initializers (the checkpoint layout is ONNX's).
 */
export function convModel(s: ConvModelShape, weight: Float32Array, bias: Float32Array | null): Uint8Array {
  return onnxModel({
    nodes: [
      {
        op: 'Conv',
        domain: '',
        inputs: bias ? ['X', 'W', 'B'] : ['X', 'W'],
        outputs: ['Y'],
        ints: { group: s.groups },
        intLists: { kernel_shape: [s.kh, s.kw], strides: [s.stride, s.stride], pads: s.pads, dilations: [1, 1] },
      },
    ],
    initializers: [
      { name: 'W', type: ONNX_FLOAT, dims: [s.outC, s.inC / s.groups, s.kh, s.kw], data: f32Bytes(weight) },
      ...(bias ? [{ name: 'B', type: ONNX_FLOAT, dims: [s.outC], data: f32Bytes(bias) }] : []),
    ],
    inputs: [{ name: 'X', type: ONNX_FLOAT, dims: [1, s.inC, s.inH, s.inW] }],
    outputs: [{ name: 'Y', type: ONNX_FLOAT, dims: [1, s.outC, s.outH, s.outW] }],
  });
}

/**
 * Multi-query attention of one vision block as MatMul + Softmax + MatMul: O[rows, d] =
 * softmax(Q[rows, d] KT[d, keys]) V[keys, d], every (query pixel, head) a row against the one shared
 * K/V head; the 1 / sqrt(d) scale is folded into KT by the caller (as exporters fold it into the key
 * projection).
 */
export function mqaAttentionModel(rows: number, keys: number, d: number): Uint8Array {
  const f = (name: string, dims: number[]): OnnxValue => ({ name, type: ONNX_FLOAT, dims });
  return onnxModel({
    nodes: [
      { op: 'MatMul', domain: '', inputs: ['Q', 'KT'], outputs: ['S'] },
      { op: 'Softmax', domain: '', inputs: ['S'], outputs: ['P'], ints: { axis: 1 } },
      { op: 'MatMul', domain: '', inputs: ['P', 'V'], outputs: ['O'] },
    ],
    initializers: [],
    inputs: [f('Q', [rows, d]), f('KT', [d, keys]), f('V', [keys, d])],
    outputs: [f('O', [rows, d])],
  });
}
