// The shared part of the fused decode matvecs (matvec_fused.wgsl, matvec_fused_subgroups.wgsl): Params,
// bindings, overrides, the per-unit arithmetic and the bodies of mv_group / mv_pair / mv_masked, which call
// the including shader's `reduce` (after it, sums[r] holds slot r's total for every thread). Declarations
// only; the including shader includes weight_formats.wgsl and gelu_tanh.wgsl first.

struct Params {
  wg_end: vec4<u32>,
  rows: vec4<u32>,
  in_f: vec4<u32>,
  x_off: vec4<u32>,
  out_off: vec4<u32>,
  bufs: vec4<u32>,
  mode: u32,
  aux_off: u32,
  mask_off: u32,
  _pad0: u32,
}

override DTYPE: u32 = 0u;
override WG: u32 = 64u;
override ROWS: u32 = 4u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> arena_a: array<f32>;
@group(0) @binding(2) var<storage, read_write> arena_b: array<f32>;
@group(0) @binding(3) var<storage, read> w0: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read> scales: array<u32>;
@group(0) @binding(5) var<storage, read> w1: array<vec4<u32>>;
@group(0) @binding(6) var<storage, read> s1: array<u32>;
@group(0) @binding(7) var<storage, read> w2: array<vec4<u32>>;
@group(0) @binding(8) var<storage, read> s2: array<u32>;

var<workgroup> live_rows: u32;
var<workgroup> sums: array<f32, 8>;

fn w_unit(seg: u32, i: u32) -> vec4<u32> {
  switch seg {
    case 0u: { return w0[i]; }
    case 1u: { return w1[i]; }
    default: { return w2[i]; }
  }
}

fn seg_scale(seg: u32, group: u32) -> f32 {
  var word = 0u;
  switch seg {
    case 0u: { word = scales[group >> 1u]; }
    case 1u: { word = s1[group >> 1u]; }
    default: { word = s2[group >> 1u]; }
  }
  return unpack2x16float(word)[group & 1u];
}

// Unit u of row `row` of segment seg's weight (`units` per row) dotted with xv, times its group scale.
fn unit_term(seg: u32, row: u32, units: u32, u: u32, xv: ptr<function, array<vec4<f32>, 8>>) -> f32 {
  var d = unit_dot(w_unit(seg, row * units + u), xv);
  if (DTYPE == Q8) {
    d *= seg_scale(seg, row * (units >> 1u) + (u >> 1u));
  } else if (DTYPE == Q4) {
    d *= seg_scale(seg, row * units + u);
  }
  return d;
}

// The xn x vec4s of unit u of segment seg's input.
fn load_x(seg: u32, u: u32, xn: u32, xv: ptr<function, array<vec4<f32>, 8>>) {
  let base = params.x_off[seg] + u * xn * 4u;
  let in_b = (params.bufs[seg] & 1u) != 0u;
  for (var j = 0u; j < xn; j++) {
    let e = base + 4u * j;
    if (in_b) {
      (*xv)[j] = vec4<f32>(arena_b[e], arena_b[e + 1u], arena_b[e + 2u], arena_b[e + 3u]);
    } else {
      (*xv)[j] = vec4<f32>(arena_a[e], arena_a[e + 1u], arena_a[e + 2u], arena_a[e + 3u]);
    }
  }
}

fn store(seg: u32, r: u32, v: f32) {
  let at = params.out_off[seg] + r;
  if ((params.bufs[seg] & 2u) != 0u) {
    arena_b[at] = v;
  } else {
    arena_a[at] = v;
  }
}

fn group_body(g: u32, lid: u32, sg_lane: u32) {
  var seg = 0u;
  var first = 0u;
  if (g >= params.wg_end[0]) {
    seg = 1u;
    first = params.wg_end[0];
  }
  if (g >= params.wg_end[1]) {
    seg = 2u;
    first = params.wg_end[1];
  }
  if (g >= params.wg_end[2]) { return; }
  let row0 = (g - first) * ROWS;
  let rows = params.rows[seg];
  let xn = per_word();
  let units = params.in_f[seg] / (4u * xn);
  let last = rows - 1u;
  var acc: array<f32, 8>;
  var xv: array<vec4<f32>, 8>;
  for (var u = lid; u < units; u += WG) {
    load_x(seg, u, xn, &xv);
    for (var r = 0u; r < ROWS; r++) {
      acc[r] += unit_term(seg, min(row0 + r, last), units, u, &xv);
    }
  }
  reduce(lid, sg_lane, &acc, ROWS);
  let sum = sums[min(lid, ROWS - 1u)];
  if (lid < ROWS && row0 + lid < rows) {
    var v = sum;
    if (params.mode == 1u) {
      v = gelu_tanh(sum) * arena_a[params.aux_off + row0 + lid];
    }
    store(seg, row0 + lid, v);
  }
}

fn pair_body(g: u32, lid: u32, sg_lane: u32) {
  let row0 = g * ROWS;
  let rows = params.rows[0];
  if (row0 >= rows) { return; }
  let xn = per_word();
  let units = params.in_f[0] / (4u * xn);
  let last = rows - 1u;
  var acc: array<f32, 8>;
  var xv: array<vec4<f32>, 8>;
  for (var u = lid; u < units; u += WG) {
    load_x(0u, u, xn, &xv);
    for (var r = 0u; r < ROWS; r++) {
      let row = min(row0 + r, last);
      acc[r] += unit_term(0u, row, units, u, &xv);
      acc[ROWS + r] += unit_term(1u, row, units, u, &xv);
    }
  }
  reduce(lid, sg_lane, &acc, 2u * ROWS);
  let sum = sums[min(lid, ROWS - 1u)];
  if (lid < ROWS && row0 + lid < rows) {
    let up = sums[ROWS + lid];
    store(0u, row0 + lid, gelu_tanh(sum) * up);
  }
}

fn masked_body(g: u32, lid: u32, sg_lane: u32) {
  let row0 = g * ROWS;
  let rows = params.rows[0];
  if (row0 >= rows) { return; }
  if (lid == 0u) {
    var bits = 0u;
    for (var r = 0u; r < ROWS; r++) {
      if (row0 + r < rows && arena_b[params.mask_off + row0 + r] != 0.0) {
        bits |= 1u << r;
      }
    }
    live_rows = bits;
  }
  let live = workgroupUniformLoad(&live_rows);
  if (live == 0u) {
    if (lid < ROWS && row0 + lid < rows) { store(0u, row0 + lid, 0.0); }
    return;
  }
  let xn = per_word();
  let units = params.in_f[0] / (4u * xn);
  var acc: array<f32, 8>;
  var xv: array<vec4<f32>, 8>;
  for (var u = lid; u < units; u += WG) {
    load_x(0u, u, xn, &xv);
    for (var r = 0u; r < ROWS; r++) {
      if ((live & (1u << r)) != 0u) {
        acc[r] += unit_term(0u, row0 + r, units, u, &xv);
      }
    }
  }
  reduce(lid, sg_lane, &acc, ROWS);
  let sum = sums[min(lid, ROWS - 1u)];
  if (lid < ROWS && row0 + lid < rows) {
    let gate = arena_b[params.mask_off + row0 + lid];
    store(0u, row0 + lid, select(0.0, gelu_tanh(gate) * sum, gate != 0.0));
  }
}
