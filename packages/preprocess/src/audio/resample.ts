/**
 * Sample-rate conversion of mono f32 PCM by a rational factor L / M (the rates over their gcd) with a
 * polyphase windowed-sinc FIR: output sample n sits at input time n M / L; its value is the sum of the
 * 2W input samples around that time weighted by one of L precomputed phases of the filter.
 *
 * Filter: low-pass at 0.95 of the lower Nyquist frequency (7.6 kHz for 16 kHz output: the top of the
 * mel filters), Kaiser window for ~90 dB stopband attenuation, transition band 0.9 .. 1.0 of the lower
 * Nyquist, each phase normalised to unit DC gain. 48 kHz to 16 kHz is a plain 3:1 decimation (one
 * phase), 44.1 kHz to 16 kHz uses 160 phases. Samples outside the input count as 0; the output has
 * ceil(n L / M) samples, aligned with the input (no delay). Plain TypeScript: runs in a Worker.
 */
import { AudioError } from '../errors.ts';

/** The rate of Gemma 3n's audio features. */
export const AUDIO_SAMPLE_RATE = 16000;

const ATTENUATION_DB = 90;
const CUTOFF = 0.95;
const TRANSITION = 0.1;

export interface PolyphaseFilter {
  /** Up and down factors: output rate / input rate = up / down. */
  up: number;
  down: number;
  /** Taps per phase (2 W). */
  taps: number;
  /** [up, taps]: phase p weights input samples k0 - W + 1 .. k0 + W for an output at k0 + p / up. */
  phases: Float64Array;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Modified Bessel function of the first kind, order 0 (power series; converges fast for the betas used). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  for (let k = 1; k < 200; k++) {
    term *= (x / (2 * k)) ** 2;
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

function checkRate(rate: number, what: string): void {
  if (!Number.isInteger(rate) || rate <= 0 || rate > 10_000_000) {
    throw new AudioError('sample-rate', `${what} sample rate ${rate} must be a positive whole number of Hz`, { rate });
  }
}

const filters = new Map<string, PolyphaseFilter>();

/** The polyphase filter that converts `fromRate` to `toRate` (cached per pair of rates). */
export function polyphaseFilter(fromRate: number, toRate: number): PolyphaseFilter {
  checkRate(fromRate, 'input');
  checkRate(toRate, 'output');
  const key = `${fromRate}:${toRate}`;
  const hit = filters.get(key);
  if (hit) return hit;
  const g = gcd(fromRate, toRate);
  const up = toRate / g;
  const down = fromRate / g;
  // Cycles per input sample.
  const nyquist = Math.min(fromRate, toRate) / 2;
  const fc = (CUTOFF * nyquist) / fromRate;
  const dOmega = (2 * Math.PI * TRANSITION * nyquist) / fromRate;
  const beta = 0.1102 * (ATTENUATION_DB - 8.7);
  const W = Math.ceil((ATTENUATION_DB - 8) / (2.285 * dOmega) / 2) + 1;
  const taps = 2 * W;
  const i0Beta = besselI0(beta);
  const phases = new Float64Array(up * taps);
  for (let p = 0; p < up; p++) {
    const frac = p / up;
    let sum = 0;
    for (let j = 0; j < taps; j++) {
      const d = frac + W - 1 - j; // output time minus input time, in input samples
      const r = d / W;
      const win = Math.abs(r) >= 1 ? 0 : besselI0(beta * Math.sqrt(1 - r * r)) / i0Beta;
      const x = 2 * fc * d;
      const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      const h = 2 * fc * sinc * win;
      phases[p * taps + j] = h;
      sum += h;
    }
    for (let j = 0; j < taps; j++) phases[p * taps + j] /= sum;
  }
  const f = { up, down, taps, phases };
  filters.set(key, f);
  return f;
}

/** Output samples for n input samples: ceil(n * toRate / fromRate). */
export function resampledLength(n: number, fromRate: number, toRate: number): number {
  const g = gcd(fromRate, toRate);
  const up = toRate / g;
  const down = fromRate / g;
  return Math.ceil((n * up) / down);
}

/** Convert mono samples from `fromRate` to `toRate` (default 16 kHz). Equal rates return a copy. */
export function resample(x: Float32Array, fromRate: number, toRate: number = AUDIO_SAMPLE_RATE): Float32Array {
  const f = polyphaseFilter(fromRate, toRate);
  if (f.up === 1 && f.down === 1) return x.slice();
  const { up, down, taps, phases } = f;
  const W = taps / 2;
  const n = x.length;
  const out = new Float32Array(resampledLength(n, fromRate, toRate));
  for (let i = 0; i < out.length; i++) {
    const t = i * down;
    const k0 = Math.floor(t / up);
    const p = t - k0 * up;
    const first = k0 - W + 1;
    const h = p * taps;
    const j0 = Math.max(0, -first);
    const j1 = Math.min(taps, n - first);
    let acc = 0;
    for (let j = j0; j < j1; j++) acc += x[first + j] * phases[h + j];
    out[i] = acc;
  }
  return out;
}

/** Average channels (one array per channel) to mono. */
export function mixToMono(channels: readonly Float32Array[]): Float32Array {
  if (channels.length === 0) throw new AudioError('empty', 'no audio channels');
  if (channels.length === 1) return channels[0];
  const n = channels[0].length;
  if (channels.some((c) => c.length !== n)) throw new AudioError('wav-format', 'audio channels differ in length');
  const out = new Float32Array(n);
  const inv = 1 / channels.length;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (const c of channels) s += c[i];
    out[i] = s * inv;
  }
  return out;
}
