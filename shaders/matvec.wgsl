// Matrix-vector product for decode (one token): out[out_offset + o] = sum_i x[i] * W[o, i], with W in the
// Hugging Face layout [out_features, in_features] (row-major), stored as f32, bf16, f16, q8 or q4 (DTYPE),
// dequantized in registers; x and out are f32 and every sum is accumulated in f32.
//
// Access pattern (decode is bound by weight bandwidth): a workgroup owns ROWS consecutive rows of W and
// reads them as 16-byte units (one vec4<u32>: 4 f32, 8 bf16/f16, 16 q8 or 32 q4 weights). Thread t of the
// WG threads takes units t, t + WG, t + 2 WG, ... of each of its rows, so one load instruction of a subgroup
// reads 16 * (subgroup size) contiguous bytes and every weight byte is read exactly once. The x values of a
// unit are loaded once and reused for the ROWS rows; each unit is dequantized once, with one scale load per
// unit (a q4 unit is exactly one group, a q8 unit half of one). Per-thread sums are then reduced in
// workgroup memory by a tree of WG / 2, WG / 4, ... 1 additions per row.
//
// Entry points (the same per-unit arithmetic and reduction, so every sum they compute is bit-identical):
//   matvec         the dense product.
//   matvec_masked  rows masked by a vector (the FFN up_proj under a Gaussian top-k gate): where
//                  mask[out_offset + o] == 0 the row is written as 0 and none of its weights or scales
//                  are read; a workgroup whose ROWS rows are all masked only writes zeros.
//   matvec_skip    zero blocks of x skipped (the FFN down_proj of a sparse activation): x is cut into
//                  blocks of 32 columns (the quantization group, the same for float weights); a unit
//                  whose block of x is all zero is not read. Those units only add zeros to the sums, so
//                  skipping them keeps every sum bit-identical to matvec's.
//
// Bindings (group 0):
//   0 params  uniform Params
//   1 x       storage read        array<vec4<f32>>   the input row, in_features values
//   2 w       storage read        array<vec4<u32>>   the weight, out_features rows of in_features elements
//   3 scales  storage read        array<u32>         q8/q4: f16 pairs, group g = element / 32 in word g >> 1
//                                                    (low half when g is even); f32/bf16/f16: unused (bind w)
//   4 out     storage read_write  array<f32>
//   5 mask    storage read        array<f32>         matvec_masked only: row o is kept where
//                                                    mask[out_offset + o] != 0
// Params: in_features, out_features, out_offset (row o is written at out[out_offset + o]).
// Overrides: DTYPE (0 f32, 1 bf16, 2 f16, 3 q8, 4 q4), WG threads per workgroup (a power of two),
//   ROWS rows per workgroup (<= MAX_ROWS).
// Assumptions: whole units per row: in_features % 4 (f32), % 8 (bf16, f16), % 32 (q8, q4) == 0; the
//   grid is ceil(out_features / ROWS) workgroups, folded into 2-D (linear index wid.x + wid.y * nwg.x).
// The format helpers (DTYPE codes, per_word, pair, q8x4, q4x4, scale_of) are in weight_formats.wgsl, which
// the kernel definitions append to this source.

struct Params {
  in_features: u32,
  out_features: u32,
  out_offset: u32,
  _pad: u32,
}

const MAX_ROWS = 8u;

override DTYPE: u32 = 0u;
override WG: u32 = 256u;
override ROWS: u32 = 4u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> scales: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read> mask: array<f32>;

var<workgroup> partial: array<f32, ROWS * WG>;
var<workgroup> live_rows: u32;

// Dot product of one weight unit with its x values (before the group scale).
fn unit_dot(u: vec4<u32>, xv: ptr<function, array<vec4<f32>, 8>>) -> f32 {
  switch DTYPE {
    case 0u: {
      return dot(bitcast<vec4<f32>>(u), (*xv)[0]);
    }
    case 1u, 2u: {
      return dot(vec4<f32>(pair(u.x), pair(u.y)), (*xv)[0]) + dot(vec4<f32>(pair(u.z), pair(u.w)), (*xv)[1]);
    }
    case 3u: {
      return dot(q8x4(u.x), (*xv)[0]) + dot(q8x4(u.y), (*xv)[1]) + dot(q8x4(u.z), (*xv)[2]) + dot(q8x4(u.w), (*xv)[3]);
    }
    default: {
      return dot(q4x4(u.x, 0u), (*xv)[0]) + dot(q4x4(u.x, 16u), (*xv)[1])
        + dot(q4x4(u.y, 0u), (*xv)[2]) + dot(q4x4(u.y, 16u), (*xv)[3])
        + dot(q4x4(u.z, 0u), (*xv)[4]) + dot(q4x4(u.z, 16u), (*xv)[5])
        + dot(q4x4(u.w, 0u), (*xv)[6]) + dot(q4x4(u.w, 16u), (*xv)[7]);
    }
  }
}

