// tanh that stays finite for any x (exp(2x) overflows to inf/inf = NaN in the naive form, and
// backends differ in how their builtin tanh handles large arguments).
fn tanh_stable(x: f32) -> f32 {
  let e = exp(-2.0 * abs(x));
  return sign(x) * (1.0 - e) / (1.0 + e);
}
