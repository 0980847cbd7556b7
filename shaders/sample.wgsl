// Greedy and stochastic token choice over a logits vector, on the GPU, with a counter-based RNG so
// the same (seed, step) gives the same token on every device and in the CPU reference.
//
// argmax (argmax_blocks, then argmax_final): each of `blocks` workgroups reduces a grid-strided slice
// of logits[0, n) to (max value, lowest index holding it); one workgroup reduces those partials.
//
// sampling (sample_hist for radix_pass = 0 .. PASSES - 1, sample_collect, sample_final):
//   1. Candidates: the k = min(top_k (0 = n), n, MAX_K) largest logits, ties broken by lower index
//      (k = 1 when temperature <= 0). Each logit gets the 56-bit composite key
//      (order_key(x) << 24) | (0xffffff - i), where order_key maps f32 bits to a u32 that sorts like
//      the value (negative: all bits flipped, otherwise: sign bit set); composite keys are distinct,
//      so "the k largest" is exact. The k-th largest composite key is found by an MSB-first radix
//      select with 8-bit digits: pass d histograms digit d of the keys whose first d digits equal the
//      threshold found so far (hist[d]: a workgroup histogram, then global atomics); at the start of
//      pass d + 1 every workgroup walks hist[d] from the top bin the same way to fix digit d and the
//      count still needed, and workgroup 0 records that state. Once the chosen bin holds exactly the
//      count needed, the threshold is final (`done`) and later passes skip their work.
//   2. sample_collect appends the k logits whose composite key is >= the threshold to `cand`
//      (in any order: a global atomic counter hands out the slots).
//   3. sample_final (one workgroup) bitonic-sorts the candidates by (value desc, index asc), computes
//      p_i = exp((x_i - x_0) / temperature) and their inclusive prefix sums c_i (Z = c_{k-1});
//      top-p: kept = k if top_p >= 1, else 1 + the first i with c_i >= top_p * Z;
//      draw: u = sampler_uniform(seed, step), the token is the first i < kept (sorted order) with
//      c_i > u * c_{kept-1}; temperature <= 0 picks i = 0, the argmax.
//      Then it zeroes hist, the counter and the flag word, so the next replay starts clean (buffers are
//      created zeroed).
//
// Non-finite logits: a NaN or +inf logit (exponent bits all ones, except -inf) cannot come from a
// healthy model and would otherwise be chosen or skipped silently. Every path reads every logit once
// (argmax_blocks, sample_collect) and tests its bits; the token written to out[0] then has bit 31
// (NONFINITE) set, so the 4-byte read-back that returns the token also reports the fault. The
// argmax partials carry it in bit 31 of their index word, the sampling path in hist[FLAG].
//
// RNG (fully specified, also in TS as samplerUniform): pcg(v) is the PCG-RXS-M-XS hash of Jarzynski
// and Olano, "Hash Functions for GPU Rendering" (JCGT 2020), on u32 with wrapping arithmetic:
//   s = v * 747796405 + 2891336453; w = ((s >> ((s >> 28) + 4)) ^ s) * 277803737; pcg = (w >> 22) ^ w.
//   u = f32(pcg(pcg(seed) + step) >> 8) / 2^24, a multiple of 2^-24 in [0, 1), exact in f32 and f64.
//
// Bindings (group 0): params (uniform Params); logits (read) [>= n]; out (read_write) u32 [1]: the token,
// | NONFINITE when a logit in [0, n) is NaN or +inf;
// part (read_write) u32 [2 * blocks] argmax partials (value bits, index);
// hist (read_write, atomic) u32 [PASSES * BINS + 2]: the radix histograms, the candidate counter, the
// non-finite flag;
// state (read_write) u32 [PASSES * 4]: the state at the start of each pass (threshold key bits,
// inverted-index bits, count still needed, level | done << 16); cand (read_write) u32 [2 * MAX_K]:
// (key, index) pairs.
// Params: n, top_k, seed, step, temperature, top_p, radix_pass (pass of sample_hist), blocks (argmax
// partials). Grid: argmax_blocks, sample_hist and sample_collect 1-D grid-strided over n (any count),
// argmax_final and sample_final one workgroup. Assumes WG is a power of two and n < 2^24; -inf logits
// are never chosen (unless all are -inf), NaN and +inf ones are flagged.

struct Params {
  n: u32,
  top_k: u32,
  seed: u32,
  step: u32,
  temperature: f32,
  top_p: f32,
  radix_pass: u32,
  blocks: u32,
}

struct State {
  tk: u32,
  ti: u32,
  need: u32,
  level: u32,
  done: u32,
}

override WG: u32 = 64;
override MAX_K: u32 = 1024;

