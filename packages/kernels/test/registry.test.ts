import { describe, expect, it } from 'vitest';
import { packParams, reflectParams, type Kernel } from '@g3n/gpu';
import * as kernels from '../src/index.ts';
import { testGpu } from './util.ts';

/** Every kernel variant the library declares, from the `<family>Kernels` exports. */
function allKernels(): Kernel[] {
  const out: Kernel[] = [];
  for (const [name, value] of Object.entries(kernels)) {
    if (!name.endsWith('Kernels') || typeof value !== 'object' || value === null) continue;
    for (const k of Object.values(value as Record<string, unknown>)) {
      if (k && typeof k === 'object' && 'key' in k && 'source' in k) out.push(k as Kernel);
    }
  }
  return out;
}

const needsSubgroups = (k: Kernel) => /enable\s+subgroups/.test(k.source);

describe('kernel registry', () => {
  const all = allKernels();

  it('declares kernels of every family', () => {
    const families = new Set(all.map((k) => k.family));
    for (const f of ['elementwise', 'altup', 'matmul', 'matvec', 'rms_norm', 'rope', 'activation', 'embedding', 'attention', 'kv_cache', 'sample']) {
      expect(families, `family ${f}`).toContain(f);
    }
  });

  it('packs every params struct exactly as WGSL lays it out', () => {
    for (const k of all) {
      if (!k.params) continue;
      const layout = reflectParams(k.source)!;
      expect(layout.size % 16, `${k.key}: struct size`).toBe(0);
      const seen = new Set<number>();
      for (const f of layout.fields) {
        for (let c = 0; c < f.components; c++) {
          const at = f.offset + 4 * c;
          expect(seen.has(at), `${k.key}: ${f.name} overlaps`).toBe(false);
          seen.add(at);
        }
      }
      // Write a distinct value into every member and read it back at the reflected offset.
      const values = Object.fromEntries(layout.fields.map((f, i) => [f.name, f.components === 1 ? i + 1 : Array.from({ length: f.components }, (_, c) => i + 1 + c)]));
      const view = packParams(k, values);
      expect(view.byteLength).toBe(layout.size);
      layout.fields.forEach((f, i) => {
        const read = f.kind === 'f32' ? view.getFloat32(f.offset, true) : f.kind === 'u32' ? view.getUint32(f.offset, true) : view.getInt32(f.offset, true);
        expect(read, `${k.key}: ${f.name}`).toBe(i + 1);
      });
      expect(() => packParams(k, { ...values, not_a_member: 1 })).toThrow(/unknown param/);
    }
  });

  it('compiles every declared pipeline variant', async () => {
    const gpu = await testGpu();
    const core = all.filter((k) => !needsSubgroups(k));
    await gpu.pipelines.prepare(core);
    for (const k of core) expect(gpu.pipelines.has(k), k.key).toBe(true);
  }, 300_000);

  it('compiles every subgroup variant where the adapter has subgroups', async (ctx) => {
    const gpu = await testGpu();
    if (!gpu.caps.features.subgroups) ctx.skip(true, 'adapter lacks the subgroups feature');
    const sub = all.filter(needsSubgroups);
    await gpu.pipelines.prepare(sub);
    for (const k of sub) expect(gpu.pipelines.has(k), k.key).toBe(true);
  });
});
