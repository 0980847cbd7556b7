// The sum of one f32 per invocation over a workgroup, in a shared-memory tree (WG / 2, WG / 4, ... 1
// additions), shared by the row-reduction shaders (rms_norm, activation, group_norm). Declarations only; the
// including shader declares `override WG: u32` (a power of two).

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
