"""Sampling tools: truncation, latent interpolation and the per-class layout."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganjax.gan import sampling
from ganjax.models import Condition, GanModel


def _model(distribution: str, noise_dim: int = 32, condition=Condition.NONE) -> GanModel:
  """A model without networks: enough for the noise it samples."""
  return GanModel(generator=None, discriminator=None, noise_dim=noise_dim,
                  discriminator_batch_norm=False, noise_distribution=distribution,
                  condition=condition)


def _norms(x):
  return np.linalg.norm(np.asarray(x), axis=-1)


# Truncation.

def test_truncation_scales_the_distance_to_the_mean():
  z = jnp.array([[1.0, -2.0, 3.0], [0.5, 0.0, -1.0]])
  mean = jnp.array([1.0, 1.0, -1.0])
  np.testing.assert_allclose(sampling.truncate(z, 1.0, mean), z)
  np.testing.assert_allclose(sampling.truncate(z, 0.5, mean),
                             [[1.0, -0.5, 1.0], [0.75, 0.5, -1.0]])
  # Towards the mean in proportion: psi = 0.25 leaves a quarter of the distance.
  np.testing.assert_allclose(_norms(sampling.truncate(z, 0.25, mean) - mean),
                             0.25 * _norms(z - mean), rtol=1e-6)


@pytest.mark.parametrize("psi", [0.0, -0.5, 1.01, float("nan")])
def test_truncation_refuses_psi_outside_0_1(psi):
  with pytest.raises(ValueError, match="psi"):
    sampling.truncate(jnp.zeros((1, 3)), psi, jnp.zeros(3))


@pytest.mark.parametrize("distribution", ["uniform", "normal"])
def test_the_mean_latent_is_the_distributions_mean(distribution):
  model = _model(distribution, noise_dim=8)
  mean = sampling.noise_mean(model)
  assert mean.shape == (8,)
  drawn = model.sample_noise(jax.random.PRNGKey(0), 20000)
  np.testing.assert_allclose(drawn.mean(axis=0), mean, atol=0.03)
  # Truncated noise of either distribution stays where that noise lives: inside the
  # cube for uniform noise.
  truncated = sampling.truncate(drawn, 0.7, mean)
  assert float(jnp.abs(truncated).max()) <= 0.7 * float(jnp.abs(drawn).max()) + 1e-6


def test_the_mean_of_an_unknown_distribution_is_an_error():
  with pytest.raises(ValueError, match="unknown noise distribution"):
    sampling.noise_mean(_model("cauchy"))


# Interpolation.

def _pair(distribution: str, pairs: int = 16, dim: int = 32):
  key0, key1 = jax.random.split(jax.random.PRNGKey(3))
  model = _model(distribution, dim)
  return model.sample_noise(key0, pairs), model.sample_noise(key1, pairs)


@pytest.mark.parametrize("spherical", [False, True])
def test_interpolation_starts_and_ends_on_the_endpoints(spherical):
  start, end = _pair("normal" if spherical else "uniform")
  path = sampling.interpolate_latents(start, end, 7, spherical)
  assert path.shape == (16, 7, 32)
  np.testing.assert_allclose(path[:, 0], start, atol=1e-5)
  np.testing.assert_allclose(path[:, -1], end, atol=1e-5)


@pytest.mark.parametrize("spherical", [False, True])
def test_distances_grow_from_the_start_and_shrink_to_the_end(spherical):
  start, end = _pair("normal" if spherical else "uniform")
  path = np.asarray(sampling.interpolate_latents(start, end, 9, spherical))
  from_start = _norms(path - np.asarray(start)[:, None])
  to_end = _norms(path - np.asarray(end)[:, None])
  assert (np.diff(from_start, axis=1) > 0).all()
  assert (np.diff(to_end, axis=1) < 0).all()


def test_linear_interpolation_is_even_and_stays_in_the_cube():
  start, end = _pair("uniform")
  path = np.asarray(sampling.interpolate_latents(start, end, 5, spherical=False))
  steps = np.diff(path, axis=1)
  np.testing.assert_allclose(steps, np.broadcast_to(steps[:, :1], steps.shape),
                             atol=1e-6)
  assert np.abs(path).max() <= 1.0


def test_slerp_keeps_norms_between_the_endpoints_and_turns_evenly():
  start, end = _pair("normal")
  path = np.asarray(sampling.interpolate_latents(start, end, 11, spherical=True))
  norms = _norms(path)
  low = np.minimum(_norms(start), _norms(end))[:, None]
  high = np.maximum(_norms(start), _norms(end))[:, None]
  assert ((norms >= low - 1e-4) & (norms <= high + 1e-4)).all()
  # The norm changes linearly, the direction at a constant angular speed.
  np.testing.assert_allclose(np.diff(norms, 2, axis=1), 0, atol=1e-4)
  unit = path / norms[..., None]
  angles = np.arccos(np.clip(np.sum(unit[:, 1:] * unit[:, :-1], axis=-1), -1, 1))
  np.testing.assert_allclose(angles, np.broadcast_to(angles[:, :1], angles.shape),
                             atol=1e-3)
  # A straight line would cut through the middle: its midpoints are far shorter.
  midpoints = _norms((np.asarray(start) + np.asarray(end)) / 2)
  assert (norms[:, 5] > midpoints).all()


def test_slerp_between_parallel_latents_is_finite():
  start = jnp.array([[1.0, 2.0, 2.0]])
  path = sampling.interpolate_latents(start, 2 * start, 3, spherical=True)
  np.testing.assert_allclose(path[0], [[1, 2, 2], [1.5, 3, 3], [2, 4, 4]], atol=1e-5)
  same = sampling.interpolate_latents(start, start, 3, spherical=True)
  np.testing.assert_allclose(same[0], np.repeat(start, 3, axis=0), atol=1e-5)


def test_interpolation_needs_two_latents():
  with pytest.raises(ValueError, match="at least 2"):
    sampling.interpolate_latents(jnp.zeros(3), jnp.ones(3), 1, spherical=False)


@pytest.mark.parametrize("spherical", [False, True])
def test_a_looping_path_visits_every_keyframe_and_returns(spherical):
  keyframes = _model("normal", 8).sample_noise(jax.random.PRNGKey(1), 2 * 3).reshape(
      2, 3, 8)
  path = np.asarray(sampling.keyframe_path(keyframes, 4, spherical, loop=True))
  assert path.shape == (2, 12, 8)
  np.testing.assert_allclose(path[:, ::4], keyframes, atol=1e-5)
  # The step from the last latent back to the first is as long as the others of
  # its segment: no jump when the animation repeats.
  last_segment = np.concatenate([path[:, 8:], path[:, :1]], axis=1)
  steps = _norms(np.diff(last_segment, axis=1))
  assert steps.max() < 2 * steps.min()
  open_path = np.asarray(sampling.keyframe_path(keyframes, 4, spherical, loop=False))
  assert open_path.shape == (2, 9, 8)
  np.testing.assert_allclose(open_path[:, ::4], keyframes, atol=1e-5)


def test_walks_slerp_normal_noise_and_lerp_uniform_noise():
  key = jax.random.PRNGKey(5)
  normal = sampling.latent_walks(_model("normal"), key, 3, 2, 6, loop=False)
  assert normal.shape == (3, 7, 32)
  np.testing.assert_array_equal(
      normal, sampling.latent_walks(_model("normal"), key, 3, 2, 6, loop=False))
  keyframes = _model("normal").sample_noise(key, 6).reshape(3, 2, 32)
  np.testing.assert_allclose(
      normal, sampling.interpolate_latents(keyframes[:, 0], keyframes[:, 1], 7, True),
      atol=1e-5)
  uniform = sampling.latent_walks(_model("uniform"), key, 3, 4, 5, loop=True)
  assert uniform.shape == (3, 20, 32) and float(jnp.abs(uniform).max()) <= 1.0
  keyframes = _model("uniform").sample_noise(key, 12).reshape(3, 4, 32)
  np.testing.assert_allclose(uniform[:, 2], keyframes[:, 0] + 0.4 * (
      keyframes[:, 1] - keyframes[:, 0]), atol=1e-6)


# The per-class layout.

def test_class_rows_repeat_the_same_noise_down_each_column():
  model = _model("normal", 4, Condition.LABEL)
  rows = sampling.class_rows(model, jax.random.PRNGKey(0), 3, 2)
  assert rows.columns == 2
  np.testing.assert_array_equal(rows.condition, [0, 0, 1, 1, 2, 2])
  noise = model.sample_noise(jax.random.PRNGKey(0), 2)
  np.testing.assert_array_equal(rows.noise, jnp.tile(noise, (3, 1)))


def test_rows_per_class_lays_out_groups_one_after_another():
  groups = jnp.arange(2 * 3 * 1, dtype=jnp.float32).reshape(2, 3, 1)  # 2 groups of 3
  rows = sampling.rows_per_class(groups, 2, 3)
  np.testing.assert_array_equal(rows.condition, [0, 0, 0, 1, 1, 1] * 2)
  np.testing.assert_array_equal(rows.noise[:, 0],
                                [0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5])
  assert rows.columns == 3
