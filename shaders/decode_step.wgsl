// The per-token vector chains of one decode step (one token, T = 1), fused: each entry point replaces a
// run of small dispatches of the layer (norms, AltUp router and coefficients, residual adds, LAuReL's
// rank-r products, q/k/v norms with RoPE and the KV append) with one. The chains are short (a few
// vectors of D values and products with a few thousand weights), so the row entry points run as ONE
// workgroup that keeps every reduction local; qkv_post runs one workgroup per head. The arithmetic is
// the unfused kernels' (rms_norm, altup, elementwise, rope, kv_cache), in the same order.
//
// The step's vectors live in two arenas, `a` and `b` (f32; offsets in elements are params), so a kernel
// of the unfused set that reads one and writes the other can run between these (a storage buffer bound
// read-only and read-write in one dispatch is a usage conflict). `vecs` packs every f32 vector weight of
// the model (norm weights, AltUp router and coefficient matrices, scales) at offsets given as params.
//
// Entry points (spec section in brackets; n = AltUp streams, D = hidden size, X the streams):
//   layer_in   [3.4.8 of the layer before, 3.4.1-3] with has_prev: X[k != active] += norm(pp) w_ppn (not
//              written back: X' is used on the fly); router = tanh(R norm(X[active]) w_rn / D);
//              C = P router; pred[k] = X'[k] + sum_j C[k][j] X'[j]; an = norm(pred[active]) w_in;
//              mid = laurel_left(an) (W in DTYPE, [rank, D]).
//   post_attn  [3.4.3-6] right = laurel_right(mid) (W [D, rank]); lau = norm(right) w_lp + an;
//              h = (pred[active] + norm(o) w_pa) / sqrt 2 + lau / sqrt 2; u = norm(h) w_pf.
//   layer_out  [3.4.6-8] f (or the sum of the transposed down_proj's `f_parts` split partials);
//              h += norm(f) w_pff; router on h; cc = Cc router; X[k] = pred[k] + (cc[k] + 1) (h - pred[active]);
//              s = X[active] * correct_scale (or X[active]).
//   ple_add    [3.4.8 of the last layer] X[k != active] += norm(pp) w_ppn, written back.
//   pre_row    [3.2-3.3] per_layer = (norm_rows_P(ple_proj / sqrt D) w + ple_raw) / sqrt 2; X[0] = x0;
//              X[k] = rescale(tmp[k - 1], x0).
//   final_row  [3.6] fin = X[0] + sum_k rescale(tmp[k - 1], X[0]); hfin = norm(fin / n) w_norm.
//   qkv_post   [3.4.4] one workgroup per head: q heads norm(q) w_q then RoPE in place; with has_kv, k heads
//              norm(k) w_k, RoPE, written to slot pos0 % capacity of k_cache; v heads norm(v) to v_cache.
//
// Bindings (group 0): 0 params (uniform); 1 arena_a, 2 arena_b (read_write f32); 3 vecs (read f32); 4 w, 5 scales
// (read u32, the LAuReL weight in DTYPE: layer_in, post_attn); 6 inv_freq (read f32), 7 k_cache, 8 v_cache
// (read_write f32: qkv_post).
// Grid: one workgroup (row entries); qkv_post: n_heads + 2 n_kv workgroups (n_heads without has_kv).
// Assumes WG a power of two, n <= MAX_N, head_dim <= 2 WG.

// #include "weight_formats.wgsl"
// #include "workgroup_sum.wgsl"
// #include "sin_cos.wgsl"

