// Row selection by a frame mask (audio encoder: padded frames, time reduction, soft-token padding).
//   gather_rows:       out[(out_row0 + r) * cols + j] = mask[r * stride] != 0 ? x[r * stride * cols + j] : 0
//                      for r < rows (time reduction keeps every stride-th frame; stride 1 copies and masks)
//   mask_rows_inplace: io[r * cols + j] = mask[r] != 0 ? io[r * cols + j] : 0
//   fill_masked_rows:  io[r * cols + j] = mask[r] != 0 ? io[r * cols + j] : fill[j]
// A masked value is replaced by select(), never multiplied by 0, so inf or NaN in a padded row does
// not leak.
//
// Bindings (group 0):
//   0 params  uniform Params
//   1 x       storage, read        source rows [.., cols]
//   2 mask    storage, read        u32 per source row, nonzero = keep
//   3 fill    storage, read        [cols] replacement row
//   4 out     storage, read_write  destination rows (in another buffer than x)
//   5 io      storage, read_write  rows changed in place
// Params: rows (output rows), cols, stride (source rows per output row), out_row0 (first output row).
// Grid: 1-D over rows * cols in workgroups of WG, folded into 2-D past the per-dimension limit.

struct Params {
  rows: u32,
  cols: u32,
  stride: u32,
  out_row0: u32,
}

override WG: u32 = 256;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mask: array<u32>;
@group(0) @binding(3) var<storage, read> fill: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> io: array<f32>;

fn linear_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WG + lid;
}

@compute @workgroup_size(WG)
fn gather_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= params.rows * params.cols) { return; }
  let r = i / params.cols;
  let j = i % params.cols;
  let src = r * params.stride;
  out[(params.out_row0 + r) * params.cols + j] = select(0.0, x[src * params.cols + j], mask[src] != 0u);
}

@compute @workgroup_size(WG)
fn mask_rows_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= params.rows * params.cols) { return; }
  io[i] = select(0.0, io[i], mask[i / params.cols] != 0u);
}

@compute @workgroup_size(WG)
fn fill_masked_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= params.rows * params.cols) { return; }
  io[i] = select(fill[i % params.cols], io[i], mask[i / params.cols] != 0u);
}
