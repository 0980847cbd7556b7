// The subgroup variant of matvec_fused.wgsl (same entry points, bindings, params and assumptions; the bodies
// are the same code, in matvec_fused_units.wgsl). Only the reduction differs, as in matvec_subgroups.wgsl:
// each subgroup sums its threads' partials with subgroupAdd, its first thread stores them in a slot taken
// from a workgroup counter, and after one barrier threads lid < slots add the slots of their sum.
// Assumptions: the `subgroups` feature; subgroups of at least 4 invocations, so at most WG / 4 per workgroup.

enable subgroups;

// #include "weight_formats.wgsl"
// #include "gelu_tanh.wgsl"
// #include "matvec_fused_units.wgsl"

override MAX_SUBGROUPS: u32 = WG / 4u;

var<workgroup> partial: array<f32, 8u * MAX_SUBGROUPS>;
var<workgroup> filled: atomic<u32>;

fn reduce(lid: u32, sg_lane: u32, acc: ptr<function, array<f32, 8>>, slots: u32) {
  var slot = 0u;
  if (sg_lane == 0u) {
    slot = atomicAdd(&filled, 1u);
  }
  for (var r = 0u; r < slots; r++) {
    let s = subgroupAdd((*acc)[r]);
    if (sg_lane == 0u) {
      partial[r * MAX_SUBGROUPS + slot] = s;
    }
  }
  workgroupBarrier();
  if (lid < slots) {
    let n = atomicLoad(&filled);
    var sum = 0.0;
    for (var k = 0u; k < n; k++) {
      sum += partial[lid * MAX_SUBGROUPS + k];
    }
    sums[lid] = sum;
  }
  workgroupBarrier();
}

@compute @workgroup_size(WG)
fn mv_group(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sg_lane: u32) {
  group_body(wid.x, lid, sg_lane);
}

@compute @workgroup_size(WG)
fn mv_pair(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sg_lane: u32) {
  pair_body(wid.x, lid, sg_lane);
}

@compute @workgroup_size(WG)
fn mv_masked(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sg_lane: u32) {
  masked_body(wid.x, lid, sg_lane);
}
