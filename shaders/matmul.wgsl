// Tiled matrix product for prefill (several rows of x):
//   out[m * out_stride + out_offset + n] = sum_k x[m, k] * W[n, k]
// with x f32 [rows, in_features], W in the Hugging Face layout [out_features, in_features] stored as f32,
// bf16, f16, q8 or q4 (DTYPE) and dequantized while it is staged, f32 accumulation.
//
// Algorithm: a workgroup of WG_N x WG_M threads computes a TILE_M x TILE_N block of out
// (TILE_M = WG_M * TM, TILE_N = WG_N * TN); thread (tx, ty) keeps the TM x TN sums of rows ty + i * WG_M and
// columns tx + j * WG_N in registers (consecutive threads write consecutive columns). The K axis is walked
// in steps of TILE_K: the x tile and the W tile are staged in workgroup memory, k-major with one column of
// padding against bank conflicts. The W tile is read by storage words (1 f32, 2 bf16/f16, 4 q8 or 8 q4
// weights) and each word is dequantized once, with its group scale. Elements past rows, in_features or
// out_features are staged as zeros and never written.
//
// Bindings (group 0):
//   0 params  uniform Params
//   1 x       storage read        array<f32>  row m at m * in_features
//   2 w       storage read        array<u32>  element e of W in word e / (elements per word)
//   3 scales  storage read        array<u32>  q8/q4: f16 pairs, group g = e / 32 in word g >> 1
//                                             (low half when g is even); f32/bf16/f16: unused (bind w)
//   4 out     storage read_write  array<f32>
// Params: rows, in_features, out_features, out_offset, out_stride, tiles_n (= ceil(out_features / TILE_N)).
// Overrides: DTYPE (0 f32, 1 bf16, 2 f16, 3 q8, 4 q4), WG_M, WG_N (threads per workgroup along m and n),
//   TILE_K (a multiple of 8). Variants: 16 x 16 threads (64 x 64 tiles) for long inputs; 4 x 16 threads
//   (16 x 64 tiles, TILE_K 32) for a few rows, where a 64-row tile would mostly compute absent rows.
//   W_T (0 or 1): with 1, `w` holds the transposed weight WT [in_features, out_features] (the layout
//   linear_t.wgsl defines: element (k, n) = W[n, k] at k * out_features + n, packed along n; q8/q4 scales
//   of shape [in_features / 32, out_features], the scale of (k, n) at (k / 32) * out_features + n). The W
//   tile is then staged by words along n of WT's rows k (consecutive threads read consecutive words), each
//   element with its own scale; everything else is the same.
// Assumptions: rows of W start on a storage word: in_features even (bf16, f16), % 32 == 0 (q8, q4); with
//   W_T, out_features a multiple of the elements per word instead of the even in_features, and still
//   in_features % 32 == 0 for q8/q4. The grid is tiles_n * ceil(rows / TILE_M) workgroups, folded into 2-D
//   (linear index wid.x + wid.y * nwg.x; the n tile varies fastest).
// The format helpers (DTYPE codes, per_word, pair, q8x4, q4x4, scale_of) are in weight_formats.wgsl,
// included here:
// #include "weight_formats.wgsl"
// #include "linear_rows_params.wgsl"

const TM = 4u;
const TN = 4u;

override DTYPE: u32 = 0u;
override WG_M: u32 = 16u;
override WG_N: u32 = 16u;
override TILE_K: u32 = 16u;
override W_T: u32 = 0u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read> scales: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// Tiles, k-major: xs[k * (TILE_M + 1) + m], ws[k * (TILE_N + 1) + n].
var<workgroup> xs: array<f32, TILE_K * (WG_M * TM + 1u)>;
var<workgroup> ws: array<f32, TILE_K * (WG_N * TN + 1u)>;