struct Params {
  dim: u32,
  n_streams: u32,
  active_idx: u32,
  stride: u32,
  eps: f32,
  has_prev: u32,
  rank: u32,
  has_scale: u32,
  // arena offsets: a unless named _b
  streams: u32,
  pred: u32,
  an: u32,
  mid: u32,
  h: u32,
  u: u32,
  s: u32,
  tmp: u32,
  pp_b: u32,
  o_b: u32,
  f: u32,
  f_in_b: u32,
  f_parts: u32,
  x0: u32,
  ple_raw: u32,
  per_layer: u32,
  ple_proj_b: u32,
  tmp_b: u32,
  hfin: u32,
  ple_rows: u32,
  ple_cols: u32,
  // vecs offsets
  v_router_norm: u32,
  v_router: u32,
  v_pred_coefs: u32,
  v_corr_coefs: u32,
  v_ppn: u32,
  v_input_norm: u32,
  v_laurel_norm: u32,
  v_post_attn: u32,
  v_pre_ffn: u32,
  v_post_ffn: u32,
  v_correct_scale: u32,
  v_norm: u32,
  // qkv_post
  n_heads: u32,
  n_kv: u32,
  head_dim: u32,
  pos0: u32,
  capacity: u32,
  has_kv: u32,
  q_b: u32,
  k_b: u32,
  v_b: u32,
  v_q_norm: u32,
  v_k_norm: u32,
  _pad0: u32,
}

override WG: u32 = 256u;
override DTYPE: u32 = 0u;

const MAX_N: u32 = 8u;
const SQRT1_2: f32 = 0.7071067811865476;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> arena_a: array<f32>;
@group(0) @binding(2) var<storage, read_write> arena_b: array<f32>;
@group(0) @binding(3) var<storage, read> vecs: array<f32>;
@group(0) @binding(4) var<storage, read> w: array<u32>;
@group(0) @binding(5) var<storage, read> scales: array<u32>;
@group(0) @binding(6) var<storage, read> inv_freq: array<f32>;
@group(0) @binding(7) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(8) var<storage, read_write> v_cache: array<f32>;

var<workgroup> small: array<f32, 96>;

// 1 / sqrt(mean of squares + eps) is applied as the unfused rms_norm does: x / sqrt(ss / n + eps).
fn rms_den(ss: f32, n: u32) -> f32 {
  return sqrt(ss / f32(n) + params.eps);
}

// Sum of squares of arena_a[off .. off + n) (arena_b with in_b), over the workgroup.
fn sum_sq(off: u32, n: u32, in_b: bool, lid: u32) -> f32 {
  var s = 0.0;
  for (var i = lid; i < n; i += WG) {
    var x = 0.0;
    if (in_b) {
      x = arena_b[off + i];
    } else {
      x = arena_a[off + i];
    }
    s += x * x;
  }
  return workgroup_sum(s, lid);
}

// Element (row, col) of the DTYPE weight `w` with `cols` columns, dequantized.
fn w_elem(row: u32, col: u32, cols: u32) -> f32 {
  let e = row * cols + col;
  switch DTYPE {
    case 0u: { return bitcast<f32>(w[e]); }
    case 1u, 2u: { return pair(w[e >> 1u])[e & 1u]; }
    case 3u: { return q8x4(w[e >> 2u])[e & 3u] * scale_of(e >> 5u); }
    default: { return q4x4(w[e >> 3u], ((e >> 2u) & 1u) * 16u)[e & 3u] * scale_of(e >> 5u); }
  }
}

// Lanes per output of an in-workgroup product with `outs` outputs of `k` terms: a power of two, at
// most WG / outs (at least 1) and at most k.
fn lanes_for(outs: u32, k: u32) -> u32 {
  var g = 1u;
  while (g * 2u * outs <= WG && g * 2u <= k) {
    g *= 2u;
  }
  return g;
}

// arena_a[out_off + o] = sum_i w[o, i] arena_a[x_off + i] for o < outs (W [outs, k] in DTYPE). Call from uniform
// control flow after a storage barrier that publishes x. Outputs o = base + lid / g; the g lanes of an
// output reduce in workgroup memory.
fn small_matvec(x_off: u32, k: u32, outs: u32, out_off: u32, lid: u32) {
  let g = lanes_for(outs, k);
  let per_pass = WG / g;
  let lane = lid % g;
  for (var base = 0u; base < outs; base += per_pass) {
    let o = base + lid / g;
    var s = 0.0;
    if (o < outs) {
      for (var i = lane; i < k; i += g) {
        s += w_elem(o, i, k) * arena_a[x_off + i];
      }
    }
    partial[lid] = s;
    workgroupBarrier();
    for (var st = g / 2u; st > 0u; st >>= 1u) {
      if (lane < st) {
        partial[lid] += partial[lid + st];
      }
      workgroupBarrier();
    }
    if (lane == 0u && o < outs) {
      arena_a[out_off + o] = partial[lid];
    }
    workgroupBarrier();
  }
}

