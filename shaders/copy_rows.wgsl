// Copy a block of rows of u32 words from one buffer into another, each with its own row stride and
// offset: a block of columns read from storage is placed into a wider row-major table (a layer's
// columns of the per-layer embedding table, its Q8/Q4 scale words apart). Words are copied as they
// are, so any storage dtype whose rows are whole words moves bit-exactly.
//
//   for r < rows, j < row_words:
//     dst[dst_offset + r * dst_stride + j] = src[src_offset + r * src_stride + j]
//
// Bindings (group 0):
//   0 params  uniform Params
//   1 src     storage, read        u32 words
//   2 dst     storage, read_write  u32 words (must not be the src buffer)
// Params (all in u32 words): rows, row_words, src_offset, src_stride, dst_offset, dst_stride.
// Grid: one invocation per copied word, i = r * row_words + j, in workgroups of WG, folded into 2-D
// past the per-dimension limit (linear workgroup index wid.x + wid.y * nwg.x).
// Assumes rows * row_words < 2^32 and every index inside its binding (checked on the CPU).

struct Params {
  rows: u32,
  row_words: u32,
  src_offset: u32,
  src_stride: u32,
  dst_offset: u32,
  dst_stride: u32,
  _pad0: u32,
  _pad1: u32,
}

override WG: u32 = 256;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

@compute @workgroup_size(WG)
fn copy_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= params.rows * params.row_words) { return; }
  let r = i / params.row_words;
  let j = i - r * params.row_words;
  dst[params.dst_offset + r * params.dst_stride + j] = src[params.src_offset + r * params.src_stride + j];
}
