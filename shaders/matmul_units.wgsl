// GEMM for many rows of x (prefill, an image's or a clip's soft tokens) with register tiles:
//   out[m * out_stride + out_offset + o] = sum_i x[m, i] * W[o, i]
// with W in the Hugging Face layout [out_features, in_features] stored as f32, bf16, f16, q8 or q4 (DTYPE),
// x and out f32, f32 accumulation. Needs neither shader-f16 nor subgroups.
//
// Algorithm: no workgroup memory and no barrier. Each thread owns a register tile of RB = 16 rows of x
// by 8 consecutive output columns (8 weight rows). It walks its 8 weight rows in 16-byte units (4
// f32, 8 bf16/f16, 16 q8 or 32 q4 weights, so a q4 unit is one quantization group): each unit is loaded
// once per tile with one vector load, its group scale once, and each 4 of its weights are dequantized
// once (scaled) into two 4 x 4 matrices, one column per weight row. Each x vec4 of the RB rows is then
// loaded once and multiplies both matrices: per x load 32 multiply-adds, per dequantized weight RB. The
// accumulators are named (a0 .. a15, each the 8 columns of one row as a mat2x4), not an indexed array,
// so that they stay in registers on compilers that keep indexed arrays in memory. Rows of the tile past
// `rows` repeat the last row and columns past out_features the last column (computed, never written), so
// the inner loops have no branch. A workgroup of WG threads covers WG * 8 consecutive columns of one
// block of RB rows; its threads read the same x values (broadcast loads).
//
// Bindings (group 0):
//   0 params  uniform Params
//   1 x       storage read        array<vec4<f32>>   row m at m * in_features / 4
//   2 w       storage read        array<vec4<u32>>   the weight, out_features rows of in_features elements
//   3 scales  storage read        array<u32>         q8/q4: f16 pairs, group g = element / 32 in word g >> 1
//                                                    (low half when g is even); f32/bf16/f16: unused (bind w)
//   4 out     storage read_write  array<f32>
// Params: rows, in_features, out_features, out_offset, out_stride,
//   tiles_n (column tiles: ceil(out_features / (WG * 8))); the struct is in linear_rows_params.wgsl.
// Overrides: DTYPE (0 f32, 1 bf16, 2 f16, 3 q8, 4 q4), WG threads per workgroup.
// Assumptions: whole units per row: in_features % 4 (f32), % 8 (bf16, f16), % 32 (q8, q4) == 0; the grid
//   is tiles_n * ceil(rows / RB) workgroups, folded into 2-D (linear index wid.x + wid.y * nwg.x; the
//   column tile varies fastest).
// The format helpers (DTYPE codes, per_word, pair, q8x4, q4x4, scale_of, unit_vec) are in weight_formats.wgsl,
// included here:
// #include "weight_formats.wgsl"
// #include "linear_rows_params.wgsl"

override DTYPE: u32 = 4u;
override WG: u32 = 32u;
// Rows of x per thread (the accumulators a0 .. a15).
const RB = 16u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> scales: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// The group scale of the weight's 16-byte unit e (counted over the whole weight): a q4 unit is one
// group, a q8 group two units (rows hold an even number of them); 1 for float weights.
fn unit_scale(e: u32) -> f32 {
  switch DTYPE {
    case 3u: { return scale_of(e >> 1u); }
    case 4u: { return scale_of(e); }
    default: { return 1.0; }
  }
}

// One row's 8 sums after one x vec4: columns 0..3 from `lo`, 4..7 from `hi`.
fn fma_row(a: mat2x4<f32>, xv: vec4<f32>, lo: mat4x4<f32>, hi: mat4x4<f32>) -> mat2x4<f32> {
  return a + mat2x4<f32>(xv * lo, xv * hi);
}

// Row m, columns o0 .. o0 + 7 of out, those that exist.
fn store_row(m: u32, o0: u32, a: mat2x4<f32>) {
  if (m >= params.rows) { return; }
  let base = m * params.out_stride + params.out_offset + o0;
  for (var c = 0u; c < 8u; c++) {
    if (o0 + c < params.out_features) {
      out[base + c] = a[c >> 2u][c & 3u];
    }
  }
}

