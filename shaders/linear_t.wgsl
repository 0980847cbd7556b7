// Linear layers on a transposed ("input-major") weight, for a sparse input: the FFN down_proj of a layer
// whose activation went through Gaussian top-k, where most x[i] are exactly zero and only the weights of
// the nonzero x[i] are needed, out[o] = sum_{i: x[i] != 0} x[i] * W[o, i]. In the Hugging Face layout
// W [out_features, in_features] those weights form scattered columns; transposed they are whole rows.
//
// The transposed layout: WT = W^T, a tensor of shape [in_features, out_features] with the dtype names of
// the standard layout (f32, bf16, f16, q8, q4). Element (i, o) (= W[o, i]) is element e = i * out_features + o
// of the codes, packed along `out` as the standard layout packs along a row: one f32 per word, bf16/f16
// two per u32 (e in word e >> 1, the low half when e is even), q8 four per u32 (byte e & 3 of word e >> 2),
// q4 eight per u32 (bits 4 * (e & 7) of word e >> 3). q8/q4 scales keep the standard groups (32
// consecutive input elements of one output row), so every dequantized value is bit-identical to W's; they
// are f16 pairs of shape [in_features / 32, out_features], the scale of (i, o) at index
// s = (i / 32) * out_features + o (word s >> 1, the low half when s is even). A transposed weight needs
// out_features % (elements per word) == 0 (so rows start on a word; q8/q4 rows then hold whole scale
// pairs) and, for q8/q4, in_features % 32 == 0.
//
// Entry points:
//   transpose   standard-layout `src` [rows = out_features, cols = in_features] -> transposed `dst`
//               [in_features, out_features]: an exact copy of every element's bits, one thread per word of
//               dst. Scales move with the same entry point: the scales of W are an f16 matrix
//               [out_features, in_features / 32] and theirs its f16 transpose (DTYPE = f16 with
//               in_features / 32 as in_features).
//   gather      one token, split over the input axis: workgroup (col_tile, split) owns WG storage words
//               of consecutive outputs (thread t the word col_tile * WG + t, so consecutive threads read
//               consecutive words of a row) and the inputs [split * chunk, split * chunk + chunk). Its
//               first threads each fold one 32-input block of x into a bit mask (bit j: x[b * 32 + j] != 0),
//               then every thread walks the blocks in order, skipping empty ones, and the set bits of each
//               in order: only the rows of nonzero x[i] are read, and a quantized group's scales only
//               where the group has a nonzero x. Within a block (one quantization group) the products
//               x[i] * q are summed per output, and that sum is multiplied by the output's group scale
//               (kept in registers, loaded once per block). The workgroup writes its partial sums,
//               f32, to partial[split * out_features + o].
//   gather_sum  out[out_offset + o] = sum over split = 0, 1, ... of partial[split * out_features + o], in
//               that order (deterministic), one thread per output.
//
// Bindings (group 0):
//   0 params   uniform Params
//   1 x        storage read        array<f32>  gather: the input row, in_features values
//   2 wt       storage read        array<u32>  gather: the transposed weight
//   3 scales   storage read        array<u32>  gather: q8/q4 transposed scales; f32/bf16/f16: unused (bind wt)
//   4 partial  storage read_write  array<f32>  gather writes, gather_sum reads: splits * out_features values
//   5 out      storage read_write  array<f32>  gather_sum
//   6 src      storage read        array<u32>  transpose: the standard-layout codes (or scales)
//   7 dst      storage read_write  array<u32>  transpose: the transposed codes (or scales)
// Params: in_features, out_features (of W), out_offset (gather_sum), chunk (inputs per split, a multiple
//   of 32, at most MAX_CHUNK), splits (= ceil(in_features / chunk)), col_tiles (= ceil(out_features /
//   (WG * elements per word)), gather).
// Overrides: DTYPE (0 f32, 1 bf16, 2 f16, 3 q8, 4 q4), WG threads per workgroup (gather: at least
//   MAX_CHUNK / 32, so every block has a mask thread).
// Grids, folded into 2-D (linear workgroup index wid.x + wid.y * nwg.x): transpose ceil(words of dst / WG);
//   gather col_tiles * splits (the column tile varies fastest); gather_sum ceil(out_features / WG).
// The format helpers (DTYPE codes, per_word, pair, q8x4, q4x4, scale_of) are in weight_formats.wgsl,
// included here:
// #include "weight_formats.wgsl"

struct Params {
  in_features: u32,
  out_features: u32,
  out_offset: u32,
  chunk: u32,
  splits: u32,
  col_tiles: u32,
  _pad0: u32,
  _pad1: u32,
}

const MAX_CHUNK = 1024u;

override DTYPE: u32 = 0u;
override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<u32>;
@group(0) @binding(3) var<storage, read> scales: array<u32>;
@group(0) @binding(4) var<storage, read_write> partial: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read> src: array<u32>;
@group(0) @binding(7) var<storage, read_write> dst: array<u32>;

