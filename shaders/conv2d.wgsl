// 2-D convolution over channels-last f32 activations (the MobileNet-V5 vision tower, the audio
// sub-sample convolutions):
//   out[oy, ox, oc] = bias[oc] + sum_{ky, kx, i < in_c / groups}
//                     w[oc, i, ky, kx] * x[oy * stride_h - pad_top + ky, ox * stride_w - pad_left + kx, g * icg + i]
// with g = oc / (out_c / groups), icg = in_c / groups and x = 0 outside [0, in_h) x [0, in_w) (zero
// padding; the bottom/right padding follows from out_h, out_w). w keeps the checkpoint layout
// [out_c, in_c / groups, kh, kw] in f32, bf16 or f16 (DTYPE, weight_formats.wgsl, appended by
// packages/kernels/src/conv2d.ts); sums are f32 in (ky, kx, i) order.
//
// conv2d: each invocation computes OCT = 4 consecutive output channels of PXT = 4 neighbouring output
// pixels of one row. Where the four channels share one group (always for groups = 1), each weight is
// loaded once for the four pixels and each input value once for the four channels; otherwise (small
// groups) each channel of each pixel runs its own loop.
// conv2d_depthwise (groups == in_c == out_c): one invocation per (pixel, channel); neighbouring
// invocations read neighbouring channels of x and out.
//
// Bindings (group 0):
//   0 params  uniform Params
//   1 x       storage, read        [in_h, in_w, in_c] f32
//   2 w       storage, read        [out_c, in_c / groups, kh, kw], DTYPE storage (u32 words)
//   3 bias    storage, read        [out_c] f32, read only when has_bias != 0
//   4 out     storage, read_write  [out_h, out_w, out_c] f32
// Params: in_h, in_w, in_c, out_c, kh, kw, stride_h, stride_w, pad_top, pad_left, out_h, out_w, groups,
//         oc_blocks = ceil(out_c / OCT) (conv2d), has_bias.
// Grid: 1-D over out_h * ceil(out_w / PXT) * oc_blocks (conv2d) or out_h * out_w * out_c (depthwise) invocations in
// workgroups of WG, folded into 2-D past the per-dimension limit (index wid.x + wid.y * nwg.x).
// DTYPE is 0 (f32), 1 (bf16) or 2 (f16); 16-bit weights are two per word, the low half first.

struct Params {
  in_h: u32,
  in_w: u32,
  in_c: u32,
  out_c: u32,
  kh: u32,
  kw: u32,
  stride_h: u32,
  stride_w: u32,
  pad_top: u32,
  pad_left: u32,
  out_h: u32,
  out_w: u32,
  groups: u32,
  oc_blocks: u32,
  has_bias: u32,
  _pad: u32,
}

override WG: u32 = 64;
override DTYPE: u32 = 0u;

const OCT: u32 = 4u;
const PXT: u32 = 4u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
// Declared for weight_formats.wgsl's scale_of (quantized weights); never used by these entry points.
@group(0) @binding(5) var<storage, read> scales: array<u32>;

// Weight element e of the flat checkpoint layout.
fn weight(e: u32) -> f32 {
  if (DTYPE == F32) { return bitcast<f32>(w[e]); }
  return pair(w[e >> 1u])[e & 1u];
}

fn bias_of(oc: u32) -> f32 {
  return select(0.0, bias[oc], params.has_bias != 0u);
}

// Input row/column of kernel tap k for output coordinate o, as i32 (negative inside the padding).
fn tap(o: u32, stride: u32, pad: u32, k: u32) -> i32 {
  return i32(o * stride + k) - i32(pad);
}

// One output channel `oc` at pixel (oy, ox), its own loop over its group's input channels.
fn conv_one(oy: u32, ox: u32, oc: u32) -> f32 {
  let icg = params.in_c / params.groups;
  let ocg = params.out_c / params.groups;
  let c0 = (oc / ocg) * icg;
  var acc = bias_of(oc);
  for (var ky = 0u; ky < params.kh; ky++) {
    let iy = tap(oy, params.stride_h, params.pad_top, ky);
    if (iy < 0 || iy >= i32(params.in_h)) { continue; }
    for (var kx = 0u; kx < params.kw; kx++) {
      let ix = tap(ox, params.stride_w, params.pad_left, kx);
      if (ix < 0 || ix >= i32(params.in_w)) { continue; }
      let xb = (u32(iy) * params.in_w + u32(ix)) * params.in_c + c0;
      let wb = oc * icg * params.kh * params.kw + ky * params.kw + kx;
      let wstep = params.kh * params.kw;
      for (var i = 0u; i < icg; i++) {
        acc += weight(wb + i * wstep) * x[xb + i];
      }
    }
  }
  return acc;
}