// Weight j of a storage word (j < per_word()), before the group scale.
fn weight(word: u32, j: u32) -> f32 {
  switch DTYPE {
    case 0u: { return bitcast<f32>(word); }
    case 1u: { return bitcast<f32>((word >> (16u * j)) << 16u); }
    case 2u: { return unpack2x16float(word)[j]; }
    case 3u: { return f32(bitcast<i32>(word << (24u - 8u * j)) >> 24u); }
    default: { return f32((word >> (4u * j)) & 15u) - 8.0; }
  }
}

@compute @workgroup_size(WG_N, WG_M)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let tile_m = WG_M * TM;
  let tile_n = WG_N * TN;
  let threads = WG_M * WG_N;
  let t = wid.x + wid.y * nwg.x;
  let tiles_m = (params.rows + tile_m - 1u) / tile_m;
  if (t >= params.tiles_n * tiles_m) { return; }
  let n0 = (t % params.tiles_n) * tile_n;
  let m0 = (t / params.tiles_n) * tile_m;
  let tx = lid3.x;
  let ty = lid3.y;
  let lid = ty * WG_N + tx;
  let K = params.in_features;
  let N = params.out_features;
  let epw = per_word();
  let words_per_row = K / epw;
  let words_per_tile_row = TILE_K / epw;
  let groups_per_row = K / 32u;
  let words_per_n_row = N / epw;
  let words_per_tile_n = tile_n / epw;

  var acc: array<f32, TM * TN>;
  for (var k0 = 0u; k0 < K; k0 += TILE_K) {
    for (var i = lid; i < tile_m * TILE_K; i += threads) {
      let m = i / TILE_K;
      let k = i % TILE_K;
      var v = 0.0;
      if (m0 + m < params.rows && k0 + k < K) {
        v = x[(m0 + m) * K + k0 + k];
      }
      xs[k * (tile_m + 1u) + m] = v;
    }
    if (W_T == 0u) {
      for (var i = lid; i < tile_n * words_per_tile_row; i += threads) {
        let n = i / words_per_tile_row;
        let k = (i % words_per_tile_row) * epw;
        let row = n0 + n;
        let col = k0 + k;
        var word = 0u;
        var s = 0.0;
        if (row < N && col < K) {
          word = w[row * words_per_row + col / epw];
          s = 1.0;
          if (DTYPE >= Q8) {
            s = scale_of(row * groups_per_row + col / 32u);
          }
        }
        for (var j = 0u; j < epw; j++) {
          ws[(k + j) * (tile_n + 1u) + n] = weight(word, j) * s;
        }
      }
    } else {
      for (var i = lid; i < TILE_K * words_per_tile_n; i += threads) {
        let k = i / words_per_tile_n;
        let n = (i % words_per_tile_n) * epw;
        let row = k0 + k;
        let col = n0 + n;
        let live = row < K && col < N;
        var word = 0u;
        if (live) {
          word = w[row * words_per_n_row + col / epw];
        }
        for (var j = 0u; j < epw; j++) {
          var s = select(0.0, 1.0, live);
          if (live && DTYPE >= Q8) {
            s = scale_of((row / 32u) * N + col + j);
          }
          ws[k * (tile_n + 1u) + n + j] = weight(word, j) * s;
        }
      }
    }
    workgroupBarrier();
    for (var k = 0u; k < TILE_K; k++) {
      var a: array<f32, TM>;
      var b: array<f32, TN>;
      for (var i = 0u; i < TM; i++) {
        a[i] = xs[k * (tile_m + 1u) + ty + i * WG_M];
      }
      for (var j = 0u; j < TN; j++) {
        b[j] = ws[k * (tile_n + 1u) + tx + j * WG_N];
      }
      for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) {
          acc[i * TN + j] += a[i] * b[j];
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < TM; i++) {
    let m = m0 + ty + i * WG_M;
    for (var j = 0u; j < TN; j++) {
      let n = n0 + tx + j * WG_N;
      if (m < params.rows && n < N) {
        out[m * params.out_stride + params.out_offset + n] = acc[i * TN + j];
      }
    }
  }
}
