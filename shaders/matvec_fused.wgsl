// Matrix-vector products of one decode step, several per dispatch and with their pointwise follow-up
// fused: the q/k/v projections of a layer in one dispatch, the AltUp projections or unembeddings (up to
// three matrices, each with its own input and output), the FFN's gate and up with GeGLU, the sparse up_proj
// masked by its top-k gate with GeGLU, and the per-layer-input gate with GeGLU against its PLE row.
// The per-thread work is matvec.wgsl's (16-byte weight units, each dequantized once, f32 sums, the same
// unit_dot); the reduction is its shared-memory tree, so every sum equals matvec's.
//
// Inputs and outputs are in the decode step's two f32 arenas `a` and `b` (decode_step.wgsl), both bound
// read_write, at element offsets given as params.
//
// Entry points (ROWS weight rows per workgroup):
//   mv_group   segment s (s < 3) multiplies w_s [rows_s, in_s] by x at x_off[s] and writes row r to
//              out_off[s] + r; its workgroups are [wg_end[s - 1], wg_end[s]). mode 1 (GeGLU against a row):
//              out = gelu_tanh(sum) * a[aux_off + r].
//   mv_pair    gate w0 and up w1 ([rows_0, in_0] each) on the same x: a workgroup computes rows r .. r + ROWS
//              of both and writes gelu_tanh(gate) * up.
//   mv_masked  up w0 where the top-k gate b[mask_off + r] is nonzero (the other rows' weights are not read):
//              out = gelu_tanh(gate) * up, 0 where the gate is 0.
// Bindings (group 0): 0 params (uniform), 1 arena_a, 2 arena_b (read_write f32), 3 w0, 5 w1, 7 w2 (read vec4<u32>),
//   4 scales, 6 s1, 8 s2 (read u32, the q8/q4 group scales of w0, w1, w2; bind the weight itself for float
//   weights).
// Params: wg_end, rows, in_f, x_off, out_off (per segment), bufs (per segment: bit 0 x in b, bit 1 out in b),
//   mode, aux_off, mask_off.
// Overrides: DTYPE (every segment's weights share it), WG (a power of two), ROWS (<= 4).
// Assumptions: whole 16-byte units per row; the grid is wg_end[2] workgroups along x (at most the
//   per-dimension limit).

// #include "weight_formats.wgsl"
// #include "gelu_tanh.wgsl"
// #include "matvec_fused_units.wgsl"

var<workgroup> partial: array<f32, 8u * WG>;

// Sum each of `slots` per-thread partials over the workgroup in a shared-memory tree into sums[slot].
fn reduce(lid: u32, sg_lane: u32, acc: ptr<function, array<f32, 8>>, slots: u32) {
  for (var r = 0u; r < slots; r++) {
    partial[r * WG + lid] = (*acc)[r];
  }
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      for (var r = 0u; r < slots; r++) {
        partial[r * WG + lid] += partial[r * WG + lid + s];
      }
    }
    workgroupBarrier();
  }
  if (lid < slots) {
    sums[lid] = partial[lid * WG];
  }
  workgroupBarrier();
}

@compute @workgroup_size(WG)
fn mv_group(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  group_body(wid.x, lid, 0u);
}

@compute @workgroup_size(WG)
fn mv_pair(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  pair_body(wid.x, lid, 0u);
}

@compute @workgroup_size(WG)
fn mv_masked(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  masked_body(wid.x, lid, 0u);
}
