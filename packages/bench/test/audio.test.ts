import { describe, expect, it } from 'vitest';
import { audioWeightTable, parseAudioConfig, parseConfig } from '@g3n/gemma3n';
import { testGpu } from '../../kernels/test/util.ts';
import { audioEncoderMacs, runAudioBench, syntheticAudioConfigJson } from '../src/audio.ts';

describe('audio encoder bench', () => {
  it('counts the spec\'s ~490 GMAC for 30 s at the published sizes (conformer ~489 G, SSCP and projection ~2 G)', () => {
    const c = parseAudioConfig(parseConfig(syntheticAudioConfigJson(1)));
    expect([c.hiddenSize, c.numLayers, c.numHeads, c.ffnSize, ...c.sscpChannels, c.textHiddenSize]).toEqual([1536, 12, 8, 6144, 128, 32, 2048]);
    const macs = audioEncoderMacs(c, 2997);
    expect(macs / 1e9).toBeGreaterThan(488);
    expect(macs / 1e9).toBeLessThan(494);
  });

  it('encodes a scaled-down clip and reports its time and rate', async () => {
    const r = await runAudioBench(await testGpu(), { scale: 32, frames: 157 });
    expect(r.hidden).toBe(48);
    expect(r.tokens).toBe(Math.ceil(Math.ceil(Math.ceil(157 / 2) / 2) / 4));
    expect(r.ms).toBeGreaterThan(0);
    expect(Number.isFinite(r.gflops_per_s) && r.gflops_per_s > 0).toBe(true);
    // the tower's bf16 matrices at least, counted at the device
    const c = parseAudioConfig(parseConfig(syntheticAudioConfigJson(32)));
    const matrices = audioWeightTable(c).filter((w) => w.role !== 'vector').reduce((n, w) => n + 2 * w.shape.reduce((a, b) => a * b, 1), 0);
    expect(r.weight_bytes).toBeGreaterThanOrEqual(matrices);
    expect(r.workspace_bytes).toBeGreaterThan(0);
  }, 300_000);
});
