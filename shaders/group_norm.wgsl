// Cumulative group norm, causal over time (Gemma 3n audio SSCP, spec §5.4), in place on a
// channels-last f32 tensor x [rows = T, row_len = F * C] whose channel is the index modulo C:
//   S_t = sum_{f,c} x[t],  N_t = (t + 1) * row_len,  mu_t = (sum_{t' <= t} S_t') / N_t
//   Q_t = sum_{f,c} (x[t] - mu_t)^2               (each step with its own running mean)
//   V_t = (sum_{t' <= t} Q_t') / N_t
//   x[t, f, c] = (x[t, f, c] - mu_t) / sqrt(V_t + eps) * weight[c]   then max(., 0) if relu != 0
// Three entry points, dispatched in order over the same buffers:
//   row_sums        stats[t] = S_t
//   row_deviations  stats[rows + t] = Q_t (mu_t from the prefix of stats[0 .. t])
//   normalize       the formula above (mu_t and V_t from the prefixes of both halves of stats)
// Every entry point runs one workgroup per time step; the prefix sums over t' <= t are reduced by the
// workgroup itself (O(T) per step, so no separate scan pass), in f32.
//
// Bindings (group 0):
//   0 params  uniform Params
//   1 x       storage, read_write  [rows * row_len] input, normalized in place
//   2 weight  storage, read        [channels] per-channel scale (no bias)
//   3 stats   storage, read_write  [2 * rows] scratch: row sums, then squared deviations
// Params: rows (time steps), row_len (F * C), channels (C, divides row_len), relu (0 or 1), eps.
// Grid: one workgroup per time step, folded into 2-D past the per-dimension limit
// (t = wid.x + wid.y * nwg.x; workgroups past `rows` return). Assumes WG is a power of two.

struct Params {
  rows: u32,
  row_len: u32,
  channels: u32,
  relu: u32,
  eps: f32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

override WG: u32 = 256;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;

// #include "workgroup_sum.wgsl"

// sum_{t' <= t} stats[base + t'] over the workgroup.
fn prefix(base: u32, t: u32, lid: u32) -> f32 {
  var s = 0.0;
  for (var i = lid; i <= t; i += WG) { s += stats[base + i]; }
  return workgroup_sum(s, lid);
}

fn count(t: u32) -> f32 {
  return f32(t + 1u) * f32(params.row_len);
}

@compute @workgroup_size(WG)
fn row_sums(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x + wid.y * nwg.x;
  if (t >= params.rows) { return; }
  let base = t * params.row_len;
  var s = 0.0;
  for (var j = lid; j < params.row_len; j += WG) { s += x[base + j]; }
  let total = workgroup_sum(s, lid);
  if (lid == 0u) { stats[t] = total; }
}

@compute @workgroup_size(WG)
fn row_deviations(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x + wid.y * nwg.x;
  if (t >= params.rows) { return; }
  let mean = prefix(0u, t, lid) / count(t);
  let base = t * params.row_len;
  var s = 0.0;
  for (var j = lid; j < params.row_len; j += WG) {
    let d = x[base + j] - mean;
    s += d * d;
  }
  let total = workgroup_sum(s, lid);
  if (lid == 0u) { stats[params.rows + t] = total; }
}

@compute @workgroup_size(WG)
fn normalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x + wid.y * nwg.x;
  if (t >= params.rows) { return; }
  let n = count(t);
  let mean = prefix(0u, t, lid) / n;
  let inv = inverseSqrt(prefix(params.rows, t, lid) / n + params.eps);
  let base = t * params.row_len;
  for (var j = lid; j < params.row_len; j += WG) {
    var y = (x[base + j] - mean) * inv * weight[j % params.channels];
    if (params.relu != 0u) { y = max(y, 0.0); }
    x[base + j] = y;
  }
}
