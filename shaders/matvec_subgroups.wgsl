// Matrix-vector product for decode, the subgroup variant of matvec.wgsl (same algorithm, entry points
// matvec / matvec_masked / matvec_skip, bindings, params, overrides and assumptions; the dequantization
// helpers and the per-unit arithmetic are the same code and must stay in step with it). Only the reduction
// differs: each subgroup sums its threads' partials with subgroupAdd, the first thread of every subgroup
// stores them in a slot taken from a workgroup counter (no assumption about how invocations map to
// subgroups), and after one barrier the threads lid < ROWS add the slots of their row. The three entry
// points share that reduction, so a sum is bit-identical between them wherever the subgroups fill their
// slots in the same order.
//
// Access pattern: a workgroup owns ROWS consecutive rows of W, read as 16-byte units (one vec4<u32>);
// thread t of WG takes units t, t + WG, ... so each load of a subgroup is contiguous and every weight byte is
// read once; a unit's x values are loaded once for the ROWS rows and each unit is dequantized once.
// matvec_masked reads no weight or scale of a row whose mask[out_offset + o] is 0 (and writes 0 there);
// matvec_skip reads no unit whose 32-column block of x is all zero.
//
// Bindings (group 0): 0 params (uniform Params), 1 x (read, array<vec4<f32>>), 2 w (read, array<vec4<u32>>),
//   3 scales (read, array<u32>, f16 pairs; bind w for f32/bf16/f16), 4 out (read_write, array<f32>),
//   5 mask (read, array<f32>; matvec_masked only).
// Params: in_features, out_features, out_offset. Overrides: DTYPE (0 f32, 1 bf16, 2 f16, 3 q8, 4 q4), WG, ROWS.
// Assumptions: the `subgroups` feature; subgroups of at least 4 invocations (the WebGPU minimum), so at most
//   WG / 4 of them per workgroup; whole 16-byte units per row; 1-D grid folded into 2-D.

enable subgroups;
// The format helpers (DTYPE codes, per_word, pair, q8x4, q4x4, scale_of) are in weight_formats.wgsl; Params,
// the bindings, the overrides and the per-thread work (unit_term, dense/masked/skip_partials, store_row)
// are in matvec_units.wgsl; both are included below.

// #include "weight_formats.wgsl"
// #include "matvec_units.wgsl"

override MAX_SUBGROUPS: u32 = WG / 4u;

var<workgroup> partial: array<f32, ROWS * MAX_SUBGROUPS>;
var<workgroup> filled: atomic<u32>;

// Sum the threads' per-row partials; thread lid < ROWS gets the sum of row row0 + lid.
fn reduce_rows(lid: u32, sg_lane: u32, acc: array<f32, MAX_ROWS>) -> f32 {
  var slot = 0u;
  if (sg_lane == 0u) {
    slot = atomicAdd(&filled, 1u);
  }
  for (var r = 0u; r < ROWS; r++) {
    let s = subgroupAdd(acc[r]);
    if (sg_lane == 0u) {
      partial[r * MAX_SUBGROUPS + slot] = s;
    }
  }
  workgroupBarrier();
  var sum = 0.0;
  if (lid < ROWS) {
    let n = atomicLoad(&filled);
    for (var k = 0u; k < n; k++) {
      sum += partial[lid * MAX_SUBGROUPS + k];
    }
  }
  return sum;
}

@compute @workgroup_size(WG)
fn matvec(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32,
          @builtin(subgroup_invocation_id) sg_lane: u32) {
  let row0 = (wid.x + wid.y * nwg.x) * ROWS;
  if (row0 >= params.out_features) { return; }
  store_row(row0, lid, reduce_rows(lid, sg_lane, dense_partials(row0, lid)));
}

@compute @workgroup_size(WG)
fn matvec_masked(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                 @builtin(subgroup_invocation_id) sg_lane: u32) {
  let row0 = (wid.x + wid.y * nwg.x) * ROWS;
  if (row0 >= params.out_features) { return; }
  let live = live_rows_of(row0, lid);
  if (live == 0u) { store_row(row0, lid, 0.0); return; }
  store_row(row0, lid, reduce_rows(lid, sg_lane, masked_partials(row0, lid, live)));
}

@compute @workgroup_size(WG)
fn matvec_skip(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32,
               @builtin(subgroup_invocation_id) sg_lane: u32) {
  let row0 = (wid.x + wid.y * nwg.x) * ROWS;
  if (row0 >= params.out_features) { return; }
  store_row(row0, lid, reduce_rows(lid, sg_lane, skip_partials(row0, lid)));
}
