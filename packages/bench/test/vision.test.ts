import { describe, expect, it } from 'vitest';
import { freshGpu } from '../../kernels/test/util.ts';
import { runVisionBench } from '../src/vision.ts';
import { parseConfig, parseVisionConfig, visionWeightTable } from '@g3n/gemma3n';
import { syntheticVisionConfigJson, visionMacs, visionTensorShapes, kindOfTensor, VISION_KINDS } from '../src/vision-shapes.ts';

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

describe('vision encoder bench: the synthetic tower', () => {
  it('has the spec\'s 294,126,912 tower parameters at scale 1, and every tensor the loader asks for', () => {
    const shapes = visionTensorShapes(1);
    let tower = 0;
    for (const [name, s] of shapes) if (name.startsWith('model.vision_tower.')) tower += numel(s);
    expect(tower).toBe(294_126_912);
    const vc = parseVisionConfig(parseConfig(syntheticVisionConfigJson(1)))!;
    const table = visionWeightTable(vc, new Map([...shapes].map(([n, shape]) => [n, { shape }])));
    expect(table.map((t) => t.name).sort()).toEqual([...shapes.keys()].sort());
    for (const name of shapes.keys()) expect(kindOfTensor(name), name).not.toBeNull();
  });

  it('counts the spec\'s ~436 GMAC for one 768 x 768 image (stage 0 ~55 G in the stem and EdgeResidual blocks)', () => {
    const m = visionMacs(visionTensorShapes(1), 768, 768);
    const total = VISION_KINDS.reduce((n, k) => n + m[k], 0);
    expect(total / 1e9).toBeGreaterThan(425);
    expect(total / 1e9).toBeLessThan(445);
    expect((m.stem + m.edge_residual) / 1e9).toBeGreaterThan(50);
    expect((m.stem + m.edge_residual) / 1e9).toBeLessThan(60);
    expect(m.msfa / 1e9).toBeGreaterThan(30);
    expect(m.msfa / 1e9).toBeLessThan(40);
  });

  it('divides every width by the scale', () => {
    const full = visionTensorShapes(1);
    const small = visionTensorShapes(16);
    expect(small.get('model.vision_tower.timm_model.blocks.3.1.attn.query.proj.weight')).toEqual([16 * 6, 80, 1, 1]);
    expect(small.get('model.embed_vision.embedding_projection.weight')).toEqual([128, 128]);
    expect([...small.keys()]).toEqual([...full.keys()]);
    expect(() => visionTensorShapes(3)).toThrow(/scale/);
  });
});

describe('vision encoder bench: a run', () => {
  it('encodes a scaled-down image: time, rate, memory and the share per block kind', async () => {
    const gpu = await freshGpu({ profile: true });
    try {
      // The one-image TTFT (a 262-token prefill of the synthetic E2B) takes minutes on the software adapter: not here.
      const r = await runVisionBench(gpu, { scale: 32, size: 64, ttft: false });
      expect(r.tokens).toBe(256);
      expect(r.ms).toBeGreaterThan(0);
      expect(Number.isFinite(r.gflops_per_s) && r.gflops_per_s > 0).toBe(true);
      // bf16 weights (2 bytes) of the tower and the projection, f32 norms and layer scales
      const shapes = visionTensorShapes(32);
      let want = 0;
      for (const s of shapes.values()) want += (s.length === 1 ? 4 : 2) * numel(s);
      expect(r.weight_bytes).toBeGreaterThanOrEqual(want);
      expect(r.weight_bytes).toBeLessThan(want + shapes.size * 256);
      expect(r.workspace_bytes).toBeGreaterThan(256 * 64 * 4);
      if (gpu.profiler) {
        expect(r.share).not.toBeNull();
        const sum = VISION_KINDS.reduce((n, k) => n + r.share![k], 0);
        expect(sum).toBeCloseTo(1, 6);
        for (const k of ['stem', 'edge_residual', 'uir_depthwise', 'uir_pointwise', 'mqa', 'msfa'] as const) expect(r.share![k], k).toBeGreaterThan(0);
      }
      expect(r.ttft).toBeNull();
    } finally {
      gpu.destroy();
    }
  }, 300_000);
});
