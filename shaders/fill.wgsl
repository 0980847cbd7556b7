// Deterministic pseudo-random fill of a buffer, word by word: the synthetic weights of benchmark
// models are generated on the device, so that a full-size model needs no download and no copy in
// host memory.
//
// Algorithm: word i gets h = pcg(i + pcg(seed)) (the PCG hash of Jarzynski & Olano, "Hash
// Functions for GPU Rendering", 2020) and, when it holds two values, h2 = pcg(h). A value u in
// [0, 1) is (h >> 8) / 2^24. What is written depends on `mode`:
//   0 f32:        bitcast(amp * (2u - 1))
//   1 bf16 pair:  two values amp * (2u - 1), each truncated to its high 16 bits, the first in the low half
//   2 f16 pair:   pack2x16float of two values amp * (2u - 1)
//   3 raw bits:   h (q8 / q4 codes: every bit pattern is a valid code)
//   4 f16 scales: pack2x16float of two values amp * (0.5 + 0.5u), positive group scales
//
// Bindings (group 0): params (uniform Params), out (read_write u32 words).
// Params: words = number of u32 words to write, mode (above), seed, amp.
// Grid: 1-D over words in workgroups of WG, folded into 2-D past the per-dimension limit; the
// linear workgroup index is wid.x + wid.y * nwg.x.
// Assumes amp is finite and, for modes 2 and 4, below the f16 range (65504).

struct Params {
  words: u32,
  mode: u32,
  seed: u32,
  amp: f32,
}

override WG: u32 = 256;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;

fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

fn unit(h: u32) -> f32 {
  return f32(h >> 8u) * (1.0 / 16777216.0);
}

fn signed(h: u32) -> f32 {
  return params.amp * (2.0 * unit(h) - 1.0);
}

@compute @workgroup_size(WG)
fn fill_random(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= params.words) { return; }
  let h = pcg(i + pcg(params.seed));
  let h2 = pcg(h);
  switch (params.mode) {
    case 0u: { out[i] = bitcast<u32>(signed(h)); }
    case 1u: { out[i] = (bitcast<u32>(signed(h)) >> 16u) | (bitcast<u32>(signed(h2)) & 0xffff0000u); }
    case 2u: { out[i] = pack2x16float(vec2<f32>(signed(h), signed(h2))); }
    case 4u: { out[i] = pack2x16float(params.amp * (0.5 + 0.5 * vec2<f32>(unit(h), unit(h2)))); }
    default: { out[i] = h; }
  }
}