// The AltUp router of the stream at arena_a[x_off] (D values): small[0 .. n) = tanh(R norm(x) w_rn / D).
fn router(x_off: u32, lid: u32) {
  let D = params.dim;
  let n = params.n_streams;
  let den = rms_den(sum_sq(x_off, D, false, lid), D);
  var acc: array<f32, MAX_N>;
  for (var i = lid; i < D; i += WG) {
    let rn = arena_a[x_off + i] / den * vecs[params.v_router_norm + i] * (1.0 / f32(D));
    for (var j = 0u; j < n; j++) {
      acc[j] += vecs[params.v_router + j * D + i] * rn;
    }
  }
  for (var j = 0u; j < n; j++) {
    let r = workgroup_sum(acc[j], lid);
    if (lid == 0u) {
      small[j] = tanh(clamp(r, -15.0, 15.0));
    }
  }
  workgroupBarrier();
}

// norm(pp) w_ppn at element i, pp in b; `den` its rms denominator.
fn ppn(i: u32, den: f32) -> f32 {
  return arena_b[params.pp_b + i] / den * vecs[params.v_ppn + i];
}

@compute @workgroup_size(WG)
fn layer_in(@builtin(local_invocation_index) lid: u32) {
  let D = params.dim;
  let n = params.n_streams;
  let S = params.stride;
  let act = params.active_idx;
  var pden = 1.0;
  if (params.has_prev != 0u) {
    pden = rms_den(sum_sq(params.pp_b, D, true, lid), D);
  }
  router(params.streams + act * S, lid);
  // C = P router: small[16 ..) holds the n x n coefficients.
  if (lid < n * n) {
    var c = 0.0;
    for (var j = 0u; j < n; j++) {
      c += vecs[params.v_pred_coefs + lid * n + j] * small[j];
    }
    small[16u + lid] = c;
  }
  workgroupBarrier();
  var xs: array<f32, MAX_N>;
  for (var i = lid; i < D; i += WG) {
    for (var k = 0u; k < n; k++) {
      var x = arena_a[params.streams + k * S + i];
      if (params.has_prev != 0u && k != act) {
        x += ppn(i, pden);
      }
      xs[k] = x;
    }
    for (var k = 0u; k < n; k++) {
      var p = xs[k];
      for (var j = 0u; j < n; j++) {
        p += small[16u + k * n + j] * xs[j];
      }
      arena_a[params.pred + k * S + i] = p;
    }
  }
  let den = rms_den(sum_sq(params.pred + act * S, D, false, lid), D);
  for (var i = lid; i < D; i += WG) {
    arena_a[params.an + i] = arena_a[params.pred + act * S + i] / den * vecs[params.v_input_norm + i];
  }
  storageBarrier();
  small_matvec(params.an, D, params.rank, params.mid, lid);
}

@compute @workgroup_size(WG)
fn post_attn(@builtin(local_invocation_index) lid: u32) {
  let D = params.dim;
  let pa = params.pred + params.active_idx * params.stride;
  storageBarrier();
  small_matvec(params.mid, params.rank, D, params.tmp, lid);
  storageBarrier();
  let rden = rms_den(sum_sq(params.tmp, D, false, lid), D);
  let oden = rms_den(sum_sq(params.o_b, D, true, lid), D);
  for (var i = lid; i < D; i += WG) {
    let lau = arena_a[params.tmp + i] / rden * vecs[params.v_laurel_norm + i] + arena_a[params.an + i];
    let att = arena_b[params.o_b + i] / oden * vecs[params.v_post_attn + i];
    arena_a[params.h + i] = (arena_a[pa + i] + att) * SQRT1_2 + lau * SQRT1_2;
  }
  let hden = rms_den(sum_sq(params.h, D, false, lid), D);
  for (var i = lid; i < D; i += WG) {
    arena_a[params.u + i] = arena_a[params.h + i] / hden * vecs[params.v_pre_ffn + i];
  }
}

