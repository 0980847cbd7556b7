// Log-mel spectrogram of Gemma 3n's audio feature extractor (Gemma3nAudioFeatureExtractor), f32:
//   spectrum: one workgroup per frame row r = frame0 + local row (frames of all clips in one
//             sequence, clip b = r / frames, frame t = r % frames). The frame reads frame_length + 1
//             samples of wave[b * wave_stride + t * hop ..], scales them by input_scale, pre-emphasises
//               htk (mode 1): y[0] = x[0] (1 - a),  y[j] = x[j] - a x[j-1]  (j < frame_length)
//               plain (mode 2): y[j] = x[j+1] - a x[j]
//               none (mode 0):  y[j] = x[j]
//             multiplies by the window, zero-pads to fft_length (a power of two) and writes
//             |rFFT|: mag[row * bin_stride + k] = |sum_n y[n] exp(-2 pi i k n / fft_length)| for
//             k <= fft_length / 2, and 0 for the columns up to bin_stride.
//   mel_log:  one thread per (local row r, mel bin m), i = r * feature_size + m:
//             mel = sum_{k in [bands[2m], bands[2m+1])} mag[r * bin_stride + k] * filters[m * bin_stride + k]
//             features[(frame0 + r) * feature_size + m] = (ln(max(mel, mel_floor)) - stats[m]) * stats[feature_size + m]
//             (bands: the bins where filter m is nonzero; stats: per-bin mean, then 1 / per-bin stddev, 0
//             and 1 when the config gives none). The triangular filters cover ~2 bins per mel bin on
//             average, so this reads ~1/60 of what the dense [rows, 513] x [513, 128] GEMM would (the
//             `linear` GEMM took ~3x the spectrum's time on the software adapter).
//
// FFT choice, by measurement on the software adapter (numbers in packages/kernels/src/logmel.ts): this
// radix-2 FFT in workgroup memory ran ~20x faster than the DFT as a GEMM ([frames, 512] x [1026, 512]
// cos/sin rows through `linear`, before its magnitude pass), and its double-f32 sums leave no rounding
// noise in quiet bins.
// Precision: the spectrum is computed in double-f32 ("float-float": value = hi + lo, ~44 significant
// bits). A plain f32 FFT leaves rounding noise of ~1e-7 of the frame's peak in every bin, which shows in
// the quiet high-frequency mel bins of speech (up to 3.6e-3 in log-mel on the tiny-audio fixture,
// against a tolerance of 2e-3). What remains against the golden (1.9e-4) is the window: numpy's float32
// cos, which the HF extractor uses for its Hann window, is off by one ulp in 37 of the 512 values,
// while periodicHann rounds cos correctly (the f64 pipeline on our window agrees to ~1e-6).
// Products are exact without FMA: both factors are split by masking the low 12 mantissa bits (a bit
// operation, so no compiler contraction can change it), and the four partial products of 12-bit
// halves are exact in f32; sums use TwoSum. The frame samples themselves are formed in f32, as the HF
// extractor forms them.
// The FFT: the real frame of fft_length points is packed as fft_length / 2 complex points (even samples
// real, odd imaginary) stored bit-reversed in workgroup memory (re, im as (hi, lo) pairs), then
// log2(fft_length) - 1 butterfly stages, each thread taking butterflies k = lid, lid + WG, ..., and one
// pass that untangles the complex transform into the fft_length / 2 + 1 bins of the real one;
// twiddles come from a table computed in f64 on the CPU as (hi, lo) pairs of cos and -sin of
// 2 pi m / fft_length (m < fft_length / 2), not from the builtins, whose accuracy is loosely specified.
//
// Bindings (group 0):
//   0 params  uniform Params
//   1 wave    storage, read        clips' samples, clip b at b * wave_stride (zero padded)
//   2 window  storage, read        [frame_length] analysis window (periodic Hann)
//   3 twiddle storage, read        [fft_length / 2] vec4 (cos hi, cos lo, -sin hi, -sin lo)
//   4 mag     storage, read_write  [rows, bin_stride] magnitude spectrum
//   5 stats   storage, read        [2 * feature_size] per-bin mean, then per-bin 1 / stddev
//   6 filters storage, read        [feature_size, bin_stride] mel filter weights
//   7 bands   storage, read        [feature_size, 2] u32 first and end bin of each filter's nonzero weights
//   8 features storage, read_write [frames of all clips, feature_size] log-mel out
// Params: rows (frames to compute this dispatch), frame0 (first row), frames (rows per clip),
//         wave_stride, hop, frame_length, fft_length, fft_log2, bin_stride, mode (0 none, 1 htk,
//         2 plain), preemphasis (a), one_minus_preemphasis, input_scale, opaque_zero (always 0);
//         n = rows * feature_size, feature_size, mel_floor (mel_log; rows, frame0, bin_stride too).
// Grid: spectrum one workgroup per row, mel_log 1-D over n in workgroups of WG; both folded into 2-D
// past the per-dimension limit (linear index wid.x + wid.y * nwg.x).
// Assumes 2 <= fft_length <= MAX_FFT (a power of two; the (hi, lo) arrays take 8 KiB of workgroup memory
// at 1024), frame_length <= fft_length, WG a power of two.

