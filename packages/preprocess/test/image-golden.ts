import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FIXTURES, loadGolden, tensor } from '../../gemma3n/test/golden.ts';

export const IMAGE_FIXTURE = join(FIXTURES, 'image-preprocess-a');

export interface ImageCase {
  name: string;
  width: number;
  height: number;
  raw: string;
  png: string;
  golden_key: string;
  shape: number[];
}

export interface ImageFixture {
  target: [number, number];
  cases: ImageCase[];
  tolerance: { max_abs: number; mean_abs: number };
}

export async function imageFixture(): Promise<ImageFixture> {
  return JSON.parse(await readFile(join(IMAGE_FIXTURE, 'fixture.json'), 'utf8')) as ImageFixture;
}

export async function imageGolden(c: ImageCase): Promise<Float32Array> {
  return tensor(await loadGolden(join(IMAGE_FIXTURE, 'golden.safetensors')), c.golden_key);
}

export async function rawPixels(c: ImageCase): Promise<Uint8Array> {
  return new Uint8Array(await readFile(join(IMAGE_FIXTURE, c.raw)));
}

/** Max and mean |got - golden| and the share of exactly equal values. */
export function diffStats(got: ArrayLike<number>, golden: ArrayLike<number>): { maxAbs: number; meanAbs: number; exact: number } {
  if (got.length !== golden.length) throw new Error(`length ${got.length} != golden ${golden.length}`);
  let maxAbs = 0;
  let sum = 0;
  let exact = 0;
  for (let i = 0; i < golden.length; i++) {
    const d = Math.abs(got[i] - golden[i]);
    if (!(d <= maxAbs)) maxAbs = Number.isNaN(d) ? Infinity : d;
    sum += d;
    if (d <= 1e-6) exact++;
  }
  return { maxAbs, meanAbs: sum / golden.length, exact: exact / golden.length };
}
