// Embedding gather from one row chunk of a table, with a scale:
//   for t < count with row_start <= ids[t] < row_start + rows:
//     out[t, j] = table[ids[t] - row_start, j] * scale      (j < cols)
// Tokens whose id falls outside the chunk are left untouched, so a table split into row chunks
// (or a second table, e.g. multimodal rows) is gathered with one dispatch per chunk into the same
// output. One entry point per storage dtype decodes table elements to f32 (embed_f32 and its
// #variant lines, expanded by defineKernel, each calling its own value_<dtype>):
//   f32:  one element per word.
//   bf16: element e in word e >> 1, low half when e is even; f32 bits = half << 16.
//   f16:  element e in word e >> 1, low half when e is even (unpack2x16float: no shader-f16).
//   q8:   element e in word e >> 2, byte e & 3, two's complement; value = q * scale(e >> 5).
//   q4:   element e in word e >> 3, bits 4 * (e & 7), stored as q + 8; value = q * scale(e >> 5).
//   Group scales (32 elements each along cols) are f16, two per word: group g in word g >> 1,
//   low half when g is even. Element and group indices count from the start of the chunk's
//   bindings. q * scale is exact in f32 (8-bit q, 11-bit f16 significand), so the only rounding
//   is the final multiply by `scale`, as in the f32 and bf16 paths.
//
// Bindings (group 0):
//   0 params  uniform Params
//   1 ids     storage, read        [>= count] u32 token ids
//   2 table   storage, read        the chunk's rows [rows, cols] in its storage dtype, as u32 words
//   3 scales  storage, read        q8/q4 group scales of the chunk (f16 pairs)
//   4 out     storage, read_write  [count, cols] f32
// Params: row_start (first table row of the chunk, as a token id), rows (rows in the chunk),
//         cols, count (tokens), scale (sqrt(hidden) for text embeddings, 16 for PLE rows, ...).
// Grid: one workgroup per token, folded into 2-D past the per-dimension limit (token =
// wid.x + wid.y * nwg.x); invocations stride over cols.

struct Params {
  row_start: u32,
  rows: u32,
  cols: u32,
  count: u32,
  scale: f32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

override WG: u32 = 256;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<u32>;
@group(0) @binding(3) var<storage, read> scales: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

const ELSEWHERE: u32 = 0xffffffffu;

// First element of the token's table row (relative to the chunk), or ELSEWHERE when its id is not
// in the chunk (rows * cols < 2^32, so a real row never starts there).
fn row_base(t: u32) -> u32 {
  let id = ids[t];
  if (id < params.row_start || id - params.row_start >= params.rows) { return ELSEWHERE; }
  return (id - params.row_start) * params.cols;
}

fn token(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x;
}

fn half_word(e: u32) -> u32 {
  return (table[e >> 1u] >> (16u * (e & 1u))) & 0xffffu;
}

fn group_scale(e: u32) -> f32 {
  let g = e >> 5u;
  return unpack2x16float(scales[g >> 1u])[g & 1u];
}

// Element e of the chunk as f32, one function per storage dtype.
fn value_f32(e: u32) -> f32 {
  return bitcast<f32>(table[e]);
}

fn value_bf16(e: u32) -> f32 {
  return bitcast<f32>(half_word(e) << 16u);
}

fn value_f16(e: u32) -> f32 {
  return unpack2x16float(half_word(e)).x;
}

fn value_q8(e: u32) -> f32 {
  let q = extractBits(bitcast<i32>(table[e >> 2u]), 8u * (e & 3u), 8u);
  return f32(q) * group_scale(e);
}

fn value_q4(e: u32) -> f32 {
  let q = i32(extractBits(table[e >> 3u], 4u * (e & 7u), 4u)) - 8;
  return f32(q) * group_scale(e);
}

// #variant embed_bf16 of embed_f32: value_f32=value_bf16
// #variant embed_f16 of embed_f32: value_f32=value_f16
// #variant embed_q8 of embed_f32: value_f32=value_q8
// #variant embed_q4 of embed_f32: value_f32=value_q4

@compute @workgroup_size(WG)
fn embed_f32(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = token(wid, nwg);
  if (t >= params.count) { return; }
  let base = row_base(t);
  if (base == ELSEWHERE) { return; }
  for (var j = lid; j < params.cols; j += WG) {
    out[t * params.cols + j] = value_f32(base + j) * params.scale;
  }
}
