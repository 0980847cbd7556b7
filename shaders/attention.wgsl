// Causal (global or sliding-window) grouped-query attention over a ring-buffer KV cache, with a
// streaming ("online") softmax in f32.
//
// Rows: the query heads that share kv head g are packed as rows rho = t * G + j (G = n_heads / n_kv,
// query t, head h = g * G + j), so one workgroup serves ROWS rows of one kv head and every K/V tile it
// stages is used by all of them (several heads of one token when decoding, several tokens and heads
// when prefilling). Query t has absolute position P = pos0 + t and sees keys at positions s with
// lo(P) <= s <= P, lo(P) = max(0, P - window + 1) for a sliding layer (window > 0) and 0 for a global
// one; position s is read from slot s % capacity of the cache.
//
// Algorithm, per workgroup (row block b, kv head g, key split z):
//   keys [lo(first row), P(last row)] are cut into n_split equal chunks (rounded up to BK); chunk z is
//   streamed in tiles of BK keys. For each tile: scores S[r][j] = scale * q_r . k_j, accumulated over
//   head_dim in chunks of DC dims staged in workgroup memory (q rows and the K tile, padded to DC + 1
//   to avoid bank conflicts); masked keys get probability 0; per row m = running max,
//   alpha = exp(m_old - m_new), p = exp(s - m_new), l = l * alpha + sum(p); O = O * alpha + P V with
//   the V tile staged the same way. The accumulator O lives in workgroup memory (ROWS x MAX_D).
//   attention_prefill (n_split = 1) writes out = O / l; attention_split writes the partial (O, m, l)
//   of its chunk and attention_combine merges the chunks: M = max m_z, w_z = exp(m_z - M),
//   out = sum w_z O_z / sum w_z l_z (flash-decoding).
// Everything that depends on the position (key range, chunking) is computed here from the uniforms,
// so a recorded decode dispatch is replayed for every step with only pos0 changed.
//
// Bindings (group 0): params (uniform Params); q (read) [rows, n_heads, head_dim];
// k_cache, v_cache (read) [n_kv, capacity, head_dim]; out (read_write) [rows, n_heads * head_dim];
// part (read_write) [n_split, rows * n_heads, head_dim + 2]: O, then m and l, per split and row.
// Params: rows (T), n_heads, n_kv, head_dim, pos0, capacity, window (0 = global), n_split, scale.
// Grid: ceil(T * G / ROWS) * n_kv * n_split workgroups (linear index wid.x + wid.y * nwg.x, split
// fastest, then kv head, then row block); attention_combine: 1-D over rows * n_heads * head_dim.
// Workgroup memory: 4 * (ROWS * DC + BK * (DC + 1) + ROWS * BK + ROWS * MAX_D + 3 * ROWS) bytes, about
// 14 KiB for the shipped variants (under WebGPU's 16 KiB default).
// Assumes head_dim <= MAX_D, n_heads % n_kv == 0 and a cache that still holds every key a query of the
// batch needs (capacity >= window + T - 1 when sliding, >= pos0 + T when global): checked in TS.

