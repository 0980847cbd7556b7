import { describe, expect, it } from 'vitest';
import { createTensor, readF32, runOnce, ShapeError, tensorFromF32 } from '@g3n/gpu';
import {
  fftTwiddles, frameCount, logMel, logmelKernels, melFilterbank, melStats, melWeights, periodicHann, spectrum, type PreemphasisMode,
} from '../src/logmel.ts';
import { linear } from '../src/linear.ts';
import { logMelRef, melRef, spectrumRef } from '../src/ref/logmel.ts';
import { expectClose, freshGpu, randn, testGpu } from './util.ts';

interface Case {
  fftLength: number;
  frameLength: number;
  hop: number;
  mode: PreemphasisMode;
  clips: number;
  /** Samples per clip (the padded length). */
  n: number;
  binStride: number;
  /** Rows computed by each of two dispatches ([frame0, rows] chunks); undefined: all rows at once. */
  split?: number;
  inputScale?: number;
}

const CASES: Case[] = [
  { fftLength: 1024, frameLength: 512, hop: 160, mode: 'htk', clips: 2, n: 2048, binStride: 516 },
  { fftLength: 1024, frameLength: 512, hop: 160, mode: 'htk', clips: 3, n: 1537, binStride: 516, split: 5 },
  { fftLength: 512, frameLength: 400, hop: 161, mode: 'plain', clips: 1, n: 1999, binStride: 257, inputScale: 0.5 },
  { fftLength: 1024, frameLength: 1024, hop: 512, mode: 'none', clips: 2, n: 2049, binStride: 513 },
  { fftLength: 8, frameLength: 5, hop: 3, mode: 'htk', clips: 3, n: 31, binStride: 7 },
  { fftLength: 2, frameLength: 1, hop: 1, mode: 'plain', clips: 1, n: 9, binStride: 2 },
];

