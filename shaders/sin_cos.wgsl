// sin and cos of an f32 angle 0 <= a < 2^17 (the RoPE angles of positions below 2^17), shared by rope.wgsl
// and the fused decode step's RoPE. Declarations only. The builtins' accuracy is only specified on [-pi, pi]
// (2^-11 absolute), so: Cody-Waite reduction by pi/2 in four parts (the first three with 7 significant bits,
// so k * part is exact for k < 2^17) and minimax polynomials on [-pi/4, pi/4].

const TWO_OVER_PI: f32 = 0.63661975;
const PIO2_1: f32 = 0x1.9p+0;
const PIO2_2: f32 = 0x1.0cp-7;
const PIO2_3: f32 = 0x1.ecp-14;
const PIO2_4: f32 = 0x1.5110b4p-22;

// (sin a, cos a) for 0 <= a < 2^17.
fn sin_cos(a: f32) -> vec2<f32> {
  let k = floor(a * TWO_OVER_PI + 0.5);
  let r = (((a - k * PIO2_1) - k * PIO2_2) - k * PIO2_3) - k * PIO2_4;
  let z = r * r;
  let s = r + r * z * ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1);
  let c = 1.0 - 0.5 * z + z * z * ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2);
  switch (u32(k) & 3u) {
    case 0u: { return vec2<f32>(s, c); }
    case 1u: { return vec2<f32>(c, -s); }
    case 2u: { return vec2<f32>(-s, -c); }
    default: { return vec2<f32>(-c, s); }
  }
}
