import { describe, expect, it } from 'vitest';
import { defineKernel, expandWgsl, packParams } from '../src/index.ts';

const helpers = `const K = 2u;\nfn twice(v: f32) -> f32 {\n  return v * f32(K);\n}\n`;

const source = `struct Params {
  n: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> io: array<f32>;
// #include "helpers.wgsl"

fn same(v: f32) -> f32 {
  return v;
}

// #variant scale_inplace of scale: x=io out=io
// #variant copy of scale: twice=same

@compute @workgroup_size(64)
fn scale(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= params.n) { return; }
  out[gid.x] = twice(x[gid.x]);
}
`;

describe('WGSL include/variant step', () => {
  it('replaces #include lines with the file and appends each #variant with its identifiers renamed', () => {
    const out = expandWgsl(source, { 'helpers.wgsl': helpers });
    expect(out).toContain('fn twice(v: f32) -> f32');
    expect(out).not.toMatch(/#include/);
    expect(out).toContain('fn scale_inplace(@builtin(global_invocation_id) gid: vec3<u32>) {\n  if (gid.x >= params.n) { return; }\n  io[gid.x] = twice(io[gid.x]);\n}');
    expect(out).toContain('fn copy(@builtin(global_invocation_id) gid: vec3<u32>) {\n  if (gid.x >= params.n) { return; }\n  out[gid.x] = same(x[gid.x]);\n}');
    expect(out.match(/@compute @workgroup_size\(64\)/g)).toHaveLength(3);
    expect(expandWgsl(out, { 'helpers.wgsl': helpers })).toBe(out);
  });

  it('leaves a source without directives as it is, and names a missing include or base', () => {
    expect(expandWgsl(helpers)).toBe(helpers);
    expect(() => expandWgsl(source)).toThrow(/#include "helpers.wgsl"/);
    expect(() => expandWgsl('// #variant b of a: x=y\nfn c() {}\n')).toThrow(/no function 'a'/);
  });

  it('defineKernel reflects the expanded variants, and the packer fills _pad members', () => {
    const k = defineKernel('demo', source, 'scale_inplace', {}, { 'helpers.wgsl': helpers });
    expect([...k.bindings.keys()].sort()).toEqual(['io', 'params']);
    const plain = defineKernel('demo', source, 'scale', {}, { 'helpers.wgsl': helpers });
    expect([...plain.bindings.keys()].sort()).toEqual(['out', 'params', 'x']);
    expect(k.params?.fields.map((f) => f.name)).toEqual(['n', '_pad0', '_pad1', '_pad2']);
    const view = packParams(k, { n: 5 });
    expect([0, 4, 8, 12].map((o) => view.getUint32(o, true))).toEqual([5, 0, 0, 0]);
    expect(() => packParams(k, {})).toThrow(/param 'n' missing/);
  });
});
