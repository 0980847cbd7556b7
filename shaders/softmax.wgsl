// Softmax over the last axis of a row-major [rows, cols] f32 tensor, in place, with a factor on the
// logits (the attention scale 1 / sqrt(key_dim) when the scores come from a plain GEMM):
//   io[r, j] = exp(scale * (io[r, j] - max_j io[r, :])) / sum_j exp(scale * (io[r, j] - max_j io[r, :]))
// (scale > 0, so the row's largest logit is also its largest scaled logit.)
//
// Algorithm: one invocation per row, three sequential passes over it: the max, the exponentials
// (written back) with their f32 sum, then the division. No shared memory and no barriers: the rows are
// many (queries x heads of the vision tower's attention, thousands) and short (the keys, hundreds).
//
// Bindings (group 0):
//   0 params  uniform Params
//   1 io      storage, read_write  [rows * cols] logits in, probabilities out
// Params: rows, cols (>= 1), scale (> 0).
// Grid: ceil(rows / WG) workgroups, folded into 2-D past the per-dimension limit (linear index
// wid.x + wid.y * nwg.x); invocation lid of workgroup b owns row b * WG + lid, rows past `rows` return.

struct Params {
  rows: u32,
  cols: u32,
  scale: f32,
  _pad0: u32,
}

override WG: u32 = 64;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> io: array<f32>;

@compute @workgroup_size(WG)
fn softmax_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * WG + lid;
  if (row >= params.rows) { return; }
  let base = row * params.cols;
  var m = io[base];
  for (var j = 1u; j < params.cols; j++) {
    m = max(m, io[base + j]);
  }
  var l = 0.0;
  for (var j = 0u; j < params.cols; j++) {
    let p = exp(params.scale * (io[base + j] - m));
    io[base + j] = p;
    l += p;
  }
  let inv = 1.0 / l;
  for (var j = 0u; j < params.cols; j++) {
    io[base + j] = io[base + j] * inv;
  }
}
