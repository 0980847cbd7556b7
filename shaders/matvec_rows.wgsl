// Matrix product for a few rows of x (a short prefill, a follow-up turn):
//   out[m * out_stride + out_offset + o] = sum_i x[m, i] * W[o, i]
// with W in the Hugging Face layout [out_features, in_features] stored as f32, bf16, f16, q8 or q4 (DTYPE),
// x and out f32, f32 accumulation.
//
// Algorithm: a product this thin reads every weight once and does little arithmetic per weight, so the
// kernel avoids what a tiled GEMM spends on it (staging tiles in workgroup memory, barriers, computing
// absent rows of a 16- or 64-row tile) and keeps a small register tile instead: each thread owns 4
// consecutive output columns (4 weight rows) and RB rows of x (4 or 8). It walks its weight rows in
// 16-byte units (4 f32, 8 bf16/f16, 16 q8 or 32 q4 weights): each unit is loaded once, and each group of
// 4 of its weights is dequantized once (with the group scale) into a 4 x 4 matrix, one column per weight
// row, which each x vec4 of the RB rows multiplies (one load of x for the 4 columns). A workgroup covers
// WG * 4 consecutive columns for one block of RB rows; the x values are the same for all its threads
// (broadcast loads). A row block past `rows` repeats the last row, and a column past out_features the
// last column (their sums are computed and not written), so the inner loops have no branch. Every
// output is the same sum, in the same order, whatever RB is.
//
// Bindings (group 0):
//   0 params  uniform Params
//   1 x       storage read        array<vec4<f32>>   row m at m * in_features / 4
//   2 w       storage read        array<vec4<u32>>   the weight, out_features rows of in_features elements
//   3 scales  storage read        array<u32>         q8/q4: f16 pairs, group g = element / 32 in word g >> 1
//                                                    (low half when g is even); f32/bf16/f16: unused (bind w)
//   4 out     storage read_write  array<f32>
// Params: rows, in_features, out_features, out_offset, out_stride,
//   tiles_n (column groups: ceil(out_features / (WG * 4))); the struct is in linear_rows_params.wgsl.
// Overrides: DTYPE (0 f32, 1 bf16, 2 f16, 3 q8, 4 q4), WG threads per workgroup, RB rows of x per thread
//   (4 or 8).
// Assumptions: whole units per row: in_features % 4 (f32), % 8 (bf16, f16), % 32 (q8, q4) == 0; the grid is
//   tiles_n * ceil(rows / RB) workgroups, folded into 2-D (linear index wid.x + wid.y * nwg.x; the
//   column group varies fastest).
// The format helpers (DTYPE codes, per_word, pair, q8x4, q4x4, scale_of, unit_vec) are in weight_formats.wgsl,
// included here:
// #include "weight_formats.wgsl"
// #include "linear_rows_params.wgsl"


override DTYPE: u32 = 0u;
override WG: u32 = 64u;
override RB: u32 = 8u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> scales: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// The group scale of unit u of row `row` (`units` per row): 1 for float weights.
fn unit_scale(row: u32, units: u32, u: u32) -> f32 {
  switch DTYPE {
    case 3u: { return scale_of(row * (units >> 1u) + (u >> 1u)); }
    case 4u: { return scale_of(row * units + u); }
    default: { return 1.0; }
  }
}

// Row m, columns o0 .. o0 + 3 of out, those that exist.
fn store_row(m: u32, o0: u32, a: vec4<f32>) {
  if (m >= params.rows) { return; }
  for (var c = 0u; c < 4u; c++) {
    if (o0 + c < params.out_features) {
      out[m * params.out_stride + params.out_offset + o0 + c] = a[c];
    }
  }
}

@compute @workgroup_size(WG)
fn matvec_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x + wid.y * nwg.x;
  let o0 = ((t % params.tiles_n) * WG + lid) * 4u;
  let m0 = (t / params.tiles_n) * RB;
  if (o0 >= params.out_features || m0 >= params.rows) { return; }
  let xn = per_word();
  let units = params.in_features / (4u * xn);
  let row_vecs = params.in_features / 4u;
  let last_o = params.out_features - 1u;
  // The 4 weight rows and the RB rows of x, clamped to the last ones (computed, not written).
  let r0 = o0;
  let r1 = min(o0 + 1u, last_o);
  let r2 = min(o0 + 2u, last_o);
  let r3 = min(o0 + 3u, last_o);
  let b0 = min(m0 + 0u, params.rows - 1u) * row_vecs;
  let b1 = min(m0 + 1u, params.rows - 1u) * row_vecs;
  let b2 = min(m0 + 2u, params.rows - 1u) * row_vecs;
  let b3 = min(m0 + 3u, params.rows - 1u) * row_vecs;
  let b4 = min(m0 + 4u, params.rows - 1u) * row_vecs;
  let b5 = min(m0 + 5u, params.rows - 1u) * row_vecs;
  let b6 = min(m0 + 6u, params.rows - 1u) * row_vecs;
  let b7 = min(m0 + 7u, params.rows - 1u) * row_vecs;
  // One accumulator vector per row of x (its 4 columns), named rather than indexed so that it stays in
  // registers on compilers that keep an indexed array in memory.
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  var a4 = vec4<f32>(0.0);
  var a5 = vec4<f32>(0.0);
  var a6 = vec4<f32>(0.0);
  var a7 = vec4<f32>(0.0);
  for (var u = 0u; u < units; u++) {
    let q0 = w[r0 * units + u];
    let q1 = w[r1 * units + u];
    let q2 = w[r2 * units + u];
    let q3 = w[r3 * units + u];
    let s = vec4<f32>(unit_scale(r0, units, u), unit_scale(r1, units, u), unit_scale(r2, units, u), unit_scale(r3, units, u));
    for (var j = 0u; j < xn; j++) {
      // Column c of m: weights 4j .. 4j + 3 of weight row c; x * m dots one x vec4 with all 4.
      let m = mat4x4<f32>(unit_vec(q0, j) * s.x, unit_vec(q1, j) * s.y, unit_vec(q2, j) * s.z, unit_vec(q3, j) * s.w);
      let v = u * xn + j;
        a0 += x[b0 + v] * m;
        a1 += x[b1 + v] * m;
        a2 += x[b2 + v] * m;
        a3 += x[b3 + v] * m;
      if (RB == 8u) {
          a4 += x[b4 + v] * m;
          a5 += x[b5 + v] * m;
          a6 += x[b6 + v] * m;
          a7 += x[b7 + v] * m;
      }
    }
  }
  store_row(m0 + 0u, o0, a0);
  store_row(m0 + 1u, o0, a1);
  store_row(m0 + 2u, o0, a2);
  store_row(m0 + 3u, o0, a3);
  if (RB == 8u) {
    store_row(m0 + 4u, o0, a4);
    store_row(m0 + 5u, o0, a5);
    store_row(m0 + 6u, o0, a6);
    store_row(m0 + 7u, o0, a7);
  }
}