@compute @workgroup_size(WG)
fn matmul_units(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x + wid.y * nwg.x;
  let o0 = ((t % params.tiles_n) * WG + lid) * 8u;
  let m0 = (t / params.tiles_n) * RB;
  if (o0 >= params.out_features || m0 >= params.rows) { return; }
  let xn = per_word();
  let units = params.in_features / (4u * xn);
  let row_vecs = params.in_features / 4u;
  let last_o = params.out_features - 1u;
  let last_m = params.rows - 1u;
  // The 8 weight rows (clamped to the last one), as offsets of their first unit.
  let w0 = min(o0, last_o) * units;
  let w1 = min(o0 + 1u, last_o) * units;
  let w2 = min(o0 + 2u, last_o) * units;
  let w3 = min(o0 + 3u, last_o) * units;
  let w4 = min(o0 + 4u, last_o) * units;
  let w5 = min(o0 + 5u, last_o) * units;
  let w6 = min(o0 + 6u, last_o) * units;
  let w7 = min(o0 + 7u, last_o) * units;
  // The RB rows of x (clamped to the last one), as offsets of their first vec4.
  let b0 = min(m0 + 0u, last_m) * row_vecs;
  let b1 = min(m0 + 1u, last_m) * row_vecs;
  let b2 = min(m0 + 2u, last_m) * row_vecs;
  let b3 = min(m0 + 3u, last_m) * row_vecs;
  let b4 = min(m0 + 4u, last_m) * row_vecs;
  let b5 = min(m0 + 5u, last_m) * row_vecs;
  let b6 = min(m0 + 6u, last_m) * row_vecs;
  let b7 = min(m0 + 7u, last_m) * row_vecs;
  let b8 = min(m0 + 8u, last_m) * row_vecs;
  let b9 = min(m0 + 9u, last_m) * row_vecs;
  let b10 = min(m0 + 10u, last_m) * row_vecs;
  let b11 = min(m0 + 11u, last_m) * row_vecs;
  let b12 = min(m0 + 12u, last_m) * row_vecs;
  let b13 = min(m0 + 13u, last_m) * row_vecs;
  let b14 = min(m0 + 14u, last_m) * row_vecs;
  let b15 = min(m0 + 15u, last_m) * row_vecs;
  var a0 = mat2x4<f32>();
  var a1 = mat2x4<f32>();
  var a2 = mat2x4<f32>();
  var a3 = mat2x4<f32>();
  var a4 = mat2x4<f32>();
  var a5 = mat2x4<f32>();
  var a6 = mat2x4<f32>();
  var a7 = mat2x4<f32>();
  var a8 = mat2x4<f32>();
  var a9 = mat2x4<f32>();
  var a10 = mat2x4<f32>();
  var a11 = mat2x4<f32>();
  var a12 = mat2x4<f32>();
  var a13 = mat2x4<f32>();
  var a14 = mat2x4<f32>();
  var a15 = mat2x4<f32>();
  for (var u = 0u; u < units; u++) {
    let q0 = w[w0 + u];
    let q1 = w[w1 + u];
    let q2 = w[w2 + u];
    let q3 = w[w3 + u];
    let q4 = w[w4 + u];
    let q5 = w[w5 + u];
    let q6 = w[w6 + u];
    let q7 = w[w7 + u];
    let s_lo = vec4<f32>(unit_scale(w0 + u), unit_scale(w1 + u), unit_scale(w2 + u), unit_scale(w3 + u));
    let s_hi = vec4<f32>(unit_scale(w4 + u), unit_scale(w5 + u), unit_scale(w6 + u), unit_scale(w7 + u));
    for (var j = 0u; j < xn; j++) {
      // Column c: weights 4j .. 4j + 3 of weight row c; x * m dots one x vec4 with 4 columns at once.
      let lo = mat4x4<f32>(unit_vec(q0, j) * s_lo.x, unit_vec(q1, j) * s_lo.y, unit_vec(q2, j) * s_lo.z, unit_vec(q3, j) * s_lo.w);
      let hi = mat4x4<f32>(unit_vec(q4, j) * s_hi.x, unit_vec(q5, j) * s_hi.y, unit_vec(q6, j) * s_hi.z, unit_vec(q7, j) * s_hi.w);
      let v = u * xn + j;
      a0 = fma_row(a0, x[b0 + v], lo, hi);
      a1 = fma_row(a1, x[b1 + v], lo, hi);
      a2 = fma_row(a2, x[b2 + v], lo, hi);
      a3 = fma_row(a3, x[b3 + v], lo, hi);
      a4 = fma_row(a4, x[b4 + v], lo, hi);
      a5 = fma_row(a5, x[b5 + v], lo, hi);
      a6 = fma_row(a6, x[b6 + v], lo, hi);
      a7 = fma_row(a7, x[b7 + v], lo, hi);
      a8 = fma_row(a8, x[b8 + v], lo, hi);
      a9 = fma_row(a9, x[b9 + v], lo, hi);
      a10 = fma_row(a10, x[b10 + v], lo, hi);
      a11 = fma_row(a11, x[b11 + v], lo, hi);
      a12 = fma_row(a12, x[b12 + v], lo, hi);
      a13 = fma_row(a13, x[b13 + v], lo, hi);
      a14 = fma_row(a14, x[b14 + v], lo, hi);
      a15 = fma_row(a15, x[b15 + v], lo, hi);
    }
  }
  store_row(m0 + 0u, o0, a0);
  store_row(m0 + 1u, o0, a1);
  store_row(m0 + 2u, o0, a2);
  store_row(m0 + 3u, o0, a3);
  store_row(m0 + 4u, o0, a4);
  store_row(m0 + 5u, o0, a5);
  store_row(m0 + 6u, o0, a6);
  store_row(m0 + 7u, o0, a7);
  store_row(m0 + 8u, o0, a8);
  store_row(m0 + 9u, o0, a9);
  store_row(m0 + 10u, o0, a10);
  store_row(m0 + 11u, o0, a11);
  store_row(m0 + 12u, o0, a12);
  store_row(m0 + 13u, o0, a13);
  store_row(m0 + 14u, o0, a14);
  store_row(m0 + 15u, o0, a15);
}