// The FFN output at element i: f in a or b, or the sum of f_parts split partials in b.
fn ffn_out(i: u32) -> f32 {
  if (params.f_parts > 0u) {
    var s = 0.0;
    for (var k = 0u; k < params.f_parts; k++) {
      s += arena_b[params.f + k * params.dim + i];
    }
    return s;
  }
  if (params.f_in_b != 0u) {
    return arena_b[params.f + i];
  }
  return arena_a[params.f + i];
}

@compute @workgroup_size(WG)
fn layer_out(@builtin(local_invocation_index) lid: u32) {
  let D = params.dim;
  let n = params.n_streams;
  let S = params.stride;
  let pa = params.pred + params.active_idx * S;
  // f once into tmp (LAuReL's scratch, done with): the split partials are summed once.
  var fs = 0.0;
  for (var i = lid; i < D; i += WG) {
    let f = ffn_out(i);
    arena_a[params.tmp + i] = f;
    fs += f * f;
  }
  let fden = rms_den(workgroup_sum(fs, lid), D);
  for (var i = lid; i < D; i += WG) {
    arena_a[params.h + i] = arena_a[params.h + i] + arena_a[params.tmp + i] / fden * vecs[params.v_post_ffn + i];
  }
  router(params.h, lid);
  if (lid < n) {
    var c = 0.0;
    for (var j = 0u; j < n; j++) {
      c += vecs[params.v_corr_coefs + lid * n + j] * small[j];
    }
    small[16u + lid] = c;
  }
  workgroupBarrier();
  for (var i = lid; i < D; i += WG) {
    let innovation = arena_a[params.h + i] - arena_a[pa + i];
    for (var k = 0u; k < n; k++) {
      arena_a[params.streams + k * S + i] = arena_a[params.pred + k * S + i] + (small[16u + k] + 1.0) * innovation;
    }
    let first = arena_a[params.streams + params.active_idx * S + i];
    arena_a[params.s + i] = select(first, first * vecs[params.v_correct_scale + i], params.has_scale != 0u);
  }
}

@compute @workgroup_size(WG)
fn ple_add(@builtin(local_invocation_index) lid: u32) {
  let D = params.dim;
  let den = rms_den(sum_sq(params.pp_b, D, true, lid), D);
  for (var i = lid; i < D; i += WG) {
    let v = ppn(i, den);
    for (var k = 0u; k < params.n_streams; k++) {
      if (k != params.active_idx) {
        let at = params.streams + k * params.stride + i;
        arena_a[at] = arena_a[at] + v;
      }
    }
  }
}

// out[i] = y[i] * rms(ref) / sqrt(max(mean(y^2), 1e-5)) factor for y at arena_b[y_off], ref at arena_a[ref_off] (D values).
fn rescale_factor(y_off: u32, ref_off: u32, lid: u32) -> f32 {
  let D = params.dim;
  let yy = sum_sq(y_off, D, true, lid) / f32(D);
  let rr = sum_sq(ref_off, D, false, lid) / f32(D);
  return sqrt(rr) / sqrt(max(yy, 1e-5));
}

@compute @workgroup_size(WG)
fn pre_row(@builtin(local_invocation_index) lid: u32) {
  let D = params.dim;
  let P = params.ple_cols;
  let inv_sqrt_d = 1.0 / sqrt(f32(D));
  for (var r = 0u; r < params.ple_rows; r++) {
    var s = 0.0;
    for (var i = lid; i < P; i += WG) {
      let x = arena_b[params.ple_proj_b + r * P + i] * inv_sqrt_d;
      s += x * x;
    }
    let den = rms_den(workgroup_sum(s, lid), P);
    for (var i = lid; i < P; i += WG) {
      let at = r * P + i;
      let normed = arena_b[params.ple_proj_b + at] * inv_sqrt_d / den * vecs[params.v_norm + i];
      arena_a[params.per_layer + at] = (normed + arena_a[params.ple_raw + at]) * SQRT1_2;
    }
  }
  for (var i = lid; i < D; i += WG) {
    arena_a[params.streams + i] = arena_a[params.x0 + i];
  }
  for (var k = 1u; k < params.n_streams; k++) {
    let y = params.tmp_b + (k - 1u) * D;
    let factor = rescale_factor(y, params.x0, lid);
    for (var i = lid; i < D; i += WG) {
      arena_a[params.streams + k * params.stride + i] = arena_b[y + i] * factor;
    }
  }
}

