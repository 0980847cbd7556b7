// Rotary position embedding, half-split (NeoX / rotate-half) form, on x [rows (tokens), heads, head_dim]:
//   token t has position pos = pos0 + t; for j < h = head_dim / 2, a = f32(pos) * inv_freq[j]:
//   out[j]     = x[j] cos a - x[j + h] sin a
//   out[j + h] = x[j + h] cos a + x[j] sin a
// inv_freq is a table computed once on the CPU exactly as the Hugging Face reference does
// (rope_inv_freq: theta^(-f32(2j) / f32(head_dim)) rounded to f32), and the angle is the f32
// product, also as the reference. sin/cos of that f32 angle are computed here rather than with the
// builtins, whose accuracy is only specified on [-pi, pi] (2^-11 absolute): Cody-Waite reduction by
// pi/2 in four parts (the first three with 7 significant bits, so k * part is exact for k < 2^17)
// and minimax polynomials on [-pi/4, pi/4]. Accurate for positions below 2^17 (|angle| < 2^17).
//
// Bindings (group 0):
//   0 params    uniform Params
//   1 inv_freq  storage, read        [half] f32
//   2 x         storage, read        [rows * heads * head_dim] input (out-of-place entry point)
//   3 out       storage, read_write  [rows * heads * head_dim] output (out-of-place entry point)
//   4 io        storage, read_write  [rows * heads * head_dim] input and output (`rope_inplace`)
// Params: rows (tokens), heads, half (= head_dim / 2), pos0 (position of token 0; changes every
// decode step).
// Grid: one invocation per rotated pair (rows * heads * half), 1-D in workgroups of WG, folded into
// 2-D past the per-dimension limit (linear workgroup index wid.x + wid.y * nwg.x).

struct Params {
  rows: u32,
  heads: u32,
  half: u32,
  pos0: u32,
}

override WG: u32 = 256;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> inv_freq: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> io: array<f32>;

// #include "sin_cos.wgsl"

struct Pair {
  lo: u32,
  sc: vec2<f32>,
}

// Index of x[j] for invocation i and the (sin, cos) of its angle.
fn pair(i: u32) -> Pair {
  let j = i % params.half;
  let th = i / params.half;
  let t = th / params.heads;
  // max(., 0) keeps the product rounded to f32 as the reference does (it blocks contracting the
  // multiply into the reduction's first subtraction as an FMA); angles are never negative.
  let a = max(f32(params.pos0 + t) * inv_freq[j], 0.0);
  return Pair(th * 2u * params.half + j, sin_cos(a));
}

@compute @workgroup_size(WG)
fn rope(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= params.rows * params.heads * params.half) { return; }
  let p = pair(i);
  let x0 = x[p.lo];
  let x1 = x[p.lo + params.half];
  out[p.lo] = x0 * p.sc.y - x1 * p.sc.x;
  out[p.lo + params.half] = x1 * p.sc.y + x0 * p.sc.x;
}

@compute @workgroup_size(WG)
fn rope_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= params.rows * params.heads * params.half) { return; }
  let p = pair(i);
  let x0 = io[p.lo];
  let x1 = io[p.lo + params.half];
  io[p.lo] = x0 * p.sc.y - x1 * p.sc.x;
  io[p.lo + params.half] = x1 * p.sc.y + x0 * p.sc.x;
}
