// Matrix-vector product for decode (one token): out[out_offset + o] = sum_i x[i] * W[o, i], with W in the
// Hugging Face layout [out_features, in_features] (row-major), stored as f32, bf16, f16, q8 or q4 (DTYPE),
// dequantized in registers; x and out are f32 and every sum is accumulated in f32.
//
// Access pattern (decode is bound by weight bandwidth): a workgroup owns ROWS consecutive rows of W and
// reads them as 16-byte units (one vec4<u32>: 4 f32, 8 bf16/f16, 16 q8 or 32 q4 weights). Thread t of the
// WG threads takes units t, t + WG, t + 2 WG, ... of each of its rows, so one load instruction of a subgroup
// reads 16 * (subgroup size) contiguous bytes and every weight byte is read exactly once. The x values of a
// unit are loaded once and reused for the ROWS rows; each unit is dequantized once, with one scale load per
// unit (a q4 unit is exactly one group, a q8 unit half of one). Per-thread sums are then reduced in
// workgroup memory by a tree of WG / 2, WG / 4, ... 1 additions per row.
//
// Entry points (the same per-unit arithmetic and reduction, so every sum they compute is bit-identical):
//   matvec         the dense product.
//   matvec_masked  rows masked by a vector (the FFN up_proj under a Gaussian top-k gate): where
//                  mask[out_offset + o] == 0 the row is written as 0 and none of its weights or scales
//                  are read; a workgroup whose ROWS rows are all masked only writes zeros.
//   matvec_skip    zero blocks of x skipped (the FFN down_proj of a sparse activation): x is cut into
//                  blocks of 32 columns (the quantization group, the same for float weights); a unit
//                  whose block of x is all zero is not read. Those units only add zeros to the sums, so
//                  skipping them keeps every sum bit-identical to matvec's.
//
// Bindings (group 0):
//   0 params  uniform Params
//   1 x       storage read        array<vec4<f32>>   the input row, in_features values
//   2 w       storage read        array<vec4<u32>>   the weight, out_features rows of in_features elements
//   3 scales  storage read        array<u32>         q8/q4: f16 pairs, group g = element / 32 in word g >> 1
//                                                    (low half when g is even); f32/bf16/f16: unused (bind w)
//   4 out     storage read_write  array<f32>
//   5 mask    storage read        array<f32>         matvec_masked only: row o is kept where
//                                                    mask[out_offset + o] != 0
// Params: in_features, out_features, out_offset (row o is written at out[out_offset + o]).
// Overrides: DTYPE (0 f32, 1 bf16, 2 f16, 3 q8, 4 q4), WG threads per workgroup (a power of two),
//   ROWS rows per workgroup (<= MAX_ROWS).
// Assumptions: whole units per row: in_features % 4 (f32), % 8 (bf16, f16), % 32 (q8, q4) == 0; the
//   grid is ceil(out_features / ROWS) workgroups, folded into 2-D (linear index wid.x + wid.y * nwg.x).
// The format helpers (DTYPE codes, per_word, pair, q8x4, q4x4, scale_of) are in weight_formats.wgsl; Params,
// the bindings, the overrides and the per-thread work (unit_term, dense/masked/skip_partials, store_row)
// are in matvec_units.wgsl; both are included below.

// #include "weight_formats.wgsl"
// #include "matvec_units.wgsl"

var<workgroup> partial: array<f32, ROWS * WG>;

// Sum the threads' per-row partials; thread lid < ROWS gets the sum of row row0 + lid.
fn reduce_rows(lid: u32, acc: array<f32, MAX_ROWS>) -> f32 {
  for (var r = 0u; r < ROWS; r++) {
    partial[r * WG + lid] = acc[r];
  }
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      for (var r = 0u; r < ROWS; r++) {
        partial[r * WG + lid] += partial[r * WG + lid + s];
      }
    }
    workgroupBarrier();
  }
  return partial[min(lid, ROWS - 1u) * WG];
}

@compute @workgroup_size(WG)
fn matvec(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row0 = (wid.x + wid.y * nwg.x) * ROWS;
  if (row0 >= params.out_features) { return; }
  store_row(row0, lid, reduce_rows(lid, dense_partials(row0, lid)));
}

@compute @workgroup_size(WG)
fn matvec_masked(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row0 = (wid.x + wid.y * nwg.x) * ROWS;
  if (row0 >= params.out_features) { return; }
  let live = live_rows_of(row0, lid);
  if (live == 0u) { store_row(row0, lid, 0.0); return; }
  store_row(row0, lid, reduce_rows(lid, masked_partials(row0, lid, live)));
}

@compute @workgroup_size(WG)
fn matvec_skip(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row0 = (wid.x + wid.y * nwg.x) * ROWS;
  if (row0 >= params.out_features) { return; }
  store_row(row0, lid, reduce_rows(lid, skip_partials(row0, lid)));
}