@compute @workgroup_size(WG)
fn final_row(@builtin(local_invocation_index) lid: u32) {
  let D = params.dim;
  let n = params.n_streams;
  for (var i = lid; i < D; i += WG) {
    arena_a[params.hfin + i] = arena_a[params.streams + i];
  }
  for (var k = 1u; k < n; k++) {
    let y = params.tmp_b + (k - 1u) * D;
    let factor = rescale_factor(y, params.streams, lid);
    for (var i = lid; i < D; i += WG) {
      arena_a[params.hfin + i] = arena_a[params.hfin + i] + arena_b[y + i] * factor;
    }
  }
  var s = 0.0;
  for (var i = lid; i < D; i += WG) {
    let x = arena_a[params.hfin + i] * (1.0 / f32(n));
    s += x * x;
  }
  let den = rms_den(workgroup_sum(s, lid), D);
  for (var i = lid; i < D; i += WG) {
    arena_a[params.hfin + i] = arena_a[params.hfin + i] * (1.0 / f32(n)) / den * vecs[params.v_norm + i];
  }
}

@compute @workgroup_size(WG)
fn qkv_post(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x;
  let hd = params.head_dim;
  let half = hd / 2u;
  let H = params.n_heads;
  let KV = params.n_kv;
  // kind 0: a q head, 1: a k head, 2: a v head; `head` within its kind.
  var kind = 0u;
  var head = g;
  var base = params.q_b + g * hd;
  var wv = params.v_q_norm;
  if (g >= H && g < H + KV) {
    kind = 1u;
    head = g - H;
    base = params.k_b + head * hd;
    wv = params.v_k_norm;
  } else if (g >= H + KV) {
    kind = 2u;
    head = g - H - KV;
    base = params.v_b + head * hd;
  }
  var s = 0.0;
  for (var i = lid; i < hd; i += WG) {
    let x = arena_b[base + i];
    s += x * x;
  }
  let den = rms_den(workgroup_sum(s, lid), hd);
  let slot = params.pos0 % params.capacity;
  let dst = (head * params.capacity + slot) * hd;
  if (kind == 2u) {
    for (var i = lid; i < hd; i += WG) {
      v_cache[dst + i] = arena_b[base + i] / den;
    }
    return;
  }
  for (var i = lid; i < hd; i += WG) {
    arena_b[base + i] = arena_b[base + i] / den * vecs[wv + i];
  }
  storageBarrier();
  // RoPE: pair (j, j + half) at angle pos0 * inv_freq[j], as rope.wgsl computes it.
  var lo = array<f32, 2>(0.0, 0.0);
  var hi = array<f32, 2>(0.0, 0.0);
  var m = 0u;
  for (var j = lid; j < half; j += WG) {
    let sc = sin_cos(max(f32(params.pos0) * inv_freq[j], 0.0));
    let x0 = arena_b[base + j];
    let x1 = arena_b[base + j + half];
    lo[m] = x0 * sc.y - x1 * sc.x;
    hi[m] = x1 * sc.y + x0 * sc.x;
    m++;
  }
  storageBarrier();
  m = 0u;
  for (var j = lid; j < half; j += WG) {
    if (kind == 0u) {
      arena_b[base + j] = lo[m];
      arena_b[base + j + half] = hi[m];
    } else {
      k_cache[dst + j] = lo[m];
      k_cache[dst + j + half] = hi[m];
    }
    m++;
  }
}
