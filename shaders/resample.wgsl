// Spatial resampling of channels-last f32 maps [h, w, c] (the vision tower's multi-scale fusion):
//   resize_nearest:  out[oy, ox, ch] = x[floor(oy * in_h / out_h), floor(ox * in_w / out_w), ch]
//                    (exact integer floor; a 2x upsample reads x[oy / 2, ox / 2])
//   avg_pool:        out[oy, ox, ch] = mean of x[oy * kh + i, ox * kw + j, ch], i < kh, j < kw
//                    (window k x k, stride k, no padding: the caller passes out = floor(in / k))
//   resize_bilinear: torch interpolate(mode='bilinear', align_corners=False), no antialias: per axis
//                    src = max((o + 0.5) * in / out - 0.5, 0), i0 = min(floor(src), in - 1),
//                    i1 = min(i0 + 1, in - 1), l = src - i0; rows blended first, then columns.
// Every entry point writes channel ch of output pixel p at out[p * out_c_stride + out_c_offset + ch], so a
// map can land in a channel slice of a wider one (channel concatenation).
//
// Bindings (group 0):
//   0 params  uniform Params
//   1 x       storage, read        [in_h, in_w, c] f32
//   2 out     storage, read_write  [out_h, out_w, out_c_stride] f32 (another buffer than x)
// Params: in_h, in_w, c, out_h, out_w, out_c_stride, out_c_offset, kh, kw (avg_pool).
// Grid: 1-D over out_h * out_w * c invocations in workgroups of WG, folded into 2-D past the
// per-dimension limit (index wid.x + wid.y * nwg.x).

struct Params {
  in_h: u32,
  in_w: u32,
  c: u32,
  out_h: u32,
  out_w: u32,
  out_c_stride: u32,
  out_c_offset: u32,
  kh: u32,
  kw: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

override WG: u32 = 256;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

struct Site {
  oy: u32,
  ox: u32,
  ch: u32,
  dst: u32,
}

// The output element of invocation t, or oy == out_h past the end.
fn site(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> Site {
  let t = (wid.x + wid.y * nwg.x) * WG + lid;
  let pix = t / params.c;
  let ch = t % params.c;
  let oy = min(pix / params.out_w, params.out_h);
  let ox = pix % params.out_w;
  return Site(oy, ox, ch, pix * params.out_c_stride + params.out_c_offset + ch);
}

fn at(y: u32, xx: u32, ch: u32) -> f32 {
  return x[(y * params.in_w + xx) * params.c + ch];
}

@compute @workgroup_size(WG)
fn resize_nearest(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let s = site(wid, nwg, lid);
  if (s.oy >= params.out_h) { return; }
  out[s.dst] = at(s.oy * params.in_h / params.out_h, s.ox * params.in_w / params.out_w, s.ch);
}

@compute @workgroup_size(WG)
fn avg_pool(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let s = site(wid, nwg, lid);
  if (s.oy >= params.out_h) { return; }
  var acc = 0.0;
  for (var i = 0u; i < params.kh; i++) {
    for (var j = 0u; j < params.kw; j++) {
      acc += at(s.oy * params.kh + i, s.ox * params.kw + j, s.ch);
    }
  }
  out[s.dst] = acc / f32(params.kh * params.kw);
}

// Source index pair and weight of output coordinate o along an axis of in -> out samples.
fn bilinear_axis(o: u32, n_in: u32, n_out: u32) -> vec3<f32> {
  let src = max((f32(o) + 0.5) * (f32(n_in) / f32(n_out)) - 0.5, 0.0);
  let i0 = min(u32(floor(src)), n_in - 1u);
  let i1 = min(i0 + 1u, n_in - 1u);
  return vec3<f32>(f32(i0), f32(i1), src - f32(i0));
}

@compute @workgroup_size(WG)
fn resize_bilinear(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let s = site(wid, nwg, lid);
  if (s.oy >= params.out_h) { return; }
  let h = bilinear_axis(s.oy, params.in_h, params.out_h);
  let w = bilinear_axis(s.ox, params.in_w, params.out_w);
  let y0 = u32(h.x);
  let y1 = u32(h.y);
  let x0 = u32(w.x);
  let x1 = u32(w.y);
  let left = at(y0, x0, s.ch) * (1.0 - h.z) + at(y1, x0, s.ch) * h.z;
  let right = at(y0, x1, s.ch) * (1.0 - h.z) + at(y1, x1, s.ch) * h.z;
  out[s.dst] = left * (1.0 - w.z) + right * w.z;
}
