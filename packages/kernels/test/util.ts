import { requestNodeGpu } from '@g3n/gpu/node';
import type { Gpu, GpuOptions } from '@g3n/gpu';

let shared: Promise<Gpu> | null = null;

/** One software-adapter device per test worker. */
export function testGpu(): Promise<Gpu> {
  shared ??= requestNodeGpu();
  return shared;
}

export function freshGpu(options: Omit<GpuOptions, 'gpu'> = {}): Promise<Gpu> {
  return requestNodeGpu(options);
}

/** Deterministic normal-ish random numbers (mulberry32 + Box-Muller). */
export function randn(n: number, seed: number, std = 1): Float32Array {
  let s = seed >>> 0;
  const rand = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(rand(), 1e-12);
    out[i] = std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  }
  return out;
}

export interface Tolerance {
  atol: number;
  rtol: number;
}

/**
 * Element-wise |a - e| <= atol + rtol * |e|. Throws with the first mismatches (index, got,
 * expected) and the worst error, so a failing kernel test says where it went wrong.
 */
export function expectClose(label: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance): void {
  if (actual.length !== expected.length) throw new Error(`${label}: length ${actual.length} != expected ${expected.length}`);
  const bad: string[] = [];
  let nBad = 0;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const err = Math.abs(a - e);
    if (!(err <= tol.atol + tol.rtol * Math.abs(e))) {
      nBad++;
      if (bad.length < 8) bad.push(`[${i}] got ${a} expected ${e} (err ${err.toExponential(2)})`);
    }
    if (Number.isFinite(err)) worst = Math.max(worst, err);
    else worst = Infinity;
  }
  if (nBad > 0) {
    throw new Error(`${label}: ${nBad}/${expected.length} mismatches (atol ${tol.atol}, rtol ${tol.rtol}, max err ${worst.toExponential(2)})\n  ${bad.join('\n  ')}`);
  }
}

export async function releaseTestGpu(): Promise<void> {
  if (!shared) return;
  const gpu = await shared;
  shared = null;
  await gpu.device.queue.onSubmittedWorkDone();
  gpu.destroy();
}