@compute @workgroup_size(WG)
fn conv2d(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = (wid.x + wid.y * nwg.x) * WG + lid;
  let quads = (params.out_w + PXT - 1u) / PXT;
  if (t >= params.out_h * quads * params.oc_blocks) { return; }
  let oc0 = (t % params.oc_blocks) * OCT;
  let q = t / params.oc_blocks;
  let oy = q / quads;
  let ox0 = (q % quads) * PXT;
  let npx = min(PXT, params.out_w - ox0);
  let ocg = params.out_c / params.groups;
  let last = oc0 + OCT - 1u;
  if (last >= params.out_c || oc0 / ocg != last / ocg) {
    for (var p = 0u; p < npx; p++) {
      let ob = (oy * params.out_w + ox0 + p) * params.out_c;
      for (var j = 0u; j < OCT; j++) {
        let oc = oc0 + j;
        if (oc < params.out_c) { out[ob + oc] = conv_one(oy, ox0 + p, oc); }
      }
    }
    return;
  }
  // Four channels of one group at PXT = 4 neighbouring pixels: each weight is loaded once for the four
  // pixels and each input value once for the four channels.
  let icg = params.in_c / params.groups;
  let c0 = (oc0 / ocg) * icg;
  let wstep = params.kh * params.kw;
  let wrow = icg * wstep;
  let b = vec4<f32>(bias_of(oc0), bias_of(oc0 + 1u), bias_of(oc0 + 2u), bias_of(oc0 + 3u));
  var acc0 = b;
  var acc1 = b;
  var acc2 = b;
  var acc3 = b;
  for (var ky = 0u; ky < params.kh; ky++) {
    let iy = tap(oy, params.stride_h, params.pad_top, ky);
    if (iy < 0 || iy >= i32(params.in_h)) { continue; }
    for (var kx = 0u; kx < params.kw; kx++) {
      // Input column of pixel p is ix0 + p * stride_w; a column outside the input reads as 0.
      let ix0 = tap(ox0, params.stride_w, params.pad_left, kx);
      let sx = i32(params.stride_w);
      let row = u32(iy) * params.in_w;
      var xb = vec4<u32>(0u);
      var live = vec4<bool>(false);
      for (var p = 0u; p < PXT; p++) {
        let ix = ix0 + i32(p) * sx;
        let ok = p < npx && ix >= 0 && ix < i32(params.in_w);
        live[p] = ok;
        xb[p] = select(0u, (row + u32(ix)) * params.in_c + c0, ok);
      }
      var wb = oc0 * wrow + ky * params.kw + kx;
      for (var i = 0u; i < icg; i++) {
        let wv = vec4<f32>(weight(wb), weight(wb + wrow), weight(wb + 2u * wrow), weight(wb + 3u * wrow));
        acc0 += select(0.0, x[xb.x + i], live.x) * wv;
        acc1 += select(0.0, x[xb.y + i], live.y) * wv;
        acc2 += select(0.0, x[xb.z + i], live.z) * wv;
        acc3 += select(0.0, x[xb.w + i], live.w) * wv;
        wb += wstep;
      }
    }
  }
  let ob = (oy * params.out_w + ox0) * params.out_c + oc0;
  let ps = params.out_c;
  out[ob] = acc0.x;
  out[ob + 1u] = acc0.y;
  out[ob + 2u] = acc0.z;
  out[ob + 3u] = acc0.w;
  if (npx > 1u) {
    out[ob + ps] = acc1.x;
    out[ob + ps + 1u] = acc1.y;
    out[ob + ps + 2u] = acc1.z;
    out[ob + ps + 3u] = acc1.w;
  }
  if (npx > 2u) {
    out[ob + 2u * ps] = acc2.x;
    out[ob + 2u * ps + 1u] = acc2.y;
    out[ob + 2u * ps + 2u] = acc2.z;
    out[ob + 2u * ps + 3u] = acc2.w;
  }
  if (npx > 3u) {
    out[ob + 3u * ps] = acc3.x;
    out[ob + 3u * ps + 1u] = acc3.y;
    out[ob + 3u * ps + 2u] = acc3.z;
    out[ob + 3u * ps + 3u] = acc3.w;
  }
}

@compute @workgroup_size(WG)
fn conv2d_depthwise(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = (wid.x + wid.y * nwg.x) * WG + lid;
  let c = params.out_c;
  if (t >= params.out_h * params.out_w * c) { return; }
  let oc = t % c;
  let pix = t / c;
  let oy = pix / params.out_w;
  let ox = pix % params.out_w;
  // groups == in_c == out_c: conv_one reads the channel's one input channel, in the same order.
  out[t] = conv_one(oy, ox, oc);
}
