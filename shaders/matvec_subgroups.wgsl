// Matrix-vector product for decode, the subgroup variant of matvec.wgsl (same algorithm, entry points
// matvec / matvec_masked / matvec_skip, bindings, params, overrides and assumptions; the dequantization
// helpers and the per-unit arithmetic are the same code and must stay in step with it). Only the reduction
// differs: each subgroup sums its threads' partials with subgroupAdd, the first thread of every subgroup
// stores them in a slot taken from a workgroup counter (no assumption about how invocations map to
// subgroups), and after one barrier the threads lid < ROWS add the slots of their row. The three entry
// points share that reduction, so a sum is bit-identical between them wherever the subgroups fill their
// slots in the same order.
//
// Access pattern: a workgroup owns ROWS consecutive rows of W, read as 16-byte units (one vec4<u32>);
// thread t of WG takes units t, t + WG, ... so each load of a subgroup is contiguous and every weight byte is
// read once; a unit's x values are loaded once for the ROWS rows and each unit is dequantized once.
// matvec_masked reads no weight or scale of a row whose mask[out_offset + o] is 0 (and writes 0 there);
// matvec_skip reads no unit whose 32-column block of x is all zero.
//
// Bindings (group 0): 0 params (uniform Params), 1 x (read, array<vec4<f32>>), 2 w (read, array<vec4<u32>>),
//   3 scales (read, array<u32>, f16 pairs; bind w for f32/bf16/f16), 4 out (read_write, array<f32>),
//   5 mask (read, array<f32>; matvec_masked only).
// Params: in_features, out_features, out_offset. Overrides: DTYPE (0 f32, 1 bf16, 2 f16, 3 q8, 4 q4), WG, ROWS.
// Assumptions: the `subgroups` feature; subgroups of at least 4 invocations (the WebGPU minimum), so at most
//   WG / 4 of them per workgroup; whole 16-byte units per row; 1-D grid folded into 2-D.

enable subgroups;
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

override MAX_SUBGROUPS: u32 = WG / 4u;

var<workgroup> partial: array<f32, ROWS * MAX_SUBGROUPS>;
var<workgroup> filled: atomic<u32>;
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
fn reduce_rows(lid: u32, sg_lane: u32, acc: array<f32, MAX_ROWS>) -> f32 {
  var slot = 0u;
  if (sg_lane == 0u) {
    slot = atomicAdd(&filled, 1u);
  }
  for (var r = 0u; r < ROWS; r++) {
    let s = subgroupAdd(acc[r]);
    if (sg_lane == 0u) {
      partial[r * MAX_SUBGROUPS + slot] = s;
    }
  }
  workgroupBarrier();
  var sum = 0.0;
  if (lid < ROWS) {
    let n = atomicLoad(&filled);
    for (var k = 0u; k < n; k++) {
      sum += partial[lid * MAX_SUBGROUPS + k];
    }
  }
  return sum;
}

@compute @workgroup_size(WG)
fn matvec(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32,
          @builtin(subgroup_invocation_id) sg_lane: u32) {
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
  let sum = reduce_rows(lid, sg_lane, acc);
  if (lid < ROWS && row0 + lid < params.out_features) {
    out[params.out_offset + row0 + lid] = sum;
  }
}

@compute @workgroup_size(WG)
fn matvec_masked(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                 @builtin(subgroup_invocation_id) sg_lane: u32) {
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
  let sum = reduce_rows(lid, sg_lane, acc);
  if (lid < ROWS && row0 + lid < params.out_features) {
    out[params.out_offset + row0 + lid] = sum;
  }
}

@compute @workgroup_size(WG)
fn matvec_skip(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32,
               @builtin(subgroup_invocation_id) sg_lane: u32) {
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
  let sum = reduce_rows(lid, sg_lane, acc);
  if (lid < ROWS && row0 + lid < params.out_features) {
    out[params.out_offset + row0 + lid] = sum;
  }
}
