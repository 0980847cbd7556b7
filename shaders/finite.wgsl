// Non-finite check of stored values, bit by bit (no float comparison a compiler could fold away):
// a value whose exponent bits are all ones is NaN or +-inf. Any invocation that meets one writes the
// tensor's `tag` into flag[0] with atomicMin, so after checking many tensors (each its own tag, the
// flag word starting at 0xffffffff) one 4-byte read names the first tensor that holds one, and the
// values themselves are never read back.
//   kind 0: f32 words              exponent mask 0x7f800000
//   kind 1: f16 pairs (two halves) exponent mask 0x7c00 in each half
//   kind 2: bf16 pairs             exponent mask 0x7f80 in each half
// Padding halves are zero (finite), so a tensor's whole words can be checked.
//
// Bindings (group 0):
//   0 params  uniform Params
//   1 x       storage, read        u32 words of the tensor
//   2 flag    storage, read_write  atomic u32 [1]: min(tag) over the flagged tensors
// Params: words (u32 words of x), kind (above), tag (< 0xffffffff).
// Grid: 1-D grid-strided over the words (any count), folded into 2-D past the per-dimension limit
// (linear workgroup index wid.x + wid.y * nwg.x).

struct Params {
  words: u32,
  kind: u32,
  tag: u32,
  _pad: u32,
}

override WG: u32 = 256;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read_write> flag: array<atomic<u32>>;

fn all_ones(w: u32, mask: u32) -> bool {
  return (w & mask) == mask;
}

fn word_nonfinite(w: u32) -> bool {
  if (params.kind == 0u) { return all_ones(w, 0x7f800000u); }
  let m = select(0x7f80u, 0x7c00u, params.kind == 1u);
  return all_ones(w, m) || all_ones(w, m << 16u);
}

@compute @workgroup_size(WG)
fn check_finite(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let stride = nwg.x * nwg.y * WG;
  var bad = false;
  for (var i = (wid.x + wid.y * nwg.x) * WG + lid; i < params.words; i += stride) {
    bad = bad || word_nonfinite(x[i]);
  }
  if (bad) { atomicMin(&flag[0], params.tag); }
}