// Bit masks of the 32-input blocks of a gather chunk.
var<workgroup> masks: array<u32, MAX_CHUNK / 32u>;

// The bits of element e of packed codes.
fn code_of(e: u32) -> u32 {
  let epw = per_word();
  if (epw == 1u) {
    return src[e];
  }
  let bits = 32u / epw;
  return (src[e / epw] >> (bits * (e % epw))) & ((1u << bits) - 1u);
}

@compute @workgroup_size(WG)
fn transpose(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let epw = per_word();
  let rows = params.out_features;
  let cols = params.in_features;
  let d = (wid.x + wid.y * nwg.x) * WG + lid;
  if (d >= rows * cols / epw) { return; }
  let e0 = d * epw;
  let i = e0 / rows;
  let o0 = e0 % rows;
  if (epw == 1u) {
    dst[d] = src[o0 * cols + i];
    return;
  }
  let bits = 32u / epw;
  var word = 0u;
  for (var j = 0u; j < epw; j++) {
    word |= code_of((o0 + j) * cols + i) << (bits * j);
  }
  dst[d] = word;
}

// The elements of one storage word (the first per_word() entries), before the group scale.
fn decode(word: u32) -> array<f32, 8> {
  var v: array<f32, 8>;
  switch DTYPE {
    case 0u: {
      v[0] = bitcast<f32>(word);
    }
    case 1u: {
      v[0] = bitcast<f32>(word << 16u);
      v[1] = bitcast<f32>(word & 0xffff0000u);
    }
    case 2u: {
      let p = unpack2x16float(word);
      v[0] = p.x;
      v[1] = p.y;
    }
    case 3u: {
      for (var j = 0u; j < 4u; j++) {
        v[j] = f32(bitcast<i32>(word << (24u - 8u * j)) >> 24u);
      }
    }
    default: {
      for (var j = 0u; j < 8u; j++) {
        v[j] = f32((word >> (4u * j)) & 15u) - 8.0;
      }
    }
  }
  return v;
}

// The scales of outputs o0 .. o0 + per_word() - 1 in group g (1.0 for float weights); o0 is even.
fn group_scales(g: u32, o0: u32) -> array<f32, 8> {
  var s: array<f32, 8>;
  let epw = per_word();
  if (DTYPE < Q8) {
    for (var j = 0u; j < epw; j++) {
      s[j] = 1.0;
    }
    return s;
  }
  let base = (g * params.out_features + o0) >> 1u;
  for (var j = 0u; j < epw / 2u; j++) {
    let p = unpack2x16float(scales[base + j]);
    s[2u * j] = p.x;
    s[2u * j + 1u] = p.y;
  }
  return s;
}

@compute @workgroup_size(WG)
fn gather(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x + wid.y * nwg.x;
  let split = t / params.col_tiles;
  if (split >= params.splits) { return; }
  let k0 = split * params.chunk;
  let k1 = min(k0 + params.chunk, params.in_features);
  let blocks = (k1 - k0 + 31u) / 32u;
  if (lid < blocks) {
    let b0 = k0 + 32u * lid;
    var bits = 0u;
    for (var j = 0u; j < 32u; j++) {
      if (b0 + j < k1 && x[b0 + j] != 0.0) {
        bits |= 1u << j;
      }
    }
    masks[lid] = bits;
  }
  workgroupBarrier();
  let epw = per_word();
  let words = params.out_features / epw;
  let c = (t % params.col_tiles) * WG + lid;
  if (c >= words) { return; }
  var acc: array<f32, 8>;
  for (var b = 0u; b < blocks; b++) {
    var bits = masks[b];
    if (bits == 0u) { continue; }
    let s = group_scales(k0 / 32u + b, c * epw);
    // Zeroed by an explicit constructor: some compilers keep a loop-local var's value across iterations.
    var gsum = array<f32, 8>();
    loop {
      if (bits == 0u) { break; }
      let i = k0 + 32u * b + firstTrailingBit(bits);
      bits &= bits - 1u;
      let xi = x[i];
      let v = decode(wt[i * words + c]);
      for (var j = 0u; j < epw; j++) {
        gsum[j] += xi * v[j];
      }
    }
    for (var j = 0u; j < epw; j++) {
      acc[j] += gsum[j] * s[j];
    }
  }
  let p0 = split * params.out_features + c * epw;
  for (var j = 0u; j < epw; j++) {
    partial[p0 + j] = acc[j];
  }
}

@compute @workgroup_size(WG)
fn gather_sum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let o = (wid.x + wid.y * nwg.x) * WG + lid;
  if (o >= params.out_features) { return; }
  var sum = 0.0;
  for (var k = 0u; k < params.splits; k++) {
    sum += partial[k * params.out_features + o];
  }
  out[params.out_offset + o] = sum;
}
