// KV cache append: copy the keys and values of T new tokens into a layer's ring-buffer cache.
//
// Layout: k, v are [T, n_kv, head_dim] (already normed and RoPE'd); k_cache, v_cache are
// [n_kv, capacity, head_dim]. Token t has absolute position pos0 + t and lands in slot
// (pos0 + t) % capacity of every kv head, so a sliding layer's cache is a ring buffer and a global
// layer's cache (capacity = max context) never wraps.
//
// Bindings (group 0): params (uniform Params), k (read), v (read), k_cache (read_write),
// v_cache (read_write).
// Params: rows = T, n_kv, head_dim, pos0 (changes every decode step), capacity, n = T * n_kv * head_dim.
// Grid: 1-D over n in workgroups of WG, folded into 2-D past the per-dimension limit.
// Assumes T <= capacity (no token of the chunk overwrites another of the same chunk).

struct Params {
  rows: u32,
  n_kv: u32,
  head_dim: u32,
  pos0: u32,
  capacity: u32,
  n: u32,
  _pad0: u32,
  _pad1: u32,
}

override WG: u32 = 256;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(4) var<storage, read_write> v_cache: array<f32>;

@compute @workgroup_size(WG)
fn kv_append(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= params.n) { return; }
  let per_token = params.n_kv * params.head_dim;
  let t = i / per_token;
  let hd = i % per_token;
  let head = hd / params.head_dim;
  let d = hd % params.head_dim;
  let slot = (params.pos0 + t) % params.capacity;
  let dst = (head * params.capacity + slot) * params.head_dim + d;
  k_cache[dst] = k[i];
  v_cache[dst] = v[i];
}
