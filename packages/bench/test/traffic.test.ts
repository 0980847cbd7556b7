import { describe, expect, it } from 'vitest';
import type { RecordedBindGroup } from '../src/counters.ts';
import { parentConfig, syntheticConfig } from '../src/synthetic.ts';
import { decodeWeightBytesMin, planWeightBytes } from '../src/traffic.ts';

/** Spec §9, per-step totals of the q8 / q4 group-32 formats and bf16, in GB. */
const SPEC_PER_STEP = [
  { model: 'E2B', format: 'q4', gb: 1.362 },
  { model: 'E2B', format: 'q8', gb: 2.573 },
  { model: 'E2B', format: 'bf16', gb: 4.844 },
  { model: 'E4B', format: 'q4', gb: 2.524 },
  { model: 'E4B', format: 'q8', gb: 4.767 },
  { model: 'E4B', format: 'bf16', gb: 8.973 },
] as const;

describe('synthetic configurations', () => {
  it('E2B and E4B have the shapes of spec §1.1', () => {
    const e2b = syntheticConfig('E2B').text;
    const e4b = syntheticConfig('E4B').text;
    expect([e2b.numLayers, e2b.intermediateSize[0], e2b.numKvSharedLayers, e2b.hiddenSize, e2b.vocabSize]).toEqual([30, 8192, 10, 2048, 262_400]);
    expect([e4b.numLayers, e4b.intermediateSize[34], e4b.numKvSharedLayers, e4b.kvSource[34]]).toEqual([35, 16_384, 15, 19]);
    expect(e2b.activationSparsity.filter((s) => s > 0)).toHaveLength(10);
  });

  it('a scaled configuration divides every width and keeps the layer structure', () => {
    const c = syntheticConfig('E2B', 8).text;
    expect([c.hiddenSize, c.headDim, c.intermediateSize[0], c.hiddenSizePerLayerInput, c.laurelRank, c.slidingWindow, c.vocabSize]).toEqual([256, 32, 1024, 32, 8, 64, 32_800]);
    expect(c.numLayers).toBe(30);
    expect(syntheticConfig('E2.98B (block-level)', 16).text.intermediateSize.filter((w) => w === 1024)).toHaveLength(15);
    expect(() => parentConfig(3)).toThrow(/scale/);
    expect(() => syntheticConfig('E9B')).toThrow(/no published/);
  });
});

describe('decode weight bytes', () => {
  for (const { model, format, gb } of SPEC_PER_STEP) {
    it(`${model} ${format}: the minimum matches spec §9 (${gb} GB)`, () => {
      const bytes = decodeWeightBytesMin(syntheticConfig(model), format);
      expect(Math.abs(bytes / 1e9 - gb) / gb).toBeLessThan(0.002);
    });
  }

  it('a plan counts bound weight ranges whole, a gather one row per table, a double binding once', () => {
    const buf = (label: string, size: number) => ({ label, size }) as unknown as GPUBuffer;
    const w = buf('w', 1000);
    const ws = buf('w.scales', 100);
    const tableA = buf('embed[0:10]', 400);
    const tableB = buf('embed[10:20]', 400);
    const act = buf('ws.x', 64);
    const buffers = new Map([
      [w, { name: 'w', rowBytes: 10 }],
      [ws, { name: 'w.scales', rowBytes: 1 }],
      [tableA, { name: 'embed', rowBytes: 40 }],
      [tableB, { name: 'embed', rowBytes: 40 }],
    ]);
    const e = (buffer: GPUBuffer, size: number) => ({ buffer, offset: 0, size });
    const plan: RecordedBindGroup[] = [
      { label: 'matvec/matvec{DTYPE=1}', entries: [e(act, 64), e(w, 1000), e(w, 1000), e(act, 64)] },
      { label: 'matvec/matvec{DTYPE=4}', entries: [e(w, 1000), e(ws, 100)] },
      { label: 'embedding/embed_q4{WG=256}', entries: [e(tableA, 400), e(act, 64)] },
      { label: 'embedding/embed_q4{WG=256}', entries: [e(tableB, 400), e(act, 64)] },
    ];
    expect(planWeightBytes(plan, buffers)).toBe(1000 + 1000 + 100 + 40);
  });
});
