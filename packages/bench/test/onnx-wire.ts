/** A protobuf wire-format reader for checking the ONNX models the bench writes. */

/** Protobuf wire-format reader: field number -> values (numbers for varints and fixed32 floats, bytes otherwise). */
export type Fields = Map<number, Array<number | Uint8Array>>;

export function decode(buf: Uint8Array): Fields {
  const out: Fields = new Map();
  let i = 0;
  const varint = () => {
    let v = 0;
    let m = 1;
    for (;;) {
      const b = buf[i++];
      v += (b & 0x7f) * m;
      m *= 128;
      if (b < 0x80) return v;
    }
  };
  while (i < buf.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    let value: number | Uint8Array;
    if (wire === 0) value = varint();
    else if (wire === 5) {
      value = new DataView(buf.buffer, buf.byteOffset + i, 4).getFloat32(0, true);
      i += 4;
    } else if (wire === 2) {
      const n = varint();
      value = buf.subarray(i, i + n);
      i += n;
    } else throw new Error(`wire type ${wire}`);
    out.set(field, [...(out.get(field) ?? []), value]);
  }
  return out;
}

export const text = (v: number | Uint8Array | undefined) => new TextDecoder().decode(v as Uint8Array);
export const msgs = (f: Fields, n: number) => (f.get(n) ?? []).map((v) => decode(v as Uint8Array));
export const dims = (valueInfo: Fields) => msgs(msgs(msgs(msgs(valueInfo, 2)[0], 1)[0], 2)[0] ?? new Map(), 1).map((d) => d.get(1)?.[0]);
