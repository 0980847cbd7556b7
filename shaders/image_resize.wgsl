// Image resize of the Gemma 3n processor: RGBA8 in, CHW f32 [3, out_h, out_w] in [0, 1] out.
// Antialiased bilinear as Pillow's resample does it: a separable triangle filter; for output
// sample i of an axis scaled by s = in / out, centre c = (i + 0.5) * s, support f = max(s, 1),
// taps j in [trunc(c - f + 0.5), trunc(c + f + 0.5)) clipped to the image, weights
// tri((j - c + 0.5) / f) with tri(t) = max(1 - |t|, 0), normalised to sum 1 (the sum is divided
// by the total weight). Two passes, each rounded to 8 bits (floor(v + 0.5), clamped to [0, 255]):
//   resize_horizontal: mid[y, x]    = round(sum_j w_x(j) * src[y, j])     for y < in_h, x < out_w
//   resize_vertical:   out[c, y, x] = round(sum_j w_y(j) * mid[j, x]) / 255 for y < out_h, x < out_w
// Taps and weights are computed per thread from the uniforms (scale, support), so the sizes are
// never baked into the pipeline. Alpha is dropped (the processor converts to RGB).
//
// Bindings (group 0):
//   0 params  uniform Params
//   1 src     storage, read        RGBA8 packed in u32 (R in the low byte), row y at y * row_stride
//   2 mid     storage, read_write  [in_h, out_w] u32, RGB8 packed (R in the low byte): the horizontal pass
//   3 out     storage, read_write  [3, out_h, out_w] f32
// Params: in_w, in_h: input size; row_stride: u32 words (pixels) between input rows (>= in_w;
//         a texture copied to a buffer has rows padded to 256 bytes); out_w, out_h: output size;
//         scale_x = in_w / out_w, scale_y = in_h / out_h (f32).
// Grid: WG_X x WG_Y threads per workgroup over (x, y) of the pass's output; threads past it return.

struct Params {
  in_w: u32,
  in_h: u32,
  row_stride: u32,
  out_w: u32,
  out_h: u32,
  scale_x: f32,
  scale_y: f32,
  _pad: u32,
}

override WG_X: u32 = 16;
override WG_Y: u32 = 16;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> mid: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// The taps of one output sample along an axis: [lo, hi), the centre and 1 / support.
struct Taps {
  lo: u32,
  hi: u32,
  centre: f32,
  inv_support: f32,
}

fn taps(i: u32, scale: f32, in_size: u32) -> Taps {
  let support = max(scale, 1.0);
  let centre = (f32(i) + 0.5) * scale;
  let lo = u32(max(i32(centre - support + 0.5), 0));
  let hi = min(u32(max(i32(centre + support + 0.5), 0)), in_size);
  return Taps(lo, hi, centre, 1.0 / support);
}

fn weight(t: Taps, j: u32) -> f32 {
  return max(1.0 - abs((f32(j) - t.centre + 0.5) * t.inv_support), 0.0);
}

fn rgb8(w: u32) -> vec3<f32> {
  return vec3<f32>(f32(w & 0xffu), f32((w >> 8u) & 0xffu), f32((w >> 16u) & 0xffu));
}

fn round8(v: vec3<f32>) -> vec3<u32> {
  return vec3<u32>(clamp(floor(v + vec3<f32>(0.5)), vec3<f32>(0.0), vec3<f32>(255.0)));
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn resize_horizontal(@builtin(global_invocation_id) gid: vec3<u32>) {
  let x = gid.x;
  let y = gid.y;
  if (x >= params.out_w || y >= params.in_h) {
    return;
  }
  let t = taps(x, params.scale_x, params.in_w);
  let row = y * params.row_stride;
  var sum = vec3<f32>(0.0);
  var total = 0.0;
  for (var j = t.lo; j < t.hi; j++) {
    let w = weight(t, j);
    sum += w * rgb8(src[row + j]);
    total += w;
  }
  let v = round8(sum / total);
  mid[y * params.out_w + x] = v.x | (v.y << 8u) | (v.z << 16u);
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn resize_vertical(@builtin(global_invocation_id) gid: vec3<u32>) {
  let x = gid.x;
  let y = gid.y;
  if (x >= params.out_w || y >= params.out_h) {
    return;
  }
  let t = taps(y, params.scale_y, params.in_h);
  var sum = vec3<f32>(0.0);
  var total = 0.0;
  for (var j = t.lo; j < t.hi; j++) {
    let w = weight(t, j);
    sum += w * rgb8(mid[j * params.out_w + x]);
    total += w;
  }
  let v = vec3<f32>(round8(sum / total)) / 255.0;
  let plane = params.out_w * params.out_h;
  let at = y * params.out_w + x;
  out[at] = v.x;
  out[plane + at] = v.y;
  out[2u * plane + at] = v.z;
}