const BINS: u32 = 256u;
const PASSES: u32 = 7u;
const NONE: u32 = 0xffffffffu;
const IDX_MASK: u32 = 0xffffffu;
const COUNTER: u32 = PASSES * BINS;
const FLAG: u32 = COUNTER + 1u;
const NONFINITE: u32 = 0x80000000u;
const GROUPS: u32 = 16u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
@group(0) @binding(3) var<storage, read_write> part: array<u32>;
@group(0) @binding(4) var<storage, read_write> hist: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read_write> state: array<u32>;
@group(0) @binding(6) var<storage, read_write> cand: array<u32>;

var<workgroup> red_v: array<f32, WG>;
var<workgroup> red_i: array<u32, WG>;
var<workgroup> hist_s: array<atomic<u32>, BINS>;
var<workgroup> scan_s: array<f32, BINS>;
var<workgroup> group_off_s: array<f32, GROUPS>;
var<workgroup> st_s: State;
var<workgroup> group_s: array<u32, GROUPS>;
var<workgroup> key_s: array<u32, MAX_K>;
var<workgroup> idx_s: array<u32, MAX_K>;
var<workgroup> cum_s: array<f32, MAX_K>;
var<workgroup> first_s: atomic<u32>;
var<workgroup> bad_s: atomic<u32>;

