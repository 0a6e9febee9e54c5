"""Gradient penalties against values computed by hand on tiny discriminators."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganjax.gan import losses, regularizers
from ganjax.gan.regularizers import PhaseInputs

REAL = jnp.asarray(np.random.default_rng(0).normal(size=(4, 3, 3, 1)), jnp.float32)
FAKE = jnp.asarray(np.random.default_rng(1).normal(size=(4, 3, 3, 1)), jnp.float32)
W = jnp.asarray(np.random.default_rng(2).normal(size=(3, 3, 1)), jnp.float32)


def _inputs(discriminate) -> PhaseInputs:
  return PhaseInputs({"image": REAL}, FAKE, None, discriminate, jax.random.PRNGKey(0))


def _linear(x, condition):
  """D(x) = <w, x>: its gradient is w everywhere."""
  return jnp.sum(x * W, axis=(1, 2, 3))


def _quadratic(x, condition):
  """D(x) = sum(x^2): its gradient is 2x."""
  return jnp.sum(x**2, axis=(1, 2, 3))


def test_r1_and_r2_are_the_squared_gradient_norms_on_reals_and_fakes():
  w_norm2 = float(jnp.sum(W**2))
  assert float(regularizers.r1_penalty(_inputs(_linear))) == pytest.approx(w_norm2,
                                                                          rel=1e-5)
  per_real = np.sum(4 * np.asarray(REAL)**2, axis=(1, 2, 3))
  per_fake = np.sum(4 * np.asarray(FAKE)**2, axis=(1, 2, 3))
  assert float(regularizers.r1_penalty(_inputs(_quadratic))) == pytest.approx(
      per_real.mean(), rel=1e-5)
  assert float(regularizers.r2_penalty(_inputs(_quadratic))) == pytest.approx(
      per_fake.mean(), rel=1e-5)


def test_gradient_penalty_on_interpolates():
  # Linear D: the gradient norm is ||w|| at every interpolate.
  expected = (float(jnp.sqrt(jnp.sum(W**2))) - 1.0)**2
  assert float(regularizers.gradient_penalty(_inputs(_linear))) == pytest.approx(
      expected, rel=1e-5)
  # Quadratic D: the gradient at x_hat = real + a (fake - real) is 2 x_hat, with
  # a drawn per example from the term's key as the penalty draws it.
  mix = np.asarray(jax.random.uniform(jax.random.PRNGKey(0), (4, 1, 1, 1)))
  between = np.asarray(REAL) + mix * (np.asarray(FAKE) - np.asarray(REAL))
  norms = np.sqrt(np.sum((2 * between)**2, axis=(1, 2, 3)))
  assert float(regularizers.gradient_penalty(_inputs(_quadratic))) == pytest.approx(
      np.mean((norms - 1)**2), rel=1e-5)


def test_lazy_terms_are_weighted_by_their_interval_on_their_steps():
  term = regularizers.Regularizer("r1", 2.0, regularizers.r1_penalty, every=4)
  value = float(jnp.sum(W**2))
  total, terms = regularizers.apply((term,), _inputs(_linear), jnp.int32(8))
  assert float(total) == pytest.approx(2.0 * 4 * value, rel=1e-5)
  assert float(terms["r1"]) == pytest.approx(4 * value, rel=1e-5)
  total, terms = regularizers.apply((term,), _inputs(_linear), jnp.int32(9))
  assert float(total) == 0 and float(terms["r1"]) == 0


def test_make_regularizers_refuses_bad_settings():
  with pytest.raises(ValueError, match="r1_every"):
    regularizers.make_regularizers(r1_weight=1.0, r1_every=0)
  with pytest.raises(ValueError, match="gp_weight"):
    regularizers.make_regularizers(gp_weight=-1.0)
  d_terms, _ = regularizers.make_regularizers(r1_weight=1.0, r2_weight=1.0,
                                              gp_weight=10.0)
  assert [r.name for r in d_terms] == ["r1", "r2", "gp"]


def test_wasserstein_critic_loss_is_the_negated_mean_difference():
  loss = losses.ADVERSARIAL_LOSSES["wasserstein"]
  real, fake = jnp.array([2.0, 4.0]), jnp.array([1.0, -1.0])
  assert float(loss.discriminator(real, fake)) == pytest.approx(0.0 - 3.0)
  assert float(loss.generator(fake)) == pytest.approx(0.0)
  assert float(loss.score(real).mean()) == pytest.approx(3.0)  # raw critic values
