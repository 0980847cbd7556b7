// AltUp (alternating updates) stream kernels of the Gemma 3n decoder. The n residual streams of T
// tokens live in one buffer, stream k at element offset k * stride (stride >= T * D, padded so each
// stream view stays 256-byte aligned).
//
// Entry points:
//   predict:   pred[k][t] = X[k][t] + sum_j coefs[t, k*n + j] * X[j][t]          (spec §3.4 step 1)
//   correct:   Y[k][t] = pred[k][t] + (cc[t, k] + 1) * (act[t] - pred[active][t])  (spec §3.4 step 7)
//   add_rest:  X[k][t] += v[t] for every stream k != active                         (spec §3.4 step 8)
//   rescale:   out[t] = y[t] * rms(ref[t]) / sqrt(max(mean(y[t]^2), 1e-5))          (spec §3.3, §3.6)
//   tanh_inplace: x = tanh(x)                                                       (router modalities)
// Bindings (group 0): params; streams/pred/x (read or read_write per entry); coefs; act; v; y; ref; out.
// Params: n_streams, tokens (T), dim (D), stride, active_idx, count (elements for tanh_inplace).
// Grid: predict/correct/add_rest/tanh: 1-D over T*D (or count) elements, folded to 2-D. rescale: one
// workgroup per token (row), folded to 2-D, WG threads reduce over D.

struct Params {
  n_streams: u32,
  tokens: u32,
  dim: u32,
  stride: u32,
  active_idx: u32,
  count: u32,
  _pad0: u32,
  _pad1: u32,
}

override WG: u32 = 256;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> streams: array<f32>;
@group(0) @binding(2) var<storage, read> coefs: array<f32>;
@group(0) @binding(3) var<storage, read_write> pred: array<f32>;
@group(0) @binding(4) var<storage, read> act: array<f32>;
@group(0) @binding(5) var<storage, read> cc: array<f32>;
@group(0) @binding(6) var<storage, read_write> x: array<f32>;
@group(0) @binding(7) var<storage, read> v: array<f32>;
@group(0) @binding(8) var<storage, read> y: array<f32>;
@group(0) @binding(9) var<storage, read> ref_rows: array<f32>;
@group(0) @binding(10) var<storage, read_write> out: array<f32>;
@group(0) @binding(11) var<storage, read> pred_in: array<f32>;

var<workgroup> partial: array<vec2<f32>, WG>;

fn linear_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WG + lid;
}

@compute @workgroup_size(WG)
fn predict(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  let n = params.n_streams;
  if (i >= params.tokens * params.dim) { return; }
  let t = i / params.dim;
  for (var k = 0u; k < n; k++) {
    var acc = streams[k * params.stride + i];
    for (var j = 0u; j < n; j++) {
      acc += coefs[t * n * n + k * n + j] * streams[j * params.stride + i];
    }
    pred[k * params.stride + i] = acc;
  }
}

@compute @workgroup_size(WG)
fn correct(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  let n = params.n_streams;
  if (i >= params.tokens * params.dim) { return; }
  let t = i / params.dim;
  let innovation = act[i] - pred_in[params.active_idx * params.stride + i];
  for (var k = 0u; k < n; k++) {
    x[k * params.stride + i] = pred_in[k * params.stride + i] + (cc[t * n + k] + 1.0) * innovation;
  }
}

@compute @workgroup_size(WG)
fn add_rest(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= params.tokens * params.dim) { return; }
  let add = v[i];
  for (var k = 0u; k < params.n_streams; k++) {
    if (k != params.active_idx) {
      x[k * params.stride + i] = x[k * params.stride + i] + add;
    }
  }
}

@compute @workgroup_size(WG)
fn tanh_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= params.count) { return; }
  // tanh saturates to +-1 well before |x| = 15; clamping keeps drivers that compute it via exp finite.
  x[i] = tanh(clamp(x[i], -15.0, 15.0));
}

@compute @workgroup_size(WG)
fn rescale(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= params.tokens) { return; }
  let base = row * params.dim;
  var s = vec2<f32>(0.0, 0.0);
  for (var c = lid; c < params.dim; c += WG) {
    let a = y[base + c];
    let r = ref_rows[base + c];
    s += vec2<f32>(a * a, r * r);
  }
  partial[lid] = s;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w /= 2u) {
    if (lid < w) { partial[lid] += partial[lid + w]; }
    workgroupBarrier();
  }
  let d = f32(params.dim);
  let mean_sq = partial[0] / d;
  let factor = sqrt(mean_sq.y) / sqrt(max(mean_sq.x, 1e-5));
  for (var c = lid; c < params.dim; c += WG) {
    out[base + c] = y[base + c] * factor;
  }
}
