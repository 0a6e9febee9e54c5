"""The generator's exponential moving average: arithmetic, warm-up, use."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ganjax.gan.state import EmaSettings, create_train_states
from ganjax.models import build_model


def _states(ema: EmaSettings | None):
  model = build_model("dcgan", (8, 8, 1), None, noise_dim=4, g_features=2, d_features=2)
  batch = {"image": jnp.zeros((2, 8, 8, 1))}
  return create_train_states(model, optax.sgd(0.1), optax.sgd(0.1), batch,
                             jax.random.PRNGKey(0), ema=ema)


def _ones_like(tree):
  return jax.tree.map(jnp.ones_like, tree)


def test_average_moves_by_the_half_life_decay():
  ema = EmaSettings(half_life_images=100.0, images_per_step=10, rampup=0.0)
  g, _ = _states(ema)
  start = g.params
  g = g.apply_gradients(grads=_ones_like(g.params))
  beta = 0.5**(10 / 100)
  # After one SGD step of -0.1: average = p + beta * (p0 - p), p = p0 - 0.1.
  expected = jax.tree.map(lambda p0: (p0 - 0.1) + beta * 0.1, start)
  for got, want in zip(jax.tree.leaves(g.ema_params), jax.tree.leaves(expected)):
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
  assert float(ema.decay(jnp.int32(1))) == pytest.approx(beta)


def test_warm_up_limits_the_half_life_to_a_share_of_the_images_seen():
  ema = EmaSettings(half_life_images=1e6, images_per_step=10, rampup=0.05)
  # After 100 steps (1,000 images) the half-life is 50 images, not a million.
  assert float(ema.decay(jnp.int32(100))) == pytest.approx(0.5**(10 / 50))
  assert float(ema.decay(jnp.int32(10**7))) == pytest.approx(0.5**(10 / 1e6))


def test_inference_uses_the_average_unless_switched_to_raw_weights():
  g, _ = _states(EmaSettings(half_life_images=1e6, images_per_step=10, rampup=0.0))
  g = g.apply_gradients(grads=_ones_like(g.params))
  leaf = lambda tree: jax.tree.leaves(tree)[0]
  assert np.array_equal(leaf(g.inference_variables()["params"]), leaf(g.ema_params))
  assert not np.array_equal(leaf(g.ema_params), leaf(g.params))
  raw = g.replace(ema=EmaSettings(1e6, 10, 0.0, for_inference=False))
  assert np.array_equal(leaf(raw.inference_variables()["params"]), leaf(g.params))


def test_without_ema_the_state_tree_is_unchanged():
  g, _ = _states(None)
  assert g.ema_params is None
  names = {jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(g)}
  assert not any("ema" in name for name in names)
