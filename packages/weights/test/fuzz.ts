/**
 * A seeded fuzzer of the weight formats' inputs: safetensors files (header bytes, the length prefix,
 * the header's JSON values, truncation) and artifact manifests (JSON values anywhere in the tree,
 * byte flips, truncation). Each case is a pure function of its seed, so a failure is reproduced by
 * its number.
 */
export type Rng = () => number;

/** mulberry32: a small, fast, seeded PRNG in [0, 1). */
export function rng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const pick = <T>(r: Rng, list: readonly T[]): T => list[Math.floor(r() * list.length)];
const int = (r: Rng, n: number): number => Math.floor(r() * n);

/** Values that break parsers: huge, negative, fractional, wrong types, deep, long, odd strings. */
export function oddValue(r: Rng): unknown {
  return pick(r, [
    () => 2 ** 53,
    () => 2 ** 64,
    () => 1e308,
    () => -1,
    () => -(2 ** 31),
    () => 0.5,
    () => 0,
    () => 2 ** 32 + int(r, 100),
    () => Number.MAX_SAFE_INTEGER - int(r, 3),
    () => null,
    () => true,
    () => '',
    () => '12',
    () => 'x'.repeat(1 + int(r, 5000)),
    () => '\ud800',
    () => '../../etc/passwd',
    () => [],
    () => {},
    () => [2 ** 40, 2 ** 40],
    () => [1e15, 1e15, 1e15],
    () => [-5, 3],
    () => [3, 1],
    () => JSON.parse('['.repeat(2000) + ']'.repeat(2000)),
    () => ({ __proto__: null, toString: 1 }),
  ])();
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every [container, key] of a JSON tree, depth-first. */
function slots(v: Json, out: Array<[Json[] | Record<string, Json>, string | number]> = []): Array<[Json[] | Record<string, Json>, string | number]> {
  if (Array.isArray(v)) v.forEach((x, i) => (out.push([v, i]), slots(x, out)));
  else if (v && typeof v === 'object') for (const k of Object.keys(v)) out.push([v, k]), slots(v[k], out);
  return out;
}

/** `json` with 1-3 values replaced by odd ones, a key dropped, or an entry duplicated. */
export function mutateJson(json: unknown, r: Rng): unknown {
  const copy = structuredClone(json) as Json;
  const all = slots(copy);
  for (let n = 1 + int(r, 3); n > 0 && all.length > 0; n--) {
    const [container, key] = pick(r, all);
    const what = r();
    if (what < 0.7) (container as Record<string, unknown>)[key] = oddValue(r);
    else if (what < 0.85 && !Array.isArray(container)) delete (container as Record<string, Json>)[key as string];
    else if (Array.isArray(container)) container.push(structuredClone(container[key as number]));
    else (container as Record<string, unknown>)[`${key}_`] = (container as Record<string, unknown>)[key];
  }
  return copy;
}

/** `bytes` with 1-8 random bytes of [from, to) flipped. */
export function flipBytes(bytes: Uint8Array, r: Rng, from = 0, to = bytes.length): Uint8Array {
  const out = bytes.slice();
  for (let n = 1 + int(r, 8); n > 0; n--) out[from + int(r, Math.max(1, to - from))] ^= 1 << int(r, 8);
  return out;
}

/** A fuzzed safetensors file from a valid one: one of several kinds of damage, chosen by the seed. */
export function fuzzSafetensors(file: Uint8Array, r: Rng): Uint8Array {
  const headerLength = Number(new DataView(file.buffer, file.byteOffset, 8).getBigUint64(0, true));
  const end = 8 + headerLength;
  const withHeader = (text: string, keepLength = false) => {
    const json = new TextEncoder().encode(text);
    const out = new Uint8Array(8 + json.length + (file.length - end));
    new DataView(out.buffer).setBigUint64(0, BigInt(keepLength ? headerLength : json.length), true);
    out.set(json, 8);
    out.set(file.subarray(end), 8 + json.length);
    return out;
  };
  const kind = int(r, 6);
  if (kind === 0) return flipBytes(file, r, 8, end);
  if (kind === 1) {
    const out = file.slice();
    const v = pick(r, [2n ** 63n, 2n ** 32n + 5n, 0n, BigInt(file.length), BigInt(file.length - 7), BigInt(headerLength + 1), 99_999_999n]);
    new DataView(out.buffer).setBigUint64(0, v, true);
    return out;
  }
  if (kind === 2) return file.slice(0, int(r, file.length));
  const header = JSON.parse(new TextDecoder().decode(file.subarray(8, end)));
  if (kind === 3) return withHeader(JSON.stringify(mutateJson(header, r)));
  if (kind === 4) return withHeader(JSON.stringify(mutateJson(header, r)), true);
  return withHeader(pick(r, ['[]', 'null', '"x"', '{', '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', '['.repeat(100_000), `{"t":{"dtype":"F32","shape":[${2 ** 30},${2 ** 30}],"data_offsets":[0,${2 ** 62}]}}`, '{"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}']));
}

/** A fuzzed manifest.json from a valid one: JSON values, byte flips, or truncation. */
export function fuzzManifest(text: string, r: Rng): Uint8Array {
  const bytes = new TextEncoder().encode(text);
  const kind = int(r, 4);
  if (kind === 0) return flipBytes(bytes, r);
  if (kind === 1) return bytes.slice(0, int(r, bytes.length));
  return new TextEncoder().encode(JSON.stringify(mutateJson(JSON.parse(text), r)));
}
