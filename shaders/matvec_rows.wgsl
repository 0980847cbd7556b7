// Matrix product for a few rows of x (a short prefill, a follow-up turn):
//   out[m * out_stride + out_offset + o] = sum_i x[m, i] * W[o, i]
// with W in the Hugging Face layout [out_features, in_features] stored as f32, bf16, f16, q8 or q4 (DTYPE),
// x and out f32, f32 accumulation.
//
// Algorithm: a product this thin reads every weight once and does little arithmetic per weight, so the
// kernel avoids what a tiled GEMM spends on it (staging tiles in workgroup memory, barriers, computing
// absent rows of a 16- or 64-row tile). Each thread owns one output column o, i.e. one weight row, and walks
// it in 16-byte units (4 f32, 8 bf16/f16, 16 q8 or 32 q4 weights); each unit is loaded and dequantized once,
// with its group scale, and dotted with the matching values of RB rows of x. A workgroup covers WG
// consecutive columns for one block of RB rows; the x values are the same for all its threads (broadcast
// loads). A row block past `rows` repeats the last row (its sums are computed and not written), so the
// inner loop has no branch.
//
// Bindings (group 0):
//   0 params  uniform Params
//   1 x       storage read        array<vec4<f32>>   row m at m * in_features / 4
//   2 w       storage read        array<vec4<u32>>   the weight, out_features rows of in_features elements
//   3 scales  storage read        array<u32>         q8/q4: f16 pairs, group g = element / 32 in word g >> 1
//                                                    (low half when g is even); f32/bf16/f16: unused (bind w)
//   4 out     storage read_write  array<f32>
// Params: rows, in_features, out_features, out_offset, out_stride, col_groups (= ceil(out_features / WG)).
// Overrides: DTYPE (0 f32, 1 bf16, 2 f16, 3 q8, 4 q4), WG threads per workgroup, RB rows of x per thread
//   (<= MAX_RB).
// Assumptions: whole units per row: in_features % 4 (f32), % 8 (bf16, f16), % 32 (q8, q4) == 0; the grid is
//   col_groups * ceil(rows / RB) workgroups, folded into 2-D (linear index wid.x + wid.y * nwg.x; the
//   column group varies fastest).

struct Params {
  rows: u32,
  in_features: u32,
  out_features: u32,
  out_offset: u32,
  out_stride: u32,
  col_groups: u32,
  _pad0: u32,
  _pad1: u32,
}

const F32 = 0u;
const BF16 = 1u;
const F16 = 2u;
const Q8 = 3u;
const Q4 = 4u;
const MAX_RB = 8u;

override DTYPE: u32 = 0u;
override WG: u32 = 64u;
override RB: u32 = 8u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> scales: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// x vec4s per weight unit.
fn x_vecs() -> u32 {
  switch DTYPE {
    case 0u: { return 1u; }
    case 1u, 2u: { return 2u; }
    case 3u: { return 4u; }
    default: { return 8u; }
  }
}

// Two packed 16-bit weights, the low half first.
fn pair(word: u32) -> vec2<f32> {
  if (DTYPE == BF16) {
    return vec2<f32>(bitcast<f32>(word << 16u), bitcast<f32>(word & 0xffff0000u));
  }
  return unpack2x16float(word);
}

// Four int8 weights, byte 0 first.
fn q8x4(word: u32) -> vec4<f32> {
  return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(word << 24u, word << 16u, word << 8u, word)) >> vec4<u32>(24u));
}

// Four 4-bit weights from nibbles starting at bit `shift` (0 or 16), as code - 8.
fn q4x4(word: u32, shift: u32) -> vec4<f32> {
  return vec4<f32>((vec4<u32>(word >> shift) >> vec4<u32>(0u, 4u, 8u, 12u)) & vec4<u32>(15u)) - 8.0;
}

fn scale_of(group: u32) -> f32 {
  return unpack2x16float(scales[group >> 1u])[group & 1u];
}

// The weights of unit u of row `row` (`units` per row), dequantized with their group scale, as x_vecs() vec4s.
fn unit_weights(row: u32, units: u32, u: u32, wv: ptr<function, array<vec4<f32>, 8>>) {
  let q = w[row * units + u];
  switch DTYPE {
    case 0u: {
      (*wv)[0] = bitcast<vec4<f32>>(q);
    }
    case 1u, 2u: {
      (*wv)[0] = vec4<f32>(pair(q.x), pair(q.y));
      (*wv)[1] = vec4<f32>(pair(q.z), pair(q.w));
    }
    case 3u: {
      let s = scale_of(row * (units >> 1u) + (u >> 1u));
      (*wv)[0] = q8x4(q.x) * s;
      (*wv)[1] = q8x4(q.y) * s;
      (*wv)[2] = q8x4(q.z) * s;
      (*wv)[3] = q8x4(q.w) * s;
    }
    default: {
      let s = scale_of(row * units + u);
      (*wv)[0] = q4x4(q.x, 0u) * s;
      (*wv)[1] = q4x4(q.x, 16u) * s;
      (*wv)[2] = q4x4(q.y, 0u) * s;
      (*wv)[3] = q4x4(q.y, 16u) * s;
      (*wv)[4] = q4x4(q.z, 0u) * s;
      (*wv)[5] = q4x4(q.z, 16u) * s;
      (*wv)[6] = q4x4(q.w, 0u) * s;
      (*wv)[7] = q4x4(q.w, 16u) * s;
    }
  }
}

@compute @workgroup_size(WG)
fn matvec_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x + wid.y * nwg.x;
  let o = (t % params.col_groups) * WG + lid;
  let m0 = (t / params.col_groups) * RB;
  if (o >= params.out_features || m0 >= params.rows) { return; }
  let xn = x_vecs();
  let units = params.in_features / (4u * xn);
  let row_vecs = params.in_features / 4u;
  var base: array<u32, MAX_RB>;
  for (var r = 0u; r < RB; r++) {
    base[r] = min(m0 + r, params.rows - 1u) * row_vecs;
  }
  var acc: array<f32, MAX_RB>;
  var wv: array<vec4<f32>, 8>;
  for (var u = 0u; u < units; u++) {
    unit_weights(o, units, u, &wv);
    let v0 = u * xn;
    for (var r = 0u; r < RB; r++) {
      var d = 0.0;
      for (var j = 0u; j < xn; j++) {
        d += dot(wv[j], x[base[r] + v0 + j]);
      }
      acc[r] += d;
    }
  }
  for (var r = 0u; r < RB; r++) {
    if (m0 + r < params.rows) {
      out[(m0 + r) * params.out_stride + params.out_offset + o] = acc[r];
    }
  }
}
