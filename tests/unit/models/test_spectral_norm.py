"""Spectral normalisation of discriminators (``model.spectral_norm``), any family."""

import dataclasses
import functools

import flax.linen as nn
import jax
import numpy as np
import optax
import pytest

from ganjax.gan.state import create_train_states
from ganjax.gan.step import StepSpec, train_step
from ganjax.models import build_model

from .test_param_trees import CASES, _trees

#: Families whose discriminators take the option (resnet has it on by default).
FAMILIES = [case for case, (name, *_) in CASES.items() if name != "resnet"]


def _split(tree):
  params = {k: v for k, v in tree.items() if k.startswith("params/")}
  stats = {k: v for k, v in tree.items() if k.startswith("batch_stats/")}
  return params, stats


@pytest.mark.parametrize("case", FAMILIES)
def test_parameters_are_unchanged_and_every_weight_has_a_vector(case):
  plain_model, plain = _trees(case, spectral_norm=False)
  model, trees = _trees(case, spectral_norm=True)
  # Same G; D's params keep their paths, so the option adds only SN state.
  assert trees["generator"] == plain["generator"]
  params, stats = _split(trees["discriminator"])
  plain_params, plain_stats = _split(plain["discriminator"])
  assert params == plain_params
  sn_stats = {k: v for k, v in stats.items() if k not in plain_stats}
  assert set(stats) - set(sn_stats) == set(plain_stats)
  weights = {k.split("/")[1] for k, shape in params.items()
             if k.endswith(("/kernel", "/embedding")) and len(shape) >= 2}
  weights -= {"label_embedding"}  # An input embedding, not a weighted layer.
  normalised = {k.split("/")[2] for k in sn_stats if k.endswith("/u")}
  assert normalised == weights
  assert all(k.split("/")[1].startswith("SpectralNorm_") for k in sn_stats)
  # Spectral norm keeps batch_stats but does not make D a BatchNorm network.
  assert model.discriminator_batch_norm == plain_model.discriminator_batch_norm


def _seed_model():
  return build_model("seed", (8, 8, 1), None, noise_dim=4, g_features=8, d_features=4,
                     spectral_norm=True)


@functools.cache
def _seed_discriminator():
  """The seed's D with spectral norm, initialised (once: compiling is the cost)."""
  module = _seed_model().discriminator
  images = jax.random.uniform(jax.random.PRNGKey(1), (4, 8, 8, 1))
  variables = jax.jit(lambda x: module.init(jax.random.PRNGKey(0), x, train=False))(images)

  @functools.partial(jax.jit, static_argnames="train")
  def apply(variables, train):
    logits, updates = module.apply(variables, images, train=train,
                                   rngs={"dropout": jax.random.PRNGKey(2)},
                                   mutable=["batch_stats"])
    return logits, {**variables, **updates}

  return variables, apply


def _kernel(params, stat_name):
  """The kernel a ``<layer>/kernel/sigma`` statistic belongs to, as a matrix."""
  layer = stat_name.split("/")[0]
  kernel = np.asarray(params[layer]["kernel"])
  return kernel.reshape(-1, kernel.shape[-1])


def test_normalised_kernels_have_unit_spectral_norm():
  variables, apply = _seed_discriminator()
  for _ in range(100):
    _, variables = apply(variables, train=True)
  sigmas = {name: float(value)
            for stats in variables["batch_stats"].values()
            for name, value in stats.items() if name.endswith("/sigma")}
  assert len(sigmas) == 5  # Four convolutions and the logit layer.
  for name, sigma in sigmas.items():
    largest = np.linalg.svd(_kernel(variables["params"], name), compute_uv=False)[0]
    # The layer used kernel / sigma: its largest singular value is ~1.
    assert largest / sigma == pytest.approx(1.0, abs=1e-2), name


def test_power_iteration_state_updates_in_training_only():
  variables, apply = _seed_discriminator()

  def vectors(variables):
    return [u for stats in variables["batch_stats"].values()
            for name, u in stats.items() if name.endswith("/u")]

  before = vectors(variables)
  evaluated = vectors(apply(variables, train=False)[1])
  trained = vectors(apply(variables, train=True)[1])
  assert len(before) == 5
  assert all(np.array_equal(a, b) for a, b in zip(before, evaluated))
  assert not any(np.array_equal(a, b) for a, b in zip(before, trained))


class _DenseGenerator(nn.Module):
  """Noise -> 8x8x1 images in [0, 1] through one dense layer."""

  @nn.compact
  def __call__(self, noise, condition=None, *, train):
    del condition, train
    return nn.sigmoid(nn.Dense(64)(noise)).reshape((-1, 8, 8, 1))


@pytest.mark.slow  # Compiles the seed D's step; SN's arithmetic is tested above.
def test_train_step_with_spectral_norm_concatenates_real_and_fake():
  # The seed's D; a one-layer G, since compiling the step is this test's cost.
  model = dataclasses.replace(_seed_model(), generator=_DenseGenerator())
  assert not model.discriminator_batch_norm
  batch = {"image": jax.random.uniform(jax.random.PRNGKey(3), (4, 8, 8, 1))}
  g_state, d_state = jax.jit(lambda batch, key: create_train_states(
      model, optax.adam(1e-3), optax.adam(1e-3), batch, key))(batch, jax.random.PRNGKey(0))
  assert d_state.batch_stats and all(k.startswith("SpectralNorm_")
                                     for k in d_state.batch_stats)
  batch_sizes = []

  def spy(variables, images, *args, **kwargs):
    batch_sizes.append(images.shape[0])
    return model.discriminator.apply(variables, images, *args, **kwargs)

  step = jax.jit(functools.partial(train_step, spec=StepSpec(model)))
  _, new_d_state, metrics = step(g_state, d_state.replace(apply_fn=spy), batch,
                                 jax.random.PRNGKey(4))
  assert batch_sizes[0] == 8  # D phase: one call on real + fake.
  assert bool(metrics["finite"])
  changed = jax.tree.map(lambda a, b: not np.array_equal(a, b), d_state.batch_stats,
                         new_d_state.batch_stats)
  assert any(jax.tree.leaves(changed))