// Unit u of weight row `row` (`units` per row) dotted with its x values, times the unit's group scale.
fn unit_term(row: u32, units: u32, u: u32, xv: ptr<function, array<vec4<f32>, 8>>) -> f32 {
  var d = unit_dot(w[row * units + u], xv);
  if (DTYPE == Q8) {
    d *= scale_of(row * (units >> 1u) + (u >> 1u));
  } else if (DTYPE == Q4) {
    d *= scale_of(row * units + u);
  }
  return d;
}

// Sum the threads' per-row partials; thread lid < ROWS gets the sum of row row0 + lid.
fn reduce_rows(lid: u32, acc: array<f32, MAX_ROWS>) -> f32 {
  for (var r = 0u; r < ROWS; r++) {
    partial[r * WG + lid] = acc[r];
  }
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      for (var r = 0u; r < ROWS; r++) {
        partial[r * WG + lid] += partial[r * WG + lid + s];
      }
    }
    workgroupBarrier();
  }
  return partial[min(lid, ROWS - 1u) * WG];
}

@compute @workgroup_size(WG)
fn matvec(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row0 = (wid.x + wid.y * nwg.x) * ROWS;
  if (row0 >= params.out_features) { return; }
  let xn = per_word();
  let units = params.in_features / (4u * xn);
  let last = params.out_features - 1u;
  var acc: array<f32, MAX_ROWS>;
  var xv: array<vec4<f32>, 8>;
  for (var u = lid; u < units; u += WG) {
    for (var j = 0u; j < xn; j++) {
      xv[j] = x[u * xn + j];
    }
    for (var r = 0u; r < ROWS; r++) {
      acc[r] += unit_term(min(row0 + r, last), units, u, &xv);
    }
  }
  let sum = reduce_rows(lid, acc);
  if (lid < ROWS && row0 + lid < params.out_features) {
    out[params.out_offset + row0 + lid] = sum;
  }
}

@compute @workgroup_size(WG)
fn matvec_masked(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row0 = (wid.x + wid.y * nwg.x) * ROWS;
  if (row0 >= params.out_features) { return; }
  if (lid == 0u) {
    var bits = 0u;
    for (var r = 0u; r < ROWS; r++) {
      if (row0 + r < params.out_features && mask[params.out_offset + row0 + r] != 0.0) {
        bits |= 1u << r;
      }
    }
    live_rows = bits;
  }
  let live = workgroupUniformLoad(&live_rows);
  if (live == 0u) {
    if (lid < ROWS && row0 + lid < params.out_features) {
      out[params.out_offset + row0 + lid] = 0.0;
    }
    return;
  }
  let xn = per_word();
  let units = params.in_features / (4u * xn);
  var acc: array<f32, MAX_ROWS>;
  var xv: array<vec4<f32>, 8>;
  for (var u = lid; u < units; u += WG) {
    for (var j = 0u; j < xn; j++) {
      xv[j] = x[u * xn + j];
    }
    for (var r = 0u; r < ROWS; r++) {
      if ((live & (1u << r)) != 0u) {
        acc[r] += unit_term(row0 + r, units, u, &xv);
      }
    }
  }
  let sum = reduce_rows(lid, acc);
  if (lid < ROWS && row0 + lid < params.out_features) {
    out[params.out_offset + row0 + lid] = sum;
  }
}

@compute @workgroup_size(WG)
fn matvec_skip(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row0 = (wid.x + wid.y * nwg.x) * ROWS;
  if (row0 >= params.out_features) { return; }
  let xn = per_word();
  let units = params.in_features / (4u * xn);
  let nv = params.in_features / 4u;
  let last = params.out_features - 1u;
  var acc: array<f32, MAX_ROWS>;
  var xv: array<vec4<f32>, 8>;
  var xb: array<vec4<f32>, 8>;
  for (var u = lid; u < units; u += WG) {
    let v0 = u * xn;
    let b0 = v0 & ~7u;
    var nonzero = false;
    for (var j = 0u; j < 8u; j++) {
      xb[j] = x[min(b0 + j, nv - 1u)];
      nonzero = nonzero || (b0 + j < nv && any(xb[j] != vec4<f32>(0.0)));
    }
    if (nonzero) {
      for (var j = 0u; j < xn; j++) {
        xv[j] = xb[v0 - b0 + j];
      }
      for (var r = 0u; r < ROWS; r++) {
        acc[r] += unit_term(min(row0 + r, last), units, u, &xv);
      }
    }
  }
  let sum = reduce_rows(lid, acc);
  if (lid < ROWS && row0 + lid < params.out_features) {
    out[params.out_offset + row0 + lid] = sum;
  }
}