struct Params {
  rows: u32,
  frame0: u32,
  frames: u32,
  wave_stride: u32,
  hop: u32,
  frame_length: u32,
  fft_length: u32,
  fft_log2: u32,
  bin_stride: u32,
  mode: u32,
  preemphasis: f32,
  input_scale: f32,
  n: u32,
  feature_size: u32,
  mel_floor: f32,
  one_minus_preemphasis: f32,
  opaque_zero: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

override WG: u32 = 256;
override MAX_FFT: u32 = 1024;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> wave: array<f32>;
@group(0) @binding(2) var<storage, read> window: array<f32>;
@group(0) @binding(3) var<storage, read> twiddle: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> mag: array<f32>;
@group(0) @binding(5) var<storage, read> stats: array<f32>;
@group(0) @binding(6) var<storage, read> filters: array<f32>;
@group(0) @binding(7) var<storage, read> bands: array<u32>;
@group(0) @binding(8) var<storage, read_write> features: array<f32>;

var<workgroup> re: array<vec2<f32>, MAX_FFT / 2>;
var<workgroup> im: array<vec2<f32>, MAX_FFT / 2>;

// Double-f32 arithmetic on (hi, lo) pairs.
fn two_sum(a: f32, b: f32) -> vec2<f32> {
  let s = a + b;
  let bb = s - a;
  return vec2<f32>(s, (a - (s - bb)) + (b - bb));
}

fn quick_two_sum(s: f32, e: f32) -> vec2<f32> {
  let t = s + e;
  return vec2<f32>(t, e - (t - s));
}

// a = hi + lo with hi the top 12 significant bits of a: products of such halves are exact in f32.
fn split12(a: f32) -> vec2<f32> {
  let hi = bitcast<f32>(bitcast<u32>(a) & 0xfffff000u);
  return vec2<f32>(hi, a - hi);
}

fn two_prod(a: f32, b: f32) -> vec2<f32> {
  let p = a * b;
  let x = split12(a);
  let y = split12(b);
  return vec2<f32>(p, (((x.x * y.x - p) + x.x * y.y) + x.y * y.x) + x.y * y.y);
}

fn df_add(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  let s = two_sum(a.x, b.x);
  return quick_two_sum(s.x, s.y + (a.y + b.y));
}

fn df_mul(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  let p = two_prod(a.x, b.x);
  return quick_two_sum(p.x, p.y + (a.x * b.y + a.y * b.x));
}

// v, hidden from the compiler behind an integer op with a uniform zero: a product passed through here is
// rounded to f32 before it is added, as the HF extractor rounds it, instead of being fused into an FMA
// (SPIR-V float ops may be contracted). Any other rounding of the frame samples adds noise of ~1e-7 of
// the frame's peak to every bin, as a plain f32 FFT does.
fn rounded(v: f32) -> f32 {
  return bitcast<f32>(bitcast<u32>(v) ^ params.opaque_zero);
}

// Sample i of the frame at `base`, times input_scale, rounded to f32.
fn sample(i: u32) -> f32 {
  return rounded(wave[i] * params.input_scale);
}

// Pre-emphasised, scaled, windowed sample n of the frame starting at `base` (0 past frame_length), with
// every step rounded to f32 as in the HF extractor.
fn frame_sample(base: u32, n: u32) -> f32 {
  if (n >= params.frame_length) { return 0.0; }
  let a = params.preemphasis;
  var y: f32;
  if (params.mode == 1u) {
    if (n == 0u) {
      y = rounded(sample(base) * params.one_minus_preemphasis);
    } else {
      y = sample(base + n) - rounded(a * sample(base + n - 1u));
    }
  } else if (params.mode == 2u) {
    y = sample(base + n + 1u) - rounded(a * sample(base + n));
  } else {
    y = sample(base + n);
  }
  return rounded(y * window[n]);
}

@compute @workgroup_size(WG)
fn spectrum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let local_row = wid.x + wid.y * nwg.x;
  // Uniform per workgroup: whole workgroups leave together, before any barrier.
  if (local_row >= params.rows) { return; }
  let row = params.frame0 + local_row;
  let b = row / params.frames;
  let t = row % params.frames;
  let base = b * params.wave_stride + t * params.hop;
  let n_fft = params.fft_length;
  // The real transform of n_fft points runs as a complex one of m = n_fft / 2 points on
  // z[j] = y[2j] + i y[2j+1], untangled into the n_fft / 2 + 1 bins afterwards.
  let m = n_fft / 2u;
  let log_m = params.fft_log2 - 1u;

