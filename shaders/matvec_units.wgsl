// The per-thread work of the matvec shaders (matvec.wgsl and matvec_subgroups.wgsl include this file, so
// every partial sum they compute is the same code; they differ only in how a workgroup adds them up):
// a 16-byte weight unit dotted with its x values times its group scale, and each thread's partial sums
// of its ROWS rows for the dense, masked and zero-block-skipping products; and what they declare alike
// (Params, bindings, overrides). Declarations only; the including shader includes weight_formats.wgsl
// first and declares its own reduction (`partial`, reduce_rows).

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

var<workgroup> live_rows: u32;

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

// The xn x vec4s of unit u.
fn load_x(u: u32, xn: u32, xv: ptr<function, array<vec4<f32>, 8>>) {
  for (var j = 0u; j < xn; j++) {
    (*xv)[j] = x[u * xn + j];
  }
}

// The row's output o (relative to out_offset) gets `sum`, from thread lid of the workgroup owning rows row0..
fn store_row(row0: u32, lid: u32, sum: f32) {
  if (lid < ROWS && row0 + lid < params.out_features) {
    out[params.out_offset + row0 + lid] = sum;
  }
}

// This thread's partial sums of rows row0 .. row0 + ROWS - 1 (rows past the end repeat the last one):
// units lid, lid + WG, ... of each row.
fn dense_partials(row0: u32, lid: u32) -> array<f32, MAX_ROWS> {
  let xn = per_word();
  let units = params.in_features / (4u * xn);
  let last = params.out_features - 1u;
  var acc: array<f32, MAX_ROWS>;
  var xv: array<vec4<f32>, 8>;
  for (var u = lid; u < units; u += WG) {
    load_x(u, xn, &xv);
    for (var r = 0u; r < ROWS; r++) {
      acc[r] += unit_term(min(row0 + r, last), units, u, &xv);
    }
  }
  return acc;
}

// Bit r set where row row0 + r exists and its mask is nonzero, the same for every thread of the workgroup.
fn live_rows_of(row0: u32, lid: u32) -> u32 {
  if (lid == 0u) {
    var bits = 0u;
    for (var r = 0u; r < ROWS; r++) {
      if (row0 + r < params.out_features && mask[params.out_offset + row0 + r] != 0.0) {
        bits |= 1u << r;
      }
    }
    live_rows = bits;
  }
  return workgroupUniformLoad(&live_rows);
}

// dense_partials for the rows whose bit is set in `live` only (0 for the others, whose weights are not read).
fn masked_partials(row0: u32, lid: u32, live: u32) -> array<f32, MAX_ROWS> {
  let xn = per_word();
  let units = params.in_features / (4u * xn);
  var acc: array<f32, MAX_ROWS>;
  var xv: array<vec4<f32>, 8>;
  for (var u = lid; u < units; u += WG) {
    load_x(u, xn, &xv);
    for (var r = 0u; r < ROWS; r++) {
      if ((live & (1u << r)) != 0u) {
        acc[r] += unit_term(row0 + r, units, u, &xv);
      }
    }
  }
  return acc;
}

// dense_partials without the units whose 32-column block of x is all zero (they would only add zeros).
fn skip_partials(row0: u32, lid: u32) -> array<f32, MAX_ROWS> {
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
  return acc;
}
