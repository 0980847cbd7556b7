import { describe, expect, it } from 'vitest';
import { CheckpointError, openSafetensors, parseSafetensorsHeader, toF32, writeSafetensors, type ByteSource, type CheckpointErrorKind, type TensorToWrite } from '../src/index.ts';

function memorySource(name: string, bytes: Uint8Array): ByteSource & { reads: Array<[number, number]> } {
  const reads: Array<[number, number]> = [];
  return {
    name,
    reads,
    size: async () => bytes.length,
    read: async (offset, length) => {
      reads.push([offset, length]);
      return bytes.slice(offset, offset + length);
    },
  };
}

/** A safetensors file with a hand-written header (any JSON text) and `dataBytes` bytes of data. */
function rawFile(header: unknown, dataBytes: number, headerLength?: number): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setUint32(0, headerLength ?? json.length, true);
  out.set(json, 8);
  return out;
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}

const sample: TensorToWrite[] = [
  { name: 'w.f32', dtype: 'F32', shape: [2, 3], data: bytesOf(new Float32Array([1, -2, 3.5, 0, 1e-20, -7])) },
  { name: 'w.bf16', dtype: 'BF16', shape: [3], data: bytesOf(new Uint16Array([0x3f80, 0xc000, 0x7f80])) },
  { name: 'ids', dtype: 'I64', shape: [2], data: bytesOf(new BigInt64Array([5n, -1n])) },
  { name: 'empty', dtype: 'F16', shape: [0, 4], data: new Uint8Array(0) },
  { name: 'mask', dtype: 'U8', shape: [5], data: new Uint8Array([1, 0, 1, 1, 0]) },
];

