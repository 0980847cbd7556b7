// RMSNorm over the last axis of a row-major [rows, cols] f32 tensor (Gemma 3n: weight used as-is,
// no 1 + w offset):
//   out[r, j] = x[r, j] / sqrt(mean_j(x[r, :]^2) + eps) * weight[j] * scale
// One workgroup per row. Each invocation sums the squares of a strided slice of the row in f32,
// the workgroup adds the WG partial sums in a shared-memory tree, then every invocation scales its
// slice. The `_noweight` entry points multiply by 1 instead of a weight (v_norm, scale-free norms);
// the `_inplace` ones read and write `io`. The file holds the one body, rms_norm; the other entry
// points are its variants (the #variant lines below, expanded by defineKernel: packages/gpu/src/
// wgsl-source.ts).
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
//
// Narrow rows (the vision tower's channels-last maps: 8 to 64 channels over thousands of pixels) run
// `rms_norm_rows` and its variants instead: one invocation per row, which sums the squares of its row
// sequentially and then scales it; no shared memory, no barrier, no idle invocations. Grid:
// ceil(rows / WG) workgroups, folded the same way; invocation lid of workgroup b owns row b * WG + lid.

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

// #include "workgroup_sum.wgsl"

fn inv_rms(sum_sq: f32) -> f32 {
  return inverseSqrt(sum_sq / f32(params.cols) + params.eps);
}

fn weight_at(j: u32) -> f32 {
  return weight[j];
}

fn no_weight(j: u32) -> f32 {
  return 1.0;
}

// #variant rms_norm_noweight of rms_norm: weight_at=no_weight
// #variant rms_norm_inplace of rms_norm: x=io out=io
// #variant rms_norm_inplace_noweight of rms_norm: x=io out=io weight_at=no_weight
// #variant rms_norm_rows_noweight of rms_norm_rows: weight_at=no_weight
// #variant rms_norm_rows_inplace of rms_norm_rows: x=io out=io
// #variant rms_norm_rows_inplace_noweight of rms_norm_rows: x=io out=io weight_at=no_weight

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
    out[base + j] = x[base + j] * inv * weight_at(j) * params.scale;
  }
}

@compute @workgroup_size(WG)
fn rms_norm_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * WG + lid;
  if (row >= params.rows) { return; }
  let base = row * params.cols;
  var ss = 0.0;
  for (var j = 0u; j < params.cols; j++) {
    let v = x[base + j];
    ss += v * v;
  }
  let inv = inv_rms(ss);
  for (var j = 0u; j < params.cols; j++) {
    out[base + j] = x[base + j] * inv * weight_at(j) * params.scale;
  }
}
