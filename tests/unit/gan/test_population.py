"""The population step (ganjax.gan.population): members trained at once, each with
its own values; held members unchanged."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ganjax.gan import population
from ganjax.gan.state import create_train_states
from ganjax.gan.step import StepSpec, train_step
from ganjax.models import build_model
from ganjax.run import builders
from ganjax.run import config as config_lib
from ganjax.run import population as population_config

BATCH = 8


def _members(count: int = 2):
  model = build_model("dcgan", (8, 8, 1), None, noise_dim=4, g_features=4, d_features=4)
  batch = {"image": jnp.asarray(np.random.default_rng(0).uniform(
      -1, 1, (count, BATCH, 8, 8, 1)).astype(np.float32))}
  states = [create_train_states(model, optax.adam(1e-3), optax.adam(1e-3),
                                population.member(batch, 0), jax.random.PRNGKey(m))
            for m in range(count)]
  g = population.stack([s[0] for s in states])
  d = population.stack([s[1] for s in states])
  keys = jax.random.split(jax.random.PRNGKey(9), count)
  return model, g, d, batch, keys


def _member_step(g, d, key, batch, *, spec):
  return train_step(g, d, batch, key, spec=spec)


def _no_values(spec, g, d, values):
  del values
  return spec, g, d


def test_members_train_at_once_and_a_held_member_keeps_its_state():
  model, g, d, batch, keys = _members()
  step = jax.jit(functools.partial(population.population_step, member_step=_member_step,
                                   spec=StepSpec(model), configure=_no_values))
  new_g, new_d, metrics = step(g, d, keys, batch, values={},
                               active=jnp.asarray([True, False]))
  assert metrics["d_loss"].shape == (2,)
  assert list(new_g.step) == [1, 0] and list(new_d.step) == [1, 0]
  held = population.member(new_g.params, 1)
  assert all(jax.tree.leaves(jax.tree.map(
      lambda a, b: bool(jnp.array_equal(a, b)), held, population.member(g.params, 1))))
  trained = population.member(new_g.params, 0)
  assert not all(jax.tree.leaves(jax.tree.map(
      lambda a, b: bool(jnp.array_equal(a, b)), trained, population.member(g.params, 0))))
  # What a member computes is its single run's step, to float rounding.
  single_g, _, single_metrics = jax.jit(functools.partial(_member_step, spec=StepSpec(model)))(
      population.member(g, 0), population.member(d, 0), keys[0],
      population.member(batch, 0))
  np.testing.assert_allclose(metrics["d_loss"][0], single_metrics["d_loss"], rtol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
               trained, single_g.params)


def test_swept_values_reach_their_members():
  """The learning rate and a loss weight, per member, where the step reads them."""
  config = config_lib.default_config()
  config.train.population = 2
  config.population.sweep.optim.g.learning_rate = (1e-4, 3e-4)
  config.population.sweep.loss.r1_weight = (0.0, 2.0)
  model, g, d, _, _ = _members()
  assert builders.step_spec(config, model).d_regularizers == ()  # The base has no R1...
  shared = builders.step_spec(population_config.structure_config(config), model)
  assert [r.name for r in shared.d_regularizers] == ["r1"]  # ...the members' step has.
  values = population_config.value_arrays(config)
  for m in range(2):
    spec_m, g_m, _ = builders.hyperparameter_setter(config)(
        shared, population.member(g, m), population.member(d, m),
        {k: jnp.asarray(v[m]) for k, v in values.items()})
    assert float(spec_m.d_regularizers[0].weight) == [0.0, 2.0][m]
    grads = jax.tree.map(jnp.ones_like, g_m.params)
    updates, _ = g_m.tx.update(grads, g_m.tx.init(g_m.params), g_m.params)
    # Adam's first update is -learning_rate * sign(grad).
    np.testing.assert_allclose(jax.tree.leaves(updates)[0], -[1e-4, 3e-4][m], rtol=1e-3)


def test_select_members_takes_the_chosen_members_and_keeps_the_structure():
  old = {"w": jnp.zeros((3, 2)), "b": jnp.zeros((3,))}
  new = {"w": jnp.ones((3, 2)), "b": jnp.ones((3,))}
  picked = population.select_members(jnp.asarray([False, True, False]), new, old)
  assert picked["w"].tolist() == [[0, 0], [1, 1], [0, 0]]
  assert picked["b"].tolist() == [0, 1, 0]


@pytest.mark.parametrize("count", [1, 3])
def test_stack_and_member_are_inverse(count):
  trees = [{"a": jnp.full((2,), m), "b": (jnp.asarray(m),)} for m in range(count)]
  stacked = population.stack(trees)
  assert stacked["a"].shape == (count, 2)
  for m in range(count):
    assert population.member(stacked, m)["a"].tolist() == [m, m]
