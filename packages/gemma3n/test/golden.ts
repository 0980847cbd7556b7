import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseSafetensorsHeader, readHeaderLength } from '@g3n/weights';

export const FIXTURES = join(import.meta.dirname, '../../../../shared/fixtures');

export interface GoldenTensor {
  shape: number[];
  data: Float32Array;
}

/** All tensors of a golden safetensors file as f32 (I64 ids converted to numbers). */
export async function loadGolden(path: string): Promise<Map<string, GoldenTensor>> {
  const bytes = new Uint8Array(await readFile(path));
  const headerLength = readHeaderLength(bytes.subarray(0, 8), bytes.length, path);
  const header = parseSafetensorsHeader(bytes.subarray(0, 8 + headerLength), bytes.length, path);
  const out = new Map<string, GoldenTensor>();
  for (const [name, e] of header.tensors) {
    const raw = bytes.slice(e.start, e.end);
    const data = e.dtype === 'I64' ? Float32Array.from(new BigInt64Array(raw.buffer), (v) => Number(v)) : new Float32Array(raw.buffer);
    out.set(name, { shape: e.shape, data });
  }
  return out;
}

export function ids(g: Map<string, GoldenTensor>, name: string): number[] {
  const t = g.get(name);
  if (!t) throw new Error(`golden has no '${name}'`);
  return Array.from(t.data);
}

export function tensor(g: Map<string, GoldenTensor>, name: string): Float32Array {
  const t = g.get(name);
  if (!t) throw new Error(`golden has no '${name}'`);
  return t.data;
}

/** ||a - g|| / ||g||. */
export function relL2(a: ArrayLike<number>, g: ArrayLike<number>): number {
  if (a.length !== g.length) throw new Error(`length ${a.length} != ${g.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < g.length; i++) {
    num += (a[i] - g[i]) ** 2;
    den += g[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

export interface LogitCheck {
  maxAbs: number;
  meanAbs: number;
  /** Rows whose argmax differs from the golden's although the golden margin is >= minMargin. */
  top1Mismatches: number[];
}

function argmax(x: ArrayLike<number>, from: number, n: number): number {
  let best = from;
  for (let i = from + 1; i < from + n; i++) if (x[i] > x[best]) best = i;
  return best - from;
}

/** Compare [rows, V] logits with the fixture README's criteria. */
export function checkLogits(a: Float32Array, g: Float32Array, V: number, margins: number[] | null, minMargin = 2e-2): LogitCheck {
  let maxAbs = 0;
  let sum = 0;
  for (let i = 0; i < g.length; i++) {
    const d = Math.abs(a[i] - g[i]);
    maxAbs = Math.max(maxAbs, Number.isNaN(d) ? Infinity : d);
    sum += d;
  }
  const top1Mismatches: number[] = [];
  for (let r = 0; r < g.length / V; r++) {
    if (margins && margins[r] < minMargin) continue;
    if (argmax(a, r * V, V) !== argmax(g, r * V, V)) top1Mismatches.push(r);
  }
  return { maxAbs, meanAbs: sum / g.length, top1Mismatches };
}

export async function readJson<T = Record<string, unknown>>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}
