// tanh that never overflows, shared by the soft-capping shaders (activation's softcap, local_attention's
// logit cap). Declarations only. |v| < 0.625: an odd polynomial in v (no cancellation near 0); otherwise
// 1 - 2 / (exp(2|v|) + 1) with |v| capped at 10, so exp stays finite; the sign is restored last.

fn tanh_safe(v: f32) -> f32 {
  let a = abs(v);
  if (a < 0.625) {
    let s = v * v;
    return v + v * s * ((((-5.70498872745e-3 * s + 2.06390887954e-2) * s - 5.37397155531e-2) * s + 1.33314422036e-1) * s - 3.33332819422e-1);
  }
  let t = 1.0 - 2.0 / (exp(2.0 * min(a, 10.0)) + 1.0);
  return select(t, -t, v < 0.0);
}
