// Matrix product for a few rows of x (a short prefill, a follow-up turn):
//   out[m * out_stride + out_offset + o] = sum_i x[m, i] * W[o, i]
// with W in the Hugging Face layout [out_features, in_features] stored as f32, bf16, f16, q8 or q4 (DTYPE),
// x and out f32, f32 accumulation.
//
// Algorithm: a product this thin reads every weight once and does little arithmetic per weight, so the
// kernel avoids what a tiled GEMM spends on it (staging tiles in workgroup memory, barriers, computing
// absent rows of a 16- or 64-row tile) and keeps a small register tile instead: each thread owns OR
// consecutive output columns (OR weight rows) and RB rows of x. It walks its weight rows in 16-byte units
// (4 f32, 8 bf16/f16, 16 q8 or 32 q4 weights): each unit is loaded once, and each group of 4 of its
// weights is dequantized once (with the group scale) and dotted with the matching x vec4 of the RB rows;
// each x vec4 is loaded once for the OR columns. A workgroup covers WG * OR consecutive columns for one
// block of RB rows; the x values are the same for all its threads (broadcast loads). A row block past
// `rows` repeats the last row, and a column past out_features the last column (their sums are computed
// and not written), so the inner loops have no branch. Every output is the same sum, in the same order,
// whatever RB and OR are.
//
// Bindings (group 0):
//   0 params  uniform Params
//   1 x       storage read        array<vec4<f32>>   row m at m * in_features / 4
//   2 w       storage read        array<vec4<u32>>   the weight, out_features rows of in_features elements
//   3 scales  storage read        array<u32>         q8/q4: f16 pairs, group g = element / 32 in word g >> 1
//                                                    (low half when g is even); f32/bf16/f16: unused (bind w)
//   4 out     storage read_write  array<f32>
// Params: rows, in_features, out_features, out_offset, out_stride,
//   col_groups (= ceil(out_features / (WG * OR))).
// Overrides: DTYPE (0 f32, 1 bf16, 2 f16, 3 q8, 4 q4), WG threads per workgroup, RB rows of x per thread
//   (<= MAX_RB), OR output columns per thread (<= MAX_OR).
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
const MAX_OR = 4u;

override DTYPE: u32 = 0u;
override WG: u32 = 64u;
override RB: u32 = 8u;
override OR: u32 = 1u;

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

// The group scale of unit u of row `row` (`units` per row): 1 for float weights.
fn unit_scale(row: u32, units: u32, u: u32) -> f32 {
  switch DTYPE {
    case 3u: { return scale_of(row * (units >> 1u) + (u >> 1u)); }
    case 4u: { return scale_of(row * units + u); }
    default: { return 1.0; }
  }
}

// Weights 4j .. 4j + 3 of a 16-byte unit (j < x_vecs()), before the group scale.
fn unit_vec(q: vec4<u32>, j: u32) -> vec4<f32> {
  switch DTYPE {
    case 0u: {
      return bitcast<vec4<f32>>(q);
    }
    case 1u, 2u: {
      if (j == 0u) {
        return vec4<f32>(pair(q.x), pair(q.y));
      }
      return vec4<f32>(pair(q.z), pair(q.w));
    }
    case 3u: {
      return q8x4(q[j]);
    }
    default: {
      return q4x4(q[j >> 1u], (j & 1u) * 16u);
    }
  }
}

@compute @workgroup_size(WG)
fn matvec_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x + wid.y * nwg.x;
  let o0 = ((t % params.col_groups) * WG + lid) * OR;
  let m0 = (t / params.col_groups) * RB;
  if (o0 >= params.out_features || m0 >= params.rows) { return; }
  let xn = x_vecs();
  let units = params.in_features / (4u * xn);
  let row_vecs = params.in_features / 4u;
  let last_o = params.out_features - 1u;
  var base: array<u32, MAX_RB>;
  for (var r = 0u; r < RB; r++) {
    base[r] = min(m0 + r, params.rows - 1u) * row_vecs;
  }
  var acc: array<array<f32, MAX_OR>, MAX_RB>;
  var q: array<vec4<u32>, MAX_OR>;
  var s: array<f32, MAX_OR>;
  var wj: array<vec4<f32>, MAX_OR>;
  for (var u = 0u; u < units; u++) {
    for (var c = 0u; c < OR; c++) {
      let row = min(o0 + c, last_o);
      q[c] = w[row * units + u];
      s[c] = unit_scale(row, units, u);
    }
    for (var j = 0u; j < xn; j++) {
      for (var c = 0u; c < OR; c++) {
        wj[c] = unit_vec(q[c], j) * s[c];
      }
      let v = u * xn + j;
      for (var r = 0u; r < RB; r++) {
        let xv = x[base[r] + v];
        for (var c = 0u; c < OR; c++) {
          acc[r][c] += dot(wj[c], xv);
        }
      }
    }
  }
  for (var r = 0u; r < RB; r++) {
    for (var c = 0u; c < OR; c++) {
      if (m0 + r < params.rows && o0 + c < params.out_features) {
        out[(m0 + r) * params.out_stride + params.out_offset + o0 + c] = acc[r][c];
      }
    }
  }
}
