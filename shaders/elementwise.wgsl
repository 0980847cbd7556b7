// Elementwise arithmetic on f32 vectors: out = a OP b (OP: add, mul) or out = a * scale, with
// optional broadcast of b over rows (b has `b_len` elements and is indexed by i % b_len).
//
// Bindings (group 0): params (uniform Params), a (read), b (read), out (read_write).
// Params: n = element count, b_len = length of b (n for no broadcast), scale = multiplier,
// a_offset / out_offset = element offsets into a and out (used by `copy`, which moves n elements
// between arbitrary element offsets, e.g. one token's row out of a [T, D] buffer).
// Grid: 1-D over n in workgroups of WG, folded into 2-D when it exceeds the per-dimension limit.
// In-place use (out aliasing a) is allowed with the `_inplace` entry points.

struct Params {
  n: u32,
  b_len: u32,
  scale: f32,
  a_offset: u32,
  out_offset: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

override WG: u32 = 256;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> acc: array<f32>;

fn index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WG + lid;
}

@compute @workgroup_size(WG)
fn add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= params.n) { return; }
  out[i] = (a[i] + b[i % params.b_len]) * params.scale;
}

@compute @workgroup_size(WG)
fn mul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= params.n) { return; }
  out[i] = a[i] * b[i % params.b_len] * params.scale;
}

@compute @workgroup_size(WG)
fn scale(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= params.n) { return; }
  out[i] = a[i] * params.scale;
}

// acc += b * scale (accumulate into an existing buffer, e.g. a residual stream).
@compute @workgroup_size(WG)
fn add_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= params.n) { return; }
  acc[i] = acc[i] + b[i % params.b_len] * params.scale;
}

// out[out_offset + i] = a[a_offset + i] * scale.
@compute @workgroup_size(WG)
fn copy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= params.n) { return; }
  out[params.out_offset + i] = a[params.a_offset + i] * params.scale;
}
