// Weight storage formats, shared by the linear shaders (matvec, matvec_subgroups, matvec_rows, matmul,
// matmul_units, linear_t, conv2d): each includes it with a `// #include "weight_formats.wgsl"` line, which defineKernel
// expands (packages/gpu/src/wgsl-source.ts), so it holds declarations only, no directive. The formats are those of packages/kernels/src/
// quant.ts: f32; bf16 and f16 two per u32 (the low half first); q8 four int8 codes per u32 (byte 0
// first); q4 eight 4-bit codes per u32 (code c stands for c - 8); q8/q4 f16 group scales in pairs.
// unit_dot is the dot product of one 16-byte unit with its x values, which the matvec shaders share.
// The including shader declares `override DTYPE: u32` (one of the codes below) and the `scales` binding
// (array<u32>, f16 pairs).

const F32 = 0u;
const BF16 = 1u;
const F16 = 2u;
const Q8 = 3u;
const Q4 = 4u;

// Elements per u32 storage word, and so x vec4s per 16-byte weight unit.
fn per_word() -> u32 {
  switch DTYPE {
    case 0u: { return 1u; }
    case 1u, 2u: { return 2u; }
    case 3u: { return 4u; }
    default: { return 8u; }
  }
}

// Two packed 16-bit weights, the low half first.
fn pair(word: u32) -> vec2<f32> {
  if (DTYPE == BF16) {
    return vec2<f32>(bitcast<f32>(word << 16u), bitcast<f32>(word & 0xffff0000u));
  }
  return unpack2x16float(word);
}

// Four int8 weights, byte 0 first.
fn q8x4(word: u32) -> vec4<f32> {
  return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(word << 24u, word << 16u, word << 8u, word)) >> vec4<u32>(24u));
}

// Four 4-bit weights from nibbles starting at bit `shift` (0 or 16), as code - 8.
fn q4x4(word: u32, shift: u32) -> vec4<f32> {
  return vec4<f32>((vec4<u32>(word >> shift) >> vec4<u32>(0u, 4u, 8u, 12u)) & vec4<u32>(15u)) - 8.0;
}

// The f16 scale of quantization group g.
fn scale_of(group: u32) -> f32 {
  return unpack2x16float(scales[group >> 1u])[group & 1u];
}

// Weights 4j .. 4j + 3 of a 16-byte unit (j < per_word()), before the group scale.
fn unit_vec(q: vec4<u32>, j: u32) -> vec4<f32> {
  switch DTYPE {
    case 0u: {
      return bitcast<vec4<f32>>(q);
    }
    case 1u, 2u: {
      if (j == 0u) {
        return vec4<f32>(pair(q.x), pair(q.y));
      }
      return vec4<f32>(pair(q.z), pair(q.w));
    }
    case 3u: {
      return q8x4(q[j]);
    }
    default: {
      return q4x4(q[j >> 1u], (j & 1u) * 16u);
    }
  }
}

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
