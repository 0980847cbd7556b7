// RMSNorm over the last axis of a row-major [rows, cols] f32 tensor (Gemma 3n: weight used as-is,
// no 1 + w offset):
//   out[r, j] = x[r, j] / sqrt(mean_j(x[r, :]^2) + eps) * weight[j] * scale
// One workgroup per row. Each invocation sums the squares of a strided slice of the row in f32,
// the workgroup adds the WG partial sums in a shared-memory tree, then every invocation scales its
// slice. The `_noweight` entry points multiply by 1 instead of a weight (v_norm, scale-free norms).
//
// Bindings (group 0):
//   0 params  uniform Params
//   1 x       storage, read        [rows * cols] input
//   2 weight  storage, read        [cols]
//   3 out     storage, read_write  [rows * cols] output (in another buffer than x and weight)
//   4 io      storage, read_write  [rows * cols] input and output of the `_inplace` entry points
// Params: rows, cols (any size >= 1), eps, scale (1, or 1/hidden for the AltUp router norm).
// Grid: one workgroup per row, folded into 2-D past the per-dimension limit; the row is
// wid.x + wid.y * nwg.x and workgroups past `rows` return (a workgroup-uniform early exit).
// Assumes WG is a power of two.

struct Params {
  rows: u32,
  cols: u32,
  eps: f32,
  scale: f32,
}

override WG: u32 = 256;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> io: array<f32>;

var<workgroup> partial: array<f32, WG>;

// Sum of `v` over the workgroup, returned to every invocation (call from uniform control flow).
fn workgroup_sum(v: f32, lid: u32) -> f32 {
  partial[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      partial[lid] = partial[lid] + partial[lid + s];
    }
    workgroupBarrier();
  }
  return workgroupUniformLoad(&partial[0]);
}

fn inv_rms(sum_sq: f32) -> f32 {
  return inverseSqrt(sum_sq / f32(params.cols) + params.eps);
}

@compute @workgroup_size(WG)
fn rms_norm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= params.rows) { return; }
  let base = row * params.cols;
  var ss = 0.0;
  for (var j = lid; j < params.cols; j += WG) {
    let v = x[base + j];
    ss += v * v;
  }
  let inv = inv_rms(workgroup_sum(ss, lid));
  for (var j = lid; j < params.cols; j += WG) {
    out[base + j] = x[base + j] * inv * weight[j] * params.scale;
  }
}

@compute @workgroup_size(WG)
fn rms_norm_noweight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= params.rows) { return; }
  let base = row * params.cols;
  var ss = 0.0;
  for (var j = lid; j < params.cols; j += WG) {
    let v = x[base + j];
    ss += v * v;
  }
  let inv = inv_rms(workgroup_sum(ss, lid));
  for (var j = lid; j < params.cols; j += WG) {
    out[base + j] = x[base + j] * inv * params.scale;
  }
}

@compute @workgroup_size(WG)
fn rms_norm_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= params.rows) { return; }
  let base = row * params.cols;
  var ss = 0.0;
  for (var j = lid; j < params.cols; j += WG) {
    let v = io[base + j];
    ss += v * v;
  }
  let inv = inv_rms(workgroup_sum(ss, lid));
  for (var j = lid; j < params.cols; j += WG) {
    io[base + j] = io[base + j] * inv * weight[j] * params.scale;
  }
}

@compute @workgroup_size(WG)
fn rms_norm_inplace_noweight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= params.rows) { return; }
  let base = row * params.cols;
  var ss = 0.0;
  for (var j = lid; j < params.cols; j += WG) {
    let v = io[base + j];
    ss += v * v;
  }
  let inv = inv_rms(workgroup_sum(ss, lid));
  for (var j = lid; j < params.cols; j += WG) {
    io[base + j] = io[base + j] * inv * params.scale;
  }
}
