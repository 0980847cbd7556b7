import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
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

/**
 * The kernel families of this package: the WGSL files in shaders/ with a compute entry point (the others
 * are include-only) that a module of packages/kernels/src imports, with their text up to the first
 * include/variant line (what every kernel compiled from the file starts with). Every such file anywhere in
 * the repository must be imported by some package's module, so a new family cannot go unchecked.
 */
function shaderFamilies(): { families: Array<{ file: string; head: string }>; orphans: string[] } {
  const root = join(import.meta.dirname, '../../..');
  const dir = join(root, 'shaders');
  const files = readdirSync(dir).filter((f) => f.endsWith('.wgsl') && /@compute/.test(readFileSync(join(dir, f), 'utf8')));
  const importsOf = (pkg: string) =>
    readdirSync(join(root, 'packages', pkg, 'src'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .map((f) => readFileSync(join(root, 'packages', pkg, 'src', f), 'utf8'))
      .join('\n');
  const kernels = importsOf('kernels');
  const all = readdirSync(join(root, 'packages')).map(importsOf).join('\n');
  const imported = (text: string, f: string) => text.includes(`shaders/${f}?raw`);
  return {
    families: files.filter((f) => imported(kernels, f)).map((file) => ({ file, head: readFileSync(join(dir, file), 'utf8').split(/^[ \t]*\/\/[ \t]*#(?:include|variant)/m)[0] })),
    orphans: files.filter((f) => !imported(all, f)),
  };
}

describe('kernel registry', () => {
  const all = allKernels();

  it('declares kernels of every family in shaders/', () => {
    const shaders = shaderFamilies();
    expect(shaders.orphans, 'shaders with compute entry points that no package imports').toEqual([]);
    expect(shaders.families.length).toBeGreaterThan(10);
    for (const { file, head } of shaders.families) {
      expect(all.some((k) => k.source.startsWith(head)), `shaders/${file} has no kernel exported from a <family>Kernels object`).toBe(true);
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