function expectKind(fn: () => unknown, kind: CheckpointErrorKind, ...mentions: string[]): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected a CheckpointError '${kind}'`).toBeInstanceOf(CheckpointError);
  const ce = err as CheckpointError;
  expect(ce.code).toBe('BAD_CHECKPOINT');
  expect(ce.kind, ce.message).toBe(kind);
  expect(ce.details.kind).toBe(kind);
  for (const m of mentions) expect(ce.message).toContain(m);
}

describe('safetensors header', () => {
  it('parses what writeSafetensors writes (absolute offsets, metadata, padding)', () => {
    const file = writeSafetensors(sample, { format: 'pt' });
    const h = parseSafetensorsHeader(file, file.length, 'sample.safetensors');
    expect(h.headerLength % 8).toBe(0);
    expect(h.dataStart).toBe(8 + h.headerLength);
    expect(h.metadata).toEqual({ format: 'pt' });
    expect([...h.tensors.keys()].sort()).toEqual(sample.map((t) => t.name).sort());
    for (const t of sample) {
      const e = h.tensors.get(t.name)!;
      expect(e).toMatchObject({ name: t.name, dtype: t.dtype, shape: t.shape, file: 'sample.safetensors' });
      expect(file.slice(e.start, e.end)).toEqual(t.data);
    }
    expect(Math.max(...[...h.tensors.values()].map((e) => e.end))).toBe(file.length);
  });

  it('opens with two reads and reads tensors by name', async () => {
    const file = writeSafetensors(sample);
    const src = memorySource('mem.safetensors', file);
    const st = await openSafetensors(src);
    expect(src.reads.length).toBe(2);
    expect(src.reads[0]).toEqual([0, 8]);
    expect(st.header.metadata).toBeNull();
    for (const t of sample) expect(await st.readTensor(t.name)).toEqual(t.data);
    await expect(st.readTensor('nope')).rejects.toMatchObject({ kind: 'missing-tensor' });
  });

  const f32x4 = (offsets: number[], extra: Record<string, unknown> = {}) => ({ dtype: 'F32', shape: [4], data_offsets: offsets, ...extra });
  const cases: Array<{ what: string; file: () => Uint8Array; kind: CheckpointErrorKind; mentions?: string[] }> = [
    { what: 'file shorter than 8 bytes', file: () => new Uint8Array(5), kind: 'truncated' },
    { what: 'empty file', file: () => new Uint8Array(0), kind: 'truncated' },
    { what: 'header length over 100 MB', file: () => rawFile({}, 0, 100_000_001), kind: 'header-length' },
    {
      what: 'header length over 2^32',
      file: () => {
        const f = rawFile({}, 0);
        new DataView(f.buffer).setUint32(4, 1, true);
        return f;
      },
      kind: 'header-length',
    },
    { what: 'header length past the end of the file', file: () => rawFile({}, 0, 4096), kind: 'header-length' },
    { what: 'header not JSON', file: () => rawFile('{"a": ', 0), kind: 'header-json' },
    { what: 'header a JSON array', file: () => rawFile([1, 2], 0), kind: 'header-json' },
    { what: 'header not UTF-8', file: () => rawFile('{"ab": 1}', 0).map((b, i) => (i === 10 ? 0xff : b)), kind: 'header-json' },
    { what: 'entry not an object', file: () => rawFile({ t: [1] }, 0), kind: 'header-json', mentions: ['"t"'] },
    { what: 'metadata not string-to-string', file: () => rawFile({ __metadata__: { a: 1 } }, 0), kind: 'header-json' },
    { what: 'unknown dtype', file: () => rawFile({ t: { dtype: 'F8_E4M3', shape: [4], data_offsets: [0, 4] } }, 4), kind: 'unknown-dtype', mentions: ['"t"', 'F8_E4M3'] },
    { what: 'dtype missing', file: () => rawFile({ t: { shape: [4], data_offsets: [0, 16] } }, 16), kind: 'unknown-dtype' },
    { what: 'negative dim', file: () => rawFile({ t: f32x4([0, 16], { shape: [-4] }) }, 16), kind: 'bad-shape', mentions: ['"t"'] },
    { what: 'fractional dim', file: () => rawFile({ t: f32x4([0, 16], { shape: [1.5] }) }, 16), kind: 'bad-shape' },
    { what: 'shape not a list', file: () => rawFile({ t: f32x4([0, 16], { shape: '4' }) }, 16), kind: 'bad-shape' },
    { what: 'offsets begin > end', file: () => rawFile({ t: f32x4([16, 0]) }, 16), kind: 'bad-offsets', mentions: ['"t"'] },
    { what: 'offsets not a pair', file: () => rawFile({ t: f32x4([0]) }, 16), kind: 'bad-offsets' },
    { what: 'negative offset', file: () => rawFile({ t: f32x4([-16, 0]) }, 16), kind: 'bad-offsets' },
    { what: 'byte count != numel * dtype size', file: () => rawFile({ t: f32x4([0, 12]) }, 12), kind: 'size-mismatch', mentions: ['"t"', '12', '16'] },
    { what: 'overlapping tensors', file: () => rawFile({ a: f32x4([0, 16]), b: f32x4([8, 24]) }, 24), kind: 'overlap', mentions: ['"a"', '"b"'] },
    { what: 'a tensor past the end of the file', file: () => rawFile({ a: f32x4([0, 16]), b: f32x4([64, 80]) }, 32), kind: 'out-of-range', mentions: ['"b"'] },
    { what: 'data region shorter than the header claims', file: () => rawFile({ a: f32x4([0, 16]), b: f32x4([16, 32]) }, 20), kind: 'truncated', mentions: ['32', '20'] },
  ];
  for (const c of cases) {
    it(`rejects ${c.what} (${c.kind})`, async () => {
      const file = c.file();
      expectKind(() => parseSafetensorsHeader(file, file.length, 'bad.safetensors'), c.kind, 'bad.safetensors', ...(c.mentions ?? []));
      await expect(openSafetensors(memorySource('bad.safetensors', file))).rejects.toMatchObject({ code: 'BAD_CHECKPOINT', kind: c.kind });
    });
  }

  it('accepts zero-size tensors sharing an offset and a truncated copy of a real file fails as truncated', () => {
    const ok = rawFile({ a: f32x4([0, 16]), z: { dtype: 'F32', shape: [0], data_offsets: [16, 16] }, y: { dtype: 'BF16', shape: [2, 0], data_offsets: [16, 16] } }, 16);
    expect(parseSafetensorsHeader(ok, ok.length, 'ok').tensors.size).toBe(3);
    const file = writeSafetensors(sample);
    const cut = file.slice(0, file.length - 3);
    expectKind(() => parseSafetensorsHeader(cut, cut.length, 'cut.safetensors'), 'truncated', 'cut.safetensors');
  });
});

describe('toF32', () => {
  const entry = (dtype: 'F32' | 'F16' | 'BF16' | 'F64' | 'I64') => ({ name: 't', dtype, file: 'f' });

  it('BF16 is bits << 16 exactly, also from an unaligned view', () => {
    const bits = new Uint16Array(4099);
    for (let i = 0; i < bits.length; i++) bits[i] = (i * 40503 + 7) & 0xffff;
    const padded = new Uint8Array(bits.byteLength + 1);
    padded.set(bytesOf(bits), 1);
    const out = toF32(padded.subarray(1), entry('BF16'));
    const u = new Uint32Array(out.buffer, out.byteOffset, out.length);
    for (let i = 0; i < bits.length; i++) if (u[i] !== bits[i] << 16 >>> 0) throw new Error(`bf16 ${i}: ${u[i]} != ${bits[i] << 16}`);
  });

  it('F16 converts all 65536 values exactly', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const out = toF32(bytesOf(all), entry('F16'));
    for (let h = 0; h < 65536; h++) {
      const s = h & 0x8000 ? -1 : 1;
      const e = (h >> 10) & 0x1f;
      const m = h & 0x3ff;
      const want = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
      if (!Object.is(out[h], want) && !(Number.isNaN(want) && Number.isNaN(out[h]))) throw new Error(`f16 0x${h.toString(16)}: ${out[h]} != ${want}`);
    }
    expect(Object.is(out[0x8000], -0)).toBe(true);
  });

  it('F32 copies, F64 rounds, integers are refused', () => {
    const f = new Float32Array([1.5, -2, 3e-39]);
    const out = toF32(bytesOf(f), entry('F32'));
    expect(out).toEqual(f);
    expect(out.buffer).not.toBe(f.buffer);
    expect(toF32(bytesOf(new Float64Array([0.1, -1e300])), entry('F64'))).toEqual(new Float32Array([0.1, -Infinity]));
    expectKind(() => toF32(new Uint8Array(8), entry('I64')), 'bad-dtype');
  });
});