fn pcg(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

fn sampler_uniform(seed: u32, step: u32) -> f32 {
  return f32(pcg(pcg(seed) + step) >> 8u) * (1.0 / 16777216.0);
}

fn order_key(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

fn key_value(k: u32) -> f32 {
  return bitcast<f32>(select(~k, k & 0x7fffffffu, (k & 0x80000000u) != 0u));
}

// NaN or +inf, by its bits (no float comparison a compiler could fold away); -inf is a valid "never".
fn nonfinite_logit(x: f32) -> bool {
  let b = bitcast<u32>(x);
  return (b & 0x7f800000u) == 0x7f800000u && b != 0xff800000u;
}

fn linear_wg(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x;
}

// ---- argmax ----

// (va, ia) beats (vb, ib): larger value, then lower index; NONE marks an empty slot.
fn better(va: f32, ia: u32, vb: f32, ib: u32) -> bool {
  if (ia == NONE) { return false; }
  if (ib == NONE) { return true; }
  return va > vb || (va == vb && ia < ib);
}

fn reduce_argmax(lid: u32) {
  for (var off = WG / 2u; off > 0u; off >>= 1u) {
    workgroupBarrier();
    if (lid < off && better(red_v[lid + off], red_i[lid + off], red_v[lid], red_i[lid])) {
      red_v[lid] = red_v[lid + off];
      red_i[lid] = red_i[lid + off];
    }
  }
  workgroupBarrier();
}

@compute @workgroup_size(WG)
fn argmax_blocks(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let w = linear_wg(wid, nwg);
  if (w >= params.blocks) { return; }
  if (lid == 0u) { atomicStore(&bad_s, 0u); }
  workgroupBarrier();
  var bv = 0.0;
  var bi = NONE;
  var bad = false;
  for (var i = w * WG + lid; i < params.n; i += params.blocks * WG) {
    let x = logits[i];
    bad = bad || nonfinite_logit(x);
    if (better(x, i, bv, bi)) {
      bv = x;
      bi = i;
    }
  }
  if (bad) { atomicOr(&bad_s, NONFINITE); }
  red_v[lid] = bv;
  red_i[lid] = bi;
  reduce_argmax(lid);
  if (lid == 0u) {
    part[2u * w] = bitcast<u32>(red_v[0]);
    part[2u * w + 1u] = select(red_i[0] | atomicLoad(&bad_s), NONE, red_i[0] == NONE);
  }
}

@compute @workgroup_size(WG)
fn argmax_final(@builtin(local_invocation_index) lid: u32) {
  if (lid == 0u) { atomicStore(&bad_s, 0u); }
  workgroupBarrier();
  var bv = 0.0;
  var bi = NONE;
  var bad = 0u;
  for (var b = lid; b < params.blocks; b += WG) {
    let x = bitcast<f32>(part[2u * b]);
    let raw = part[2u * b + 1u];
    let i = select(raw & ~NONFINITE, NONE, raw == NONE);
    bad |= select(raw & NONFINITE, 0u, raw == NONE);
    if (better(x, i, bv, bi)) {
      bv = x;
      bi = i;
    }
  }
  if (bad != 0u) { atomicOr(&bad_s, NONFINITE); }
  red_v[lid] = bv;
  red_i[lid] = bi;
  reduce_argmax(lid);
  if (lid == 0u) { out[0] = select(red_i[0], 0u, red_i[0] == NONE) | atomicLoad(&bad_s); }
}

// ---- sampling ----

fn k_eff() -> u32 {
  if (params.temperature <= 0.0) { return 1u; }
  let k = select(params.top_k, params.n, params.top_k == 0u);
  return min(min(k, params.n), MAX_K);
}

fn digit(d: u32, key: u32, inv: u32) -> u32 {
  if (d < 4u) { return (key >> (24u - 8u * d)) & 0xffu; }
  return (inv >> (16u - 8u * (d - 4u))) & 0xffu;
}

// The first st.level digits of (key, inv) equal the threshold's (eq) or the composite is >= it (!eq).
fn prefix_cmp(st: State, key: u32, inv: u32, eq: bool) -> bool {
  let l = st.level;
  if (l == 0u) { return true; }
  if (l <= 4u) {
    let a = key >> (32u - 8u * l);
    let b = st.tk >> (32u - 8u * l);
    return select(a >= b, a == b, eq);
  }
  if (key != st.tk) { return !eq && key > st.tk; }
  let a = inv >> (24u - 8u * (l - 4u));
  let b = st.ti >> (24u - 8u * (l - 4u));
  return select(a >= b, a == b, eq);
}

// The threshold state at the start of pass d (d = PASSES: the final one), the same in every workgroup.
fn state_at(d: u32, lid: u32) -> State {
  if (d == 0u) {
    if (lid == 0u) {
      let k = k_eff();
      st_s = State(0u, 0u, k, 0u, select(0u, 1u, k >= params.n));
    }
    return workgroupUniformLoad(&st_s);
  }
  if (lid == 0u) {
    let base = (d - 1u) * 4u;
    st_s = State(state[base], state[base + 1u], state[base + 2u], state[base + 3u] & 0xffffu, state[base + 3u] >> 16u);
  }
  let prev = workgroupUniformLoad(&st_s);
  if (prev.done != 0u) { return prev; }
  // Find the bin of digit d - 1 where the count from the top reaches `need`: 16-bin group sums in
  // parallel, then one thread walks the groups and the bins of the chosen group from the top.
  let h0 = (d - 1u) * BINS;
  for (var g = lid; g < GROUPS; g += WG) {
    var s = 0u;
    for (var b = 0u; b < BINS / GROUPS; b++) { s += atomicLoad(&hist[h0 + g * (BINS / GROUPS) + b]); }
    group_s[g] = s;
  }
  workgroupBarrier();
  if (lid == 0u) {
    var above = 0u;
    var g = GROUPS - 1u;
    while (g > 0u && above + group_s[g] < prev.need) {
      above += group_s[g];
      g--;
    }
    var b = (g + 1u) * (BINS / GROUPS) - 1u;
    var c = atomicLoad(&hist[h0 + b]);
    while (b > g * (BINS / GROUPS) && above + c < prev.need) {
      above += c;
      b--;
      c = atomicLoad(&hist[h0 + b]);
    }
    var st = prev;
    let dd = d - 1u;
    if (dd < 4u) { st.tk |= b << (24u - 8u * dd); } else { st.ti |= b << (16u - 8u * (dd - 4u)); }
    st.need = prev.need - above;
    st.level = d;
    st.done = select(0u, 1u, c == st.need);
    st_s = st;
  }
  return workgroupUniformLoad(&st_s);
}

@compute @workgroup_size(WG)
fn sample_hist(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let w = linear_wg(wid, nwg);
  let st = state_at(params.radix_pass, lid);
  if (w == 0u && lid == 0u) {
    let base = params.radix_pass * 4u;
    state[base] = st.tk;
    state[base + 1u] = st.ti;
    state[base + 2u] = st.need;
    state[base + 3u] = st.level | (st.done << 16u);
  }
  if (st.done != 0u) { return; }
  for (var b = lid; b < BINS; b += WG) { atomicStore(&hist_s[b], 0u); }
  workgroupBarrier();
  let stride = nwg.x * nwg.y * WG;
  for (var i = w * WG + lid; i < params.n; i += stride) {
    let key = order_key(logits[i]);
    let inv = IDX_MASK - i;
    if (prefix_cmp(st, key, inv, true)) { atomicAdd(&hist_s[digit(params.radix_pass, key, inv)], 1u); }
  }
  workgroupBarrier();
  for (var b = lid; b < BINS; b += WG) {
    let c = atomicLoad(&hist_s[b]);
    if (c > 0u) { atomicAdd(&hist[params.radix_pass * BINS + b], c); }
  }
}

@compute @workgroup_size(WG)
fn sample_collect(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let st = state_at(PASSES, lid);
  let k = k_eff();
  let stride = nwg.x * nwg.y * WG;
  var bad = false;
  for (var i = linear_wg(wid, nwg) * WG + lid; i < params.n; i += stride) {
    let x = logits[i];
    bad = bad || nonfinite_logit(x);
    let key = order_key(x);
    if (prefix_cmp(st, key, IDX_MASK - i, false)) {
      let slot = atomicAdd(&hist[COUNTER], 1u);
      if (slot < k) {
        cand[2u * slot] = key;
        cand[2u * slot + 1u] = i;
      }
    }
  }
  if (bad) { atomicOr(&hist[FLAG], NONFINITE); }
}

// Bitonic sort of key_s/idx_s[0, size) by (key desc, index asc); size is a power of two.
fn sort_candidates(size: u32, lid: u32) {
  for (var span = 2u; span <= size; span <<= 1u) {
    for (var gap = span >> 1u; gap > 0u; gap >>= 1u) {
      workgroupBarrier();
      for (var t = lid; t < size / 2u; t += WG) {
        let a = (t / gap) * 2u * gap + t % gap;
        let b = a + gap;
        let desc = (a & span) == 0u;
        let ka = key_s[a];
        let kb = key_s[b];
        let ia = idx_s[a];
        let ib = idx_s[b];
        let b_first = kb > ka || (kb == ka && ib < ia);
        if (b_first == desc) {
          key_s[a] = kb;
          key_s[b] = ka;
          idx_s[a] = ib;
          idx_s[b] = ia;
        }
      }
    }
  }
  workgroupBarrier();
}

// In-place inclusive prefix sums of cum_s[0, size): BINS chunks summed serially, their totals scanned
// within GROUPS groups and then across the groups, and the chunk offsets added back.
fn scan_candidates(size: u32, lid: u32) {
  let chunk = (size + BINS - 1u) / BINS;
  let per_group = BINS / GROUPS;
  workgroupBarrier();
  for (var c = lid; c < BINS; c += WG) {
    var s = 0.0;
    for (var j = 0u; j < chunk; j++) {
      s += cum_s[c * chunk + j];
      cum_s[c * chunk + j] = s;
    }
    scan_s[c] = s;
  }
  workgroupBarrier();
  for (var g = lid; g < GROUPS; g += WG) {
    for (var c = g * per_group + 1u; c < (g + 1u) * per_group; c++) { scan_s[c] += scan_s[c - 1u]; }
  }
  workgroupBarrier();
  if (lid == 0u) {
    var s = 0.0;
    for (var g = 0u; g < GROUPS; g++) {
      group_off_s[g] = s;
      s += scan_s[(g + 1u) * per_group - 1u];
    }
  }
  workgroupBarrier();
  for (var c = lid; c < BINS; c += WG) {
    let off = group_off_s[c / per_group] + select(0.0, scan_s[max(c, 1u) - 1u], c % per_group != 0u);
    for (var j = 0u; j < chunk; j++) { cum_s[c * chunk + j] += off; }
  }
  workgroupBarrier();
}

// First i < limit with (cum_s[i] >= x when ge, cum_s[i] > x otherwise), or `none`.
fn first_above(x: f32, ge: bool, limit: u32, none: u32, lid: u32) -> u32 {
  if (lid == 0u) { atomicStore(&first_s, none); }
  workgroupBarrier();
  for (var i = lid; i < limit; i += WG) {
    if (select(cum_s[i] > x, cum_s[i] >= x, ge)) { atomicMin(&first_s, i); }
  }
  return workgroupUniformLoad(&first_s);
}

@compute @workgroup_size(WG)
fn sample_final(@builtin(local_invocation_index) lid: u32) {
  let bad = atomicLoad(&hist[FLAG]);
  let k = k_eff();
  var size = 1u;
  while (size < k) { size <<= 1u; }
  for (var i = lid; i < size; i += WG) {
    key_s[i] = select(0u, cand[2u * i], i < k);
    idx_s[i] = select(NONE, cand[2u * i + 1u], i < k);
  }
  sort_candidates(size, lid);
  let top = key_value(key_s[0]);
  for (var i = lid; i < size; i += WG) {
    cum_s[i] = select(0.0, exp((key_value(key_s[i]) - top) / params.temperature), i < k && params.temperature > 0.0);
  }
  scan_candidates(size, lid);
  var kept = k;
  if (params.top_p < 1.0) { kept = min(first_above(params.top_p * cum_s[k - 1u], true, k, k - 1u, lid) + 1u, k); }
  let u = sampler_uniform(params.seed, params.step);
  var pick = first_above(u * cum_s[kept - 1u], false, kept, kept - 1u, lid);
  if (params.temperature <= 0.0) { pick = 0u; }
  if (lid == 0u) { out[0] = idx_s[pick] | bad; }
  storageBarrier();
  for (var b = lid; b <= FLAG; b += WG) { atomicStore(&hist[b], 0u); }
}
