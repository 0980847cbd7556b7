// gelu_tanh(v) = 0.5 v (1 + tanh(sqrt(2/pi) (v + 0.044715 v^3))), shared by the activation shaders and the
// fused decode matvec's epilogue. Declarations only. Evaluated as v * sigmoid(2u) = v / (1 + exp(-2u)), an
// identity of the tanh form without cancellation for negative v; u uses v clamped to [-20, 20] and exp's
// argument is clamped, so no step overflows; v < -20 gives 0 (the true value is below the smallest f32).

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;

fn gelu_tanh(v: f32) -> f32 {
  let c = clamp(v, -20.0, 20.0);
  let u = SQRT_2_OVER_PI * (c + 0.044715 * c * c * c);
  return select(v / (1.0 + exp(min(-2.0 * u, 80.0))), 0.0, v < -20.0);
}
