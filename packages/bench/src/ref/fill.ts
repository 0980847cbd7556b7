/** CPU reference of shaders/fill.wgsl: the same PCG hash and value mapping, word by word. */
import { f32ToF16Bits } from '@g3n/kernels';
import { FILL_MODES, type FillMode } from '../fill.ts';

export function pcg(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> (((state >>> 28) + 4) & 31)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

const unit = (h: number): number => (h >>> 8) / 16777216;

export function fillRef(words: number, mode: FillMode, seed: number, amp: number): Uint32Array {
  const out = new Uint32Array(words);
  const f = new Float32Array(2);
  const bits = new Uint32Array(f.buffer);
  const base = pcg(seed >>> 0);
  const a = Math.fround(amp);
  for (let i = 0; i < words; i++) {
    const h = pcg((i + base) >>> 0);
    const h2 = pcg(h);
    const code = FILL_MODES[mode];
    if (code === FILL_MODES.bits) {
      out[i] = h;
      continue;
    }
    if (code === FILL_MODES.scales) {
      f[0] = a * (0.5 + 0.5 * unit(h));
      f[1] = a * (0.5 + 0.5 * unit(h2));
    } else {
      f[0] = a * (2 * unit(h) - 1);
      f[1] = a * (2 * unit(h2) - 1);
    }
    if (code === FILL_MODES.f32) out[i] = bits[0];
    else if (code === FILL_MODES.bf16) out[i] = ((bits[0] >>> 16) | (bits[1] & 0xffff0000)) >>> 0;
    else {
      const half = f32ToF16Bits(f);
      out[i] = (half[0] | (half[1] << 16)) >>> 0;
    }
  }
  return out;
}
