import { describe, expect, it } from 'vitest';
import { createTensor, readF32, runOnce, ShapeError, tensorFromF32, writeTensor, type Gpu } from '@g3n/gpu';
import {
  fftTwiddles, frameCount, logmelKernels, melBands, melFilterbank, melLog, melStats, melWeights, periodicHann, spectrum, type PreemphasisMode,
} from '../src/logmel.ts';
import { logMelRef, melRef, spectrumRef } from '../src/ref/logmel.ts';
import { expectClose, randn, testGpu } from './util.ts';

function u32Tensor(gpu: Gpu, label: string, data: Uint32Array) {
  const t = createTensor(gpu, label, 'u32', [data.length]);
  writeTensor(gpu, t, data);
  return t;
}

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
    const bands = melBands(mel, 513, 128);
    expect([bands[0], bands[1]]).toEqual([9, 10]); // mel bin 0: only frequency bin 9 is nonzero
    expect([bands[254], bands[255]]).toEqual([468, 487]);
    for (let m = 0; m < 128; m++) {
      for (let k = 0; k < 513; k++) if (mel[k * 128 + m] !== 0) expect(k >= bands[2 * m] && k < bands[2 * m + 1]).toBe(true);
    }
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

  it('frames -> spectrum -> mel + log (two dispatch pairs into one output) equals the f64 pipeline, with per-bin normalisation', async () => {
    const gpu = await testGpu();
    const n = 3200, clips = 2, nMels = 128, binStride = 516, frames = frameCount(n, 512, 160);
    const rows = clips * frames;
    const wave = randn(clips * n, 11, 0.1);
    wave.fill(0, n + 700); // clip 1 turns silent: log-mel floor rows
    const window = periodicHann(512);
    const filters = melFilterbank(513, 125, 7600, nMels, 16000, 1024);
    const mean = Array.from({ length: nMels }, (_, j) => -3 + j / 64);
    const std = Array.from({ length: nMels }, (_, j) => 1 + j / 100);
    const chunk = 23; // rows per dispatch pair: the second pair writes rows 23.. of the same output
    const mag = createTensor(gpu, 'mag', 'f32', [chunk, binStride]);
    const out = createTensor(gpu, 'features', 'f32', [rows, nMels]);
    const w = tensorFromF32(gpu, 'mel', [nMels, binStride], melWeights(filters, 513, nMels, binStride));
    const bands = u32Tensor(gpu, 'bands', melBands(filters, 513, nMels));
    const stats = tensorFromF32(gpu, 'stats', [2, nMels], melStats(nMels, mean, std));
    const opts = { waveStride: n, frames, frame0: 0, rows, hop: 160, frameLength: 512, fftLength: 1024, preemphasis: 0.97, mode: 'htk' as const };
    const tw = tensorFromF32(gpu, 'wave', [clips, n], wave);
    const twin = tensorFromF32(gpu, 'window', [512], window);
    const ttw = tensorFromF32(gpu, 'tw', [512, 4], fftTwiddles(1024));
    await runOnce(gpu, 'logmel', [0, chunk].flatMap((frame0) => {
      const r = frame0 === 0 ? chunk : rows - chunk;
      return [
        spectrum(gpu, { ...opts, frame0, rows: r, wave: tw, window: twin, twiddle: ttw, mag, binStride }),
        melLog(gpu, { mag, filters: w, bands, stats, out, rows: r, frame0, featureSize: nMels, binStride, melFloor: 1e-5 }),
      ];
    }));
    const expected = logMelRef(melRef(spectrumRef(wave, window, opts), rows, filters, 513, nMels), nMels, 1e-5, mean, std);
    const got = await readF32(gpu, out);
    // Mel energies carry f32 relative error ~1e-7 (a double-f32 spectrum, positive f32 sums): log-mel ~1e-6.
    expectClose('log-mel', got, expected, { atol: 1e-5, rtol: 1e-6 });
    const silentRow = (frames + 8) * nMels;
    expectClose('silent rows sit at the floor', got.subarray(silentRow, silentRow + nMels), logMelRef(new Float64Array(nMels), nMels, 1e-5, mean, std), { atol: 1e-5, rtol: 0 });
  });

  it('folds the grid past the per-dimension workgroup limit', async () => {
    // The dispatches are planned as for a device whose per-dimension limit is 3 and run on the shared
    // device (whose pipelines are compiled already): the shaders see the same 2-D grid.
    const gpu = await testGpu();
    const small = { ...gpu, caps: { ...gpu.caps, limits: { ...gpu.caps.limits, maxComputeWorkgroupsPerDimension: 3 } } };
    const n = 30, frames = frameCount(n, 5, 3), fftLength = 8, binStride = 5;
    const wave = randn(n, 5);
    const window = periodicHann(5);
    const mag = createTensor(gpu, 'mag', 'f32', [frames, binStride]);
    const opts = { waveStride: n, frames, frame0: 0, rows: frames, hop: 3, frameLength: 5, fftLength, preemphasis: 0.97, mode: 'htk' as const };
    const d = spectrum(small, { ...opts, wave: tensorFromF32(gpu, 'w', [n], wave), window: tensorFromF32(gpu, 'win', [5], window), twiddle: tensorFromF32(gpu, 'tw', [4, 4], fftTwiddles(8)), mag, binStride });
    // 200 rows of 10 "mel bins", each the sum of bins [m / 2, m / 2 + 3) of 13 with weight 1.
    const mrows = 200, F = 10, stride = 13;
    const x = new Float32Array(mrows * stride).map((_, i) => (i % 7) * 1e-6 + i / 100);
    const filt = new Float32Array(F * stride);
    const bandsData = new Uint32Array(2 * F);
    for (let m = 0; m < F; m++) {
      bandsData.set([m >> 1, (m >> 1) + 3], 2 * m);
      filt.fill(1, m * stride + (m >> 1), m * stride + (m >> 1) + 3);
    }
    const t = createTensor(gpu, 'out', 'f32', [mrows, F]);
    const l = melLog(small, { mag: tensorFromF32(gpu, 'x', [mrows, stride], x), filters: tensorFromF32(gpu, 'f', [F, stride], filt), bands: u32Tensor(gpu, 'b', bandsData), stats: tensorFromF32(gpu, 's', [20], melStats(F)), out: t, rows: mrows, frame0: 0, featureSize: F, binStride: stride, melFloor: 1e-5 });
    const mels = new Float64Array(mrows * F).map((_, i) => { const r = Math.floor(i / F), m = i % F; let v = 0; for (let k = m >> 1; k < (m >> 1) + 3; k++) v += x[r * stride + k]; return v; });
    expect(d.workgroups).toEqual([3, 3, 1]);
    expect(l.workgroups).toEqual([3, 3, 1]);
    await runOnce(gpu, 'fold', [d, l]);
    expectClose('spectrum folded', await readF32(gpu, mag), spectrumRef(wave, window, opts), { atol: 1e-5, rtol: 1e-5 });
    expectClose('mel + log folded', await readF32(gpu, t), logMelRef(mels, F, 1e-5), { atol: 1e-6, rtol: 1e-6 });
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
    const filters = createTensor(gpu, 'filters', 'f32', [128, 516]);
    const bands = createTensor(gpu, 'bands', 'u32', [256]);
    const out = createTensor(gpu, 'out', 'f32', [4, 128]);
    const mel = { mag, filters, bands, stats: window, out, rows: 4, frame0: 0, featureSize: 128, binStride: 516, melFloor: 1e-5 };
    expect(() => melLog(gpu, mel)).not.toThrow();
    expect(() => melLog(gpu, { ...mel, melFloor: 0 })).toThrow(ShapeError);
    expect(() => melLog(gpu, { ...mel, frame0: 1 })).toThrow(ShapeError); // out holds 4 rows
    expect(() => melLog(gpu, { ...mel, bands: filters })).toThrow(/u32/);
    expect(() => melLog(gpu, { ...mel, featureSize: 300 })).toThrow(ShapeError);
    expect(() => melLog(gpu, { ...mel, out: mag })).toThrow(ShapeError);
  });
});
