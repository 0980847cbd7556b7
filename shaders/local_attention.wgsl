// Chunked local self-attention with relative positions (Gemma 3n audio conformer, spec §5.6),
// computed directly as masked attention over each query's window. (The sinusoid table that the
// relative-position projection reads depends on the config alone and is made on the CPU in f64:
// WGSL's sin/cos guarantee only 2^-11 absolute accuracy.)
//
// One workgroup per query t, all heads:
//   window keys j = 0 .. left + right at positions s = t - left + j (distance t - s = left - j, so the
//   relative row of key j is row j of `rel`, whose rows are distances left, left - 1, .., -right);
//   key j is visible iff 0 <= s < rows and mask[s] != 0 (the same for every head).
//   logit[n, j] = sum_d q[t, n, d] * qscale[d] * (k[s, n, d] + rel[j, n, d])   (q.k + q.R in one dot)
//   logit = cap * tanh(logit / cap); p = softmax over the visible keys in f32 (max subtracted);
//   out[t, n, :] = sum_j p[n, j] v[s_j, n, :].
//   A query with no visible key (only a padded frame can have none) averages v uniformly over the
//   chunk_size + left + right positions of its chunk's context [u * chunk - left, u * chunk + chunk +
//   right), u = t / chunk, positions outside [0, rows) counting as zero rows: what the chunked
//   formulation gives there, finite and never NaN.
//   Phases, separated by barriers: key visibility; the heads * window logits (a serial dot over
//   head_dim each, invocations strided over them); per head the softmax max and 1 / sum; the
//   heads * head_dim outputs (invocations strided over them).
// Bindings (group 0):
//   0 params  uniform Params
//   1 qkv     storage, read        rows of row_stride values: q at q_offset, k at k_offset, v at v_offset
//                                  (each heads * head_dim wide, head-major)
//   2 rel     storage, read        [left + 1 + right, heads * head_dim] relative-position embeddings
//   3 qscale  storage, read        [head_dim] per-dimension query scale
//   4 mask    storage, read        [rows] u32, nonzero = valid frame
//   5 out     storage, read_write  [rows, heads * head_dim]
// Params: rows (T), heads, head_dim, row_stride, q_offset, k_offset, v_offset, left (context_left - 1),
//   right (context_right), chunk (chunk size), cap (logit soft-cap).
// Grid: rows workgroups, folded into 2-D past the per-dimension limit (linear index wid.x + wid.y * nwg.x).
// Assumes left + 1 + right <= MAX_KEYS, heads <= MAX_HEADS and heads * (left + 1 + right) <= MAX_LOGITS
// (checked in TS).

struct Params {
  rows: u32,
  heads: u32,
  head_dim: u32,
  row_stride: u32,
  q_offset: u32,
  k_offset: u32,
  v_offset: u32,
  left: u32,
  right: u32,
  chunk: u32,
  cap: f32,
  _pad0: u32,
  _pad1: u32,
}

override WG: u32 = 64;
const MAX_KEYS: u32 = 256u;
const MAX_HEADS: u32 = 64u;
const MAX_LOGITS: u32 = 1024u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> rel: array<f32>;
@group(0) @binding(3) var<storage, read> qscale: array<f32>;
@group(0) @binding(4) var<storage, read> mask: array<u32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

var<workgroup> logits: array<f32, MAX_LOGITS>;
var<workgroup> visible: array<u32, MAX_KEYS>;
var<workgroup> head_max: array<f32, MAX_HEADS>;
var<workgroup> head_inv_sum: array<f32, MAX_HEADS>;

// #include "tanh_safe.wgsl"

@compute @workgroup_size(WG)
fn local_attention(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x + wid.y * nwg.x;
  if (t >= params.rows) { return; }
  let hd = params.head_dim;
  let heads = params.heads;
  let width = heads * hd;
  let window = params.left + 1u + params.right;

  for (var j = lid; j < window; j += WG) {
    let s = i32(t) - i32(params.left) + i32(j);
    var ok = 0u;
    if (s >= 0 && u32(s) < params.rows) {
      if (mask[u32(s)] != 0u) { ok = 1u; }
    }
    visible[j] = ok;
  }
  workgroupBarrier();

  for (var p = lid; p < heads * window; p += WG) {
    let n = p / window;
    let j = p % window;
    var logit = 0.0;
    if (visible[j] != 0u) {
      let s = t - params.left + j;
      let q_base = t * params.row_stride + params.q_offset + n * hd;
      let k_base = s * params.row_stride + params.k_offset + n * hd;
      let r_base = j * width + n * hd;
      var acc = 0.0;
      for (var d = 0u; d < hd; d++) {
        acc += qkv[q_base + d] * qscale[d] * (qkv[k_base + d] + rel[r_base + d]);
      }
      logit = params.cap * tanh_safe(acc / params.cap);
    }
    logits[p] = logit;
  }
  workgroupBarrier();

  for (var n = lid; n < heads; n += WG) {
    var m = -3.0e38;
    for (var j = 0u; j < window; j++) {
      if (visible[j] != 0u) { m = max(m, logits[n * window + j]); }
    }
    var z = 0.0;
    for (var j = 0u; j < window; j++) {
      if (visible[j] != 0u) { z += exp(logits[n * window + j] - m); }
    }
    head_max[n] = m;
    head_inv_sum[n] = select(0.0, 1.0 / z, z > 0.0);
  }
  workgroupBarrier();

  var any = false;
  for (var j = 0u; j < window; j++) {
    if (visible[j] != 0u) { any = true; }
  }
  let ctx = params.chunk + params.left + params.right;
  let first = i32((t / params.chunk) * params.chunk) - i32(params.left);
  for (var o = lid; o < width; o += WG) {
    let n = o / hd;
    var acc = 0.0;
    if (any) {
      let m = head_max[n];
      for (var j = 0u; j < window; j++) {
        if (visible[j] != 0u) {
          let s = t - params.left + j;
          acc += exp(logits[n * window + j] - m) * qkv[s * params.row_stride + params.v_offset + o];
        }
      }
      acc *= head_inv_sum[n];
    } else {
      for (var c = 0u; c < ctx; c++) {
        let s = first + i32(c);
        if (s >= 0 && u32(s) < params.rows) {
          acc += qkv[u32(s) * params.row_stride + params.v_offset + o];
        }
      }
      acc /= f32(ctx);
    }
    out[t * width + o] = acc;
  }
}