  for (var j = lid; j < m; j += WG) {
    let dst = select(reverseBits(j) >> (32u - log_m), 0u, log_m == 0u);
    re[dst] = vec2<f32>(frame_sample(base, 2u * j), 0.0);
    im[dst] = vec2<f32>(frame_sample(base, 2u * j + 1u), 0.0);
  }
  workgroupBarrier();

  var half = 1u;
  for (var s = 0u; s < log_m; s++) {
    // Twiddles of the m-point stage from the n_fft-point table: exp(-2 pi i j / (2 half)) = W^(j n_fft / (2 half)).
    let step = n_fft / (2u * half);
    for (var k = lid; k < m / 2u; k += WG) {
      let j = k % half;
      let i0 = (k / half) * 2u * half + j;
      let i1 = i0 + half;
      let w = twiddle[j * step];
      let wr = w.xy;
      let wi = w.zw;
      let br = re[i1];
      let bi = im[i1];
      let tr = df_add(df_mul(wr, br), -df_mul(wi, bi));
      let ti = df_add(df_mul(wr, bi), df_mul(wi, br));
      let ar = re[i0];
      let ai = im[i0];
      re[i0] = df_add(ar, tr);
      im[i0] = df_add(ai, ti);
      re[i1] = df_add(ar, -tr);
      im[i1] = df_add(ai, -ti);
    }
    workgroupBarrier();
    half = half * 2u;
  }

  // Bin k of the real transform, with Z = the m-point transform and W = exp(-2 pi i / n_fft):
  //   E = (Z[k] + conj(Z[m - k])) / 2,  O = (Z[k] - conj(Z[m - k])) / 2,  X[k] = E - i W^k O
  // (indices mod m; W^m = -1).
  let out_base = local_row * params.bin_stride;
  for (var k = lid; k < params.bin_stride; k += WG) {
    var v = 0.0;
    if (k <= m) {
      let ka = k % m;
      let kb = (m - ka) % m;
      let zr = re[ka];
      let zi = im[ka];
      let cr = re[kb];
      let ci = -im[kb];
      let er = 0.5 * df_add(zr, cr);
      let ei = 0.5 * df_add(zi, ci);
      let o_r = 0.5 * df_add(zr, -cr);
      let o_i = 0.5 * df_add(zi, -ci);
      var w = vec4<f32>(-1.0, 0.0, 0.0, 0.0);
      if (k < m) { w = twiddle[k]; }
      let p_r = df_add(df_mul(w.xy, o_r), -df_mul(w.zw, o_i));
      let p_i = df_add(df_mul(w.xy, o_i), df_mul(w.zw, o_r));
      let xr = df_add(er, p_i);
      let xi = df_add(ei, -p_r);
      let r = xr.x + xr.y;
      let i = xi.x + xi.y;
      v = sqrt(r * r + i * i);
    }
    mag[out_base + k] = v;
  }
}

@compute @workgroup_size(WG)
fn mel_log(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= params.n) { return; }
  let F = params.feature_size;
  let r = i / F;
  let m = i % F;
  let row = r * params.bin_stride;
  let w = m * params.bin_stride;
  var mel = 0.0;
  for (var k = bands[2u * m]; k < bands[2u * m + 1u]; k++) {
    mel += mag[row + k] * filters[w + k];
  }
  features[(params.frame0 + r) * F + m] = (log(max(mel, params.mel_floor)) - stats[m]) * stats[F + m];
}
