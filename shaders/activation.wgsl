// Pointwise activations of the Gemma 3n decoder, f32:
//   gelu:          out = gelu_tanh(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
//   geglu:         out[r*cols + j] = gelu_tanh(gate[r*cols + j]) * up[r*up_stride + up_offset + j]
//   gaussian_top_k (activation sparsity, one workgroup per row):
//                  out[r, :] = max(x[r, :] - (mean + z * std), 0), std the population std (/ cols)
//   softcap:       out = cap * tanh(x / cap); NaN where x is NaN or +-inf (a fault is never capped away)
// gelu_tanh is evaluated as x * sigmoid(2u) = x / (1 + exp(-2u)), an identity of the tanh form that
// has no cancellation for negative x; u uses x clamped to [-20, 20] and exp's argument is clamped,
// so no step overflows; x < -20 gives 0 (the true value is below the smallest f32 there).
// tanh is computed here (cephes tanhf: an odd polynomial below 0.625, 1 - 2 / (exp(2|v|) + 1)
// above, with |v| clamped at 10 where tanh is 1 in f32) instead of the builtin, whose accuracy is
// loosely specified and which returns NaN for large arguments on some drivers.
// gaussian_top_k takes the mean first and then the mean squared deviation (two reductions), so
// the variance has no cancellation.
//
// Bindings (group 0):
//   0 params  uniform Params
//   1 x       storage, read        input of the out-of-place entry points ([rows, 2 * cols] for glu)
//   2 gate    storage, read        [rows * cols] gate of geglu
//   3 up      storage, read        up of geglu, row r at r * up_stride + up_offset
//   4 out     storage, read_write  output (in another buffer than the inputs)
//   5 io      storage, read_write  input and output of the `_inplace` entry points (x, or gate for geglu)
// Params: n = elements (gelu, softcap, geglu: rows * cols); rows, cols (gaussian_top_k, geglu);
//         up_stride, up_offset (geglu); z = Phi^-1(sparsity) (gaussian_top_k); cap (softcap, clip);
//         glu: n = rows * cols outputs, cols = output width.
// Grid: pointwise entries 1-D over n in workgroups of WG, gaussian_top_k one workgroup per row;
// both folded into 2-D past the per-dimension limit (linear index wid.x + wid.y * nwg.x).
// Assumes WG is a power of two.

struct Params {
  n: u32,
  rows: u32,
  cols: u32,
  up_stride: u32,
  up_offset: u32,
  z: f32,
  cap: f32,
  _pad: u32,
}

override WG: u32 = 256;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gate: array<f32>;
@group(0) @binding(3) var<storage, read> up: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> io: array<f32>;

// #include "gelu_tanh.wgsl"

// #include "tanh_safe.wgsl"

// A non-finite input stays non-finite (a quiet NaN made from its bits): capping it to +-cap would hide
// a fault from the sampler, which flags NaN logits.
fn softcap_value(v: f32) -> f32 {
  let b = bitcast<u32>(v);
  if ((b & 0x7f800000u) == 0x7f800000u) { return bitcast<f32>(b | 0x7fc00000u); }
  return params.cap * tanh_safe(v / params.cap);
}

fn sigmoid(v: f32) -> f32 {
  return 1.0 / (1.0 + exp(min(-v, 80.0)));
}

fn silu_value(v: f32) -> f32 {
  return select(v * sigmoid(v), 0.0, v < -80.0);
}

fn clip_value(v: f32) -> f32 {
  return clamp(v, -params.cap, params.cap);
}

fn linear_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WG + lid;
}

fn up_index(i: u32) -> u32 {
  return (i / params.cols) * params.up_stride + params.up_offset + i % params.cols;
}

// #include "workgroup_sum.wgsl"

@compute @workgroup_size(WG)
fn gelu(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= params.n) { return; }
  out[i] = gelu_tanh(x[i]);
}

@compute @workgroup_size(WG)
fn gelu_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= params.n) { return; }
  io[i] = gelu_tanh(io[i]);
}

@compute @workgroup_size(WG)
fn geglu(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= params.n) { return; }
  out[i] = gelu_tanh(gate[i]) * up[up_index(i)];
}

@compute @workgroup_size(WG)
fn geglu_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= params.n) { return; }
  io[i] = gelu_tanh(io[i]) * up[up_index(i)];
}

@compute @workgroup_size(WG)
fn softcap(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= params.n) { return; }
  out[i] = softcap_value(x[i]);
}

@compute @workgroup_size(WG)
fn softcap_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= params.n) { return; }
  io[i] = softcap_value(io[i]);
}

@compute @workgroup_size(WG)
fn gaussian_top_k(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= params.rows) { return; }
  let base = row * params.cols;
  let inv_cols = 1.0 / f32(params.cols);
  var s = 0.0;
  for (var j = lid; j < params.cols; j += WG) { s += x[base + j]; }
  let mean = workgroup_sum(s, lid) * inv_cols;
  var d2 = 0.0;
  for (var j = lid; j < params.cols; j += WG) {
    let d = x[base + j] - mean;
    d2 += d * d;
  }
  let threshold = mean + params.z * sqrt(workgroup_sum(d2, lid) * inv_cols);
  for (var j = lid; j < params.cols; j += WG) { out[base + j] = max(x[base + j] - threshold, 0.0); }
}

@compute @workgroup_size(WG)
fn gaussian_top_k_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= params.rows) { return; }
  let base = row * params.cols;
  let inv_cols = 1.0 / f32(params.cols);
  var s = 0.0;
  for (var j = lid; j < params.cols; j += WG) { s += io[base + j]; }
  let mean = workgroup_sum(s, lid) * inv_cols;
  var d2 = 0.0;
  for (var j = lid; j < params.cols; j += WG) {
    let d = io[base + j] - mean;
    d2 += d * d;
  }
  let threshold = mean + params.z * sqrt(workgroup_sum(d2, lid) * inv_cols);
  for (var j = lid; j < params.cols; j += WG) { io[base + j] = max(io[base + j] - threshold, 0.0); }
}

@compute @workgroup_size(WG)
fn silu(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= params.n) { return; }
  out[i] = silu_value(x[i]);
}

@compute @workgroup_size(WG)
fn silu_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= params.n) { return; }
  io[i] = silu_value(io[i]);
}

@compute @workgroup_size(WG)
fn relu(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= params.n) { return; }
  out[i] = max(x[i], 0.0);
}

@compute @workgroup_size(WG)
fn relu_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= params.n) { return; }
  io[i] = max(io[i], 0.0);
}

@compute @workgroup_size(WG)
fn clip(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= params.n) { return; }
  out[i] = clip_value(x[i]);
}

@compute @workgroup_size(WG)
fn clip_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= params.n) { return; }
  io[i] = clip_value(io[i]);
}

@compute @workgroup_size(WG)
fn glu(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= params.n) { return; }
  let r = i / params.cols;
  let j = i % params.cols;
  let base = r * 2u * params.cols;
  out[i] = x[base + j] * sigmoid(x[base + params.cols + j]);
}