describe('logmel', () => {
  it('compiles every variant', async () => {
    const gpu = await testGpu();
    await gpu.pipelines.prepare(Object.values(logmelKernels));
    for (const k of Object.values(logmelKernels)) expect(gpu.pipelines.has(k)).toBe(true);
  });

  it('tables match the HF extractor (mel filters, periodic Hann) and the frame count', () => {
    const mel = melFilterbank(513, 125, 7600, 128, 16000, 1024);
    // Values of gemma3n_audio_ref.AudioFeatureExtractor().mel / .window (numpy).
    expect(mel.reduce((a, b) => a + b, 0)).toBeCloseTo(473.20060921584775, 10);
    expect(mel[9 * 128 + 0]).toBeCloseTo(0.9520244722882858, 12);
    expect(mel[486 * 128 + 127]).toBeCloseTo(0.04245395278242511, 12);
    expect(mel[470 * 128 + 127]).toBeCloseTo(0.24601438133212158, 12);
    expect(mel[487 * 128 + 127]).toBe(0);
    const hann = periodicHann(512);
    expect(hann[1]).toBe(Math.fround(3.764033317565918e-5));
    expect(hann[100]).toBe(Math.fround(0.3315550684928894));
    expect(hann[256]).toBe(1);
    expect(frameCount(32000, 512, 160)).toBe(197);
    expect(frameCount(513, 512, 160)).toBe(1);
    expect(frameCount(512, 512, 160)).toBe(0);
  });

  for (const c of CASES) {
    const frames = frameCount(c.n, c.frameLength, c.hop);
    const rows = c.clips * frames;
    it(`spectrum fft=${c.fftLength} frame=${c.frameLength} hop=${c.hop} ${c.mode} clips=${c.clips} frames=${frames}${c.split ? ' in two dispatches' : ''}`, async () => {
      const gpu = await testGpu();
      // A loud low tone over faint noise: quiet bins 1e-6 of the peak, where FFT rounding noise would show.
      const wave = randn(c.clips * c.n, c.fftLength + c.n, 1e-5).map((v, i) => v + 0.5 * Math.sin(0.077 * i));
      const window = periodicHann(c.frameLength);
      const tw = tensorFromF32(gpu, 'wave', [c.clips, c.n], wave);
      const twin = tensorFromF32(gpu, 'window', [c.frameLength], window);
      const ttw = tensorFromF32(gpu, 'twiddle', [c.fftLength / 2, 4], fftTwiddles(c.fftLength));
      const chunks = c.split ? [[0, c.split], [c.split, rows - c.split]] : [[0, rows]];
      const mags = chunks.map(([, r]) => createTensor(gpu, 'mag', 'f32', [r, c.binStride]));
      const common = { wave: tw, window: twin, twiddle: ttw, waveStride: c.n, frames, hop: c.hop, frameLength: c.frameLength, fftLength: c.fftLength, binStride: c.binStride, preemphasis: 0.97, mode: c.mode, inputScale: c.inputScale };
      await runOnce(gpu, 'spectrum', chunks.map(([frame0, r], i) => spectrum(gpu, { ...common, mag: mags[i], frame0, rows: r })));
      const bins = c.fftLength / 2 + 1;
      for (const [i, [frame0, r]] of chunks.entries()) {
        const got = await readF32(gpu, mags[i]);
        const expected = spectrumRef(wave, window, { ...common, frame0, rows: r });
        // Padded columns are written 0. The double-f32 FFT leaves the final f32 rounding of each bin (relative
        // ~2e-7); a plain f32 FFT would add noise of ~1e-7 of the peak to every bin, beyond atol.
        const padded = new Float64Array(r * c.binStride);
        for (let row = 0; row < r; row++) padded.set(expected.subarray(row * bins, (row + 1) * bins), row * c.binStride);
        const peak = expected.reduce((a, b) => Math.max(a, b), 0);
        expectClose(`mag rows ${frame0}+${r}`, got, padded, { atol: 1e-8 * peak, rtol: 1e-6 });
      }
    });
  }

  it('frames -> spectrum -> mel GEMM (linear) -> log-mel equals the f64 pipeline, with per-bin normalisation', async () => {
    const gpu = await testGpu();
    const n = 3200, clips = 2, nMels = 128, binStride = 516, frames = frameCount(n, 512, 160);
    const rows = clips * frames;
    const wave = randn(clips * n, 11, 0.1);
    wave.fill(0, n + 700); // clip 1 turns silent: log-mel floor rows
    const window = periodicHann(512);
    const filters = melFilterbank(513, 125, 7600, nMels, 16000, 1024);
    const mean = Array.from({ length: nMels }, (_, j) => -3 + j / 64);
    const std = Array.from({ length: nMels }, (_, j) => 1 + j / 100);
    const mag = createTensor(gpu, 'mag', 'f32', [rows, binStride]);
    const out = createTensor(gpu, 'features', 'f32', [rows, nMels]);
    const w = tensorFromF32(gpu, 'mel', [nMels, binStride], melWeights(filters, 513, nMels, binStride));
    const stats = tensorFromF32(gpu, 'stats', [2, nMels], melStats(nMels, mean, std));
    const opts = { waveStride: n, frames, frame0: 0, rows, hop: 160, frameLength: 512, fftLength: 1024, preemphasis: 0.97, mode: 'htk' as const };
    await runOnce(gpu, 'logmel', [
      spectrum(gpu, { ...opts, wave: tensorFromF32(gpu, 'wave', [clips, n], wave), window: tensorFromF32(gpu, 'window', [512], window), twiddle: tensorFromF32(gpu, 'tw', [512, 4], fftTwiddles(1024)), mag, binStride }),
      linear(gpu, { x: mag, w, out, rows }),
      logMel(gpu, { x: out, n: rows * nMels, featureSize: nMels, melFloor: 1e-5, stats }),
    ]);
    const expected = logMelRef(melRef(spectrumRef(wave, window, opts), rows, filters, 513, nMels), nMels, 1e-5, mean, std);
    const got = await readF32(gpu, out);
    // ln of a mel energy with f32 relative error ~1e-6 is accurate to ~1e-5 absolute (energies well above the floor here).
    expectClose('log-mel', got, expected, { atol: 2e-4, rtol: 1e-5 });
    const silentRow = (frames + 8) * nMels;
    expectClose('silent rows sit at the floor', got.subarray(silentRow, silentRow + nMels), logMelRef(new Float64Array(nMels), nMels, 1e-5, mean, std), { atol: 1e-5, rtol: 0 });
  });

  it('folds the grid past the per-dimension workgroup limit', async () => {
    const gpu = await freshGpu({ capLimits: { maxComputeWorkgroupsPerDimension: 3 } });
    try {
      const n = 30, frames = frameCount(n, 5, 3), fftLength = 8, binStride = 5;
      const wave = randn(n, 5);
      const window = periodicHann(5);
      const mag = createTensor(gpu, 'mag', 'f32', [frames, binStride]);
      const opts = { waveStride: n, frames, frame0: 0, rows: frames, hop: 3, frameLength: 5, fftLength, preemphasis: 0.97, mode: 'htk' as const };
      const d = spectrum(gpu, { ...opts, wave: tensorFromF32(gpu, 'w', [n], wave), window: tensorFromF32(gpu, 'win', [5], window), twiddle: tensorFromF32(gpu, 'tw', [4, 4], fftTwiddles(8)), mag, binStride });
      const x = new Float32Array(2000).map((_, i) => (i % 7) * 1e-6 + i / 100);
      const t = tensorFromF32(gpu, 'x', [2000], x);
      const l = logMel(gpu, { x: t, n: 2000, featureSize: 10, melFloor: 1e-5, stats: tensorFromF32(gpu, 's', [20], melStats(10)) });
      expect(d.workgroups).toEqual([3, 3, 1]);
      expect(l.workgroups).toEqual([3, 3, 1]);
      await runOnce(gpu, 'fold', [d, l]);
      expectClose('spectrum folded', await readF32(gpu, mag), spectrumRef(wave, window, opts), { atol: 1e-5, rtol: 1e-5 });
      expectClose('log-mel folded', await readF32(gpu, t), logMelRef(x, 10, 1e-5), { atol: 1e-6, rtol: 1e-6 });
    } finally {
      gpu.destroy();
    }
  });

  it('throws ShapeError before GPU work on bad arguments', async () => {
    const gpu = await testGpu();
    const wave = createTensor(gpu, 'wave', 'f32', [1000]);
    const window = createTensor(gpu, 'window', 'f32', [512]);
    const twiddle = createTensor(gpu, 'twiddle', 'f32', [2048]);
    const mag = createTensor(gpu, 'mag', 'f32', [4, 516]);
    const ok = { wave, window, twiddle, mag, waveStride: 1000, frames: 4, frame0: 0, rows: 4, hop: 160, frameLength: 512, fftLength: 1024, binStride: 516, preemphasis: 0.97, mode: 'htk' as const };
    expect(() => spectrum(gpu, ok)).not.toThrow();
    expect(() => spectrum(gpu, { ...ok, frames: 5 })).toThrow(ShapeError); // runs past the clip
    expect(() => spectrum(gpu, { ...ok, fftLength: 1000 })).toThrow(/power of two/);
    expect(() => spectrum(gpu, { ...ok, fftLength: 2048 })).toThrow(ShapeError);
    expect(() => spectrum(gpu, { ...ok, binStride: 512 })).toThrow(/bins/);
    expect(() => spectrum(gpu, { ...ok, rows: 5 })).toThrow(ShapeError);
    expect(() => spectrum(gpu, { ...ok, mag: wave })).toThrow(ShapeError);
    expect(() => spectrum(gpu, { ...ok, mode: 'other' as PreemphasisMode })).toThrow(ShapeError);
    expect(() => logMel(gpu, { x: mag, n: 4 * 516, featureSize: 128, melFloor: 0, stats: window })).toThrow(ShapeError);
    expect(() => logMel(gpu, { x: mag, n: 4 * 516 + 1, featureSize: 128, melFloor: 1e-5, stats: window })).toThrow(ShapeError);
    expect(() => logMel(gpu, { x: mag, n: 16, featureSize: 300, melFloor: 1e-5, stats: window })).toThrow(ShapeError);
  });
});