struct Params {
  rows: u32,
  n_heads: u32,
  n_kv: u32,
  head_dim: u32,
  pos0: u32,
  capacity: u32,
  window: u32,
  n_split: u32,
  scale: f32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

override WG: u32 = 64;
override ROWS: u32 = 8;
override BK: u32 = 32;
override DC: u32 = 32;
override MAX_D: u32 = 256;

const NEG: f32 = -1.0e30;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k_cache: array<f32>;
@group(0) @binding(3) var<storage, read> v_cache: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> part: array<f32>;

var<workgroup> q_s: array<f32, ROWS * DC>;
var<workgroup> kv_s: array<f32, BK * (DC + 1u)>;
var<workgroup> p_s: array<f32, ROWS * BK>;
var<workgroup> o_s: array<f32, ROWS * MAX_D>;
var<workgroup> m_s: array<f32, ROWS>;
var<workgroup> l_s: array<f32, ROWS>;
var<workgroup> alpha_s: array<f32, ROWS>;

// What one workgroup works on; every field is uniform across the workgroup.
struct Block {
  valid: bool,
  g: u32,
  split: u32,
  rho0: u32,
  nr: u32,
  k_begin: u32,
  k_end: u32,
}

fn group_size() -> u32 {
  return params.n_heads / params.n_kv;
}

// Lowest key position visible to the query at absolute position p.
fn key_lo(p: u32) -> u32 {
  if (params.window == 0u || p + 1u <= params.window) { return 0u; }
  return p + 1u - params.window;
}

// (query t, head h) of packed row rho of kv head g.
fn row_query(rho: u32) -> u32 {
  return rho / group_size();
}

fn row_head(g: u32, rho: u32) -> u32 {
  return g * group_size() + rho % group_size();
}

fn block_of(wid: vec3<u32>, nwg: vec3<u32>) -> Block {
  var b: Block;
  let w = wid.x + wid.y * nwg.x;
  let rows_g = params.rows * group_size();
  let n_blocks = (rows_g + ROWS - 1u) / ROWS;
  b.split = w % params.n_split;
  let rest = w / params.n_split;
  b.g = rest % params.n_kv;
  let blk = rest / params.n_kv;
  b.valid = blk < n_blocks;
  b.rho0 = blk * ROWS;
  b.nr = min(ROWS, rows_g - min(b.rho0, rows_g));
  if (!b.valid) { return b; }
  let lo = key_lo(params.pos0 + row_query(b.rho0));
  let hi = params.pos0 + row_query(b.rho0 + b.nr - 1u) + 1u;
  let per = (hi - lo + params.n_split - 1u) / params.n_split;
  let chunk = (per + BK - 1u) / BK * BK;
  b.k_begin = min(lo + b.split * chunk, hi);
  b.k_end = min(b.k_begin + chunk, hi);
  return b;
}

fn cache_index(g: u32, pos: u32) -> u32 {
  return (g * params.capacity + pos % params.capacity) * params.head_dim;
}

// Stage dims [d0, d0 + dl) of the K or V tile (keys k0 .. k0 + nk) in kv_s, zero-padded.
fn stage_kv(is_v: bool, g: u32, k0: u32, nk: u32, d0: u32, dl: u32, lid: u32) {
  for (var i = lid; i < BK * DC; i += WG) {
    let j = i / DC;
    let c = i % DC;
    var x = 0.0;
    if (j < nk && c < dl) {
      let at = cache_index(g, k0 + j) + d0 + c;
      x = select(k_cache[at], v_cache[at], is_v);
    }
    kv_s[j * (DC + 1u) + c] = x;
  }
}

// Stream keys [blk.k_begin, blk.k_end) through the online softmax; leaves O, m, l in o_s, m_s, l_s.
fn attend(blk: Block, lid: u32) {
  let hd = params.head_dim;
  for (var i = lid; i < ROWS * MAX_D; i += WG) { o_s[i] = 0.0; }
  if (lid < ROWS) {
    m_s[lid] = NEG;
    l_s[lid] = 0.0;
  }
  for (var k0 = blk.k_begin; k0 < blk.k_end; k0 += BK) {
    let nk = min(BK, blk.k_end - k0);
    for (var i = lid; i < ROWS * BK; i += WG) { p_s[i] = 0.0; }
    for (var d0 = 0u; d0 < hd; d0 += DC) {
      let dl = min(DC, hd - d0);
      workgroupBarrier();
      for (var i = lid; i < ROWS * DC; i += WG) {
        let r = i / DC;
        let c = i % DC;
        var x = 0.0;
        if (r < blk.nr && c < dl) {
          let rho = blk.rho0 + r;
          x = q[(row_query(rho) * params.n_heads + row_head(blk.g, rho)) * hd + d0 + c];
        }
        q_s[i] = x;
      }
      stage_kv(false, blk.g, k0, nk, d0, dl, lid);
      workgroupBarrier();
      for (var i = lid; i < ROWS * BK; i += WG) {
        let r = i / BK;
        let j = i % BK;
        var acc = 0.0;
        for (var c = 0u; c < dl; c++) { acc += q_s[r * DC + c] * kv_s[j * (DC + 1u) + c]; }
        p_s[i] += acc;
      }
    }
    workgroupBarrier();
    if (lid < ROWS) {
      let r = lid;
      let p = params.pos0 + row_query(blk.rho0 + r);
      let lo = key_lo(p);
      let live = r < blk.nr;
      let m_old = m_s[r];
      var m_new = m_old;
      for (var j = 0u; j < nk; j++) {
        let s = k0 + j;
        if (live && s >= lo && s <= p) { m_new = max(m_new, params.scale * p_s[r * BK + j]); }
      }
      var sum = 0.0;
      for (var j = 0u; j < BK; j++) {
        let s = k0 + j;
        var e = 0.0;
        if (live && j < nk && s >= lo && s <= p) { e = exp(params.scale * p_s[r * BK + j] - m_new); }
        p_s[r * BK + j] = e;
        sum += e;
      }
      let alpha = exp(m_old - m_new);
      alpha_s[r] = alpha;
      l_s[r] = l_s[r] * alpha + sum;
      m_s[r] = m_new;
    }
    for (var d0 = 0u; d0 < hd; d0 += DC) {
      let dl = min(DC, hd - d0);
      workgroupBarrier();
      stage_kv(true, blk.g, k0, nk, d0, dl, lid);
      workgroupBarrier();
      for (var i = lid; i < ROWS * DC; i += WG) {
        let r = i / DC;
        let c = i % DC;
        if (c < dl) {
          var acc = o_s[r * MAX_D + d0 + c] * alpha_s[r];
          for (var j = 0u; j < nk; j++) { acc += p_s[r * BK + j] * kv_s[j * (DC + 1u) + c]; }
          o_s[r * MAX_D + d0 + c] = acc;
        }
      }
    }
    workgroupBarrier();
  }
  workgroupBarrier();
}

@compute @workgroup_size(WG)
fn attention_prefill(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let blk = block_of(wid, nwg);
  if (!blk.valid) { return; }
  attend(blk, lid);
  let hd = params.head_dim;
  for (var i = lid; i < blk.nr * hd; i += WG) {
    let r = i / hd;
    let d = i % hd;
    let rho = blk.rho0 + r;
    out[(row_query(rho) * params.n_heads + row_head(blk.g, rho)) * hd + d] = o_s[r * MAX_D + d] / l_s[r];
  }
}

@compute @workgroup_size(WG)
fn attention_split(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let blk = block_of(wid, nwg);
  if (!blk.valid) { return; }
  attend(blk, lid);
  let hd = params.head_dim;
  let stride = hd + 2u;
  let n_rows = params.rows * params.n_heads;
  for (var i = lid; i < blk.nr * stride; i += WG) {
    let r = i / stride;
    let d = i % stride;
    let rho = blk.rho0 + r;
    let row = row_query(rho) * params.n_heads + row_head(blk.g, rho);
    var x = 0.0;
    if (d < hd) {
      x = o_s[r * MAX_D + d];
    } else if (d == hd) {
      x = m_s[r];
    } else {
      x = l_s[r];
    }
    part[(blk.split * n_rows + row) * stride + d] = x;
  }
}

@compute @workgroup_size(WG)
fn attention_combine(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let hd = params.head_dim;
  let n_rows = params.rows * params.n_heads;
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= n_rows * hd) { return; }
  let row = i / hd;
  let d = i % hd;
  let stride = hd + 2u;
  var m = NEG;
  for (var z = 0u; z < params.n_split; z++) { m = max(m, part[(z * n_rows + row) * stride + hd]); }
  var o = 0.0;
  var l = 0.0;
  for (var z = 0u; z < params.n_split; z++) {
    let base = (z * n_rows + row) * stride;
    let w = exp(part[base + hd] - m);
    o += w * part[base + d];
    l += w * part[base + hd + 1u];
  }
  out[i] = o / l;
}
