"""The adversarial step on synthetic data: shapes, losses moving the right way,
regularisers that differentiate through D, lazy intervals, independent streams."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ganjax.gan import losses, regularizers
from ganjax.gan import step as step_lib
from ganjax.gan.regularizers import Regularizer
from ganjax.gan.state import DiscriminatorState, GeneratorState, create_train_states
from ganjax.gan.step import StepSpec, train_step
from ganjax.models import build_model

BATCH = 8


def _batch(model_name: str, seed: int = 0) -> dict[str, jax.Array]:
  rng = np.random.default_rng(seed)
  images = rng.uniform(size=(BATCH, 8, 8, 1)).astype(np.float32)
  if model_name == "dcgan":
    images = images * 2 - 1
  batch = {"image": jnp.asarray(images)}
  if model_name == "cgan":
    batch["image"] = batch["image"] * 2 - 1
    batch["label"] = jnp.asarray(rng.integers(0, 3, BATCH), jnp.int32)
  return batch


@functools.cache
def _setup(model_name: str = "dcgan", **options):
  num_classes = 3 if model_name == "cgan" else None
  model = build_model(model_name, (8, 8, 1), num_classes, noise_dim=4, g_features=4,
                      d_features=4, **options)
  batch = _batch(model_name)
  g, d = create_train_states(model, optax.adam(1e-3), optax.adam(1e-3), batch,
                             jax.random.PRNGKey(0))
  return model, g, d, batch


@functools.cache
def _jitted_step(spec: StepSpec):
  return jax.jit(functools.partial(train_step, spec=spec))


def _run(spec, g, d, batch, steps=1, key=1):
  step = lambda g, d, k: _jitted_step(spec)(g, d, batch, k)
  for i in range(steps):
    g, d, metrics = step(g, d, jax.random.fold_in(jax.random.PRNGKey(key), i))
  return g, d, metrics


def _same(a, b) -> bool:
  return all(jax.tree.leaves(jax.tree.map(lambda x, y: bool(jnp.all(x == y)), a, b)))


@pytest.mark.parametrize("model_name,reuse_fake", [("dcgan", False), ("dcgan", True),
                                                   ("cgan", False)])
def test_one_step_updates_both_networks_and_reports_finite_metrics(model_name,
                                                                   reuse_fake):
  model, g, d, batch = _setup(model_name)
  new_g, new_d, metrics = _run(StepSpec(model, reuse_fake=reuse_fake), g, d, batch)
  assert isinstance(new_g, GeneratorState) and isinstance(new_d, DiscriminatorState)
  assert int(new_g.step) == int(new_d.step) == 1
  assert jax.tree.structure(new_g.params) == jax.tree.structure(g.params)
  assert not _same(new_g.params, g.params) and not _same(new_d.params, d.params)
  assert set(metrics) == {"d_loss", "d_real", "d_fake", "g_loss", "finite"}
  assert bool(metrics["finite"])
  assert 0 < float(metrics["d_real"]) < 1  # The cross-entropy loss reports probabilities.


def test_discriminator_phase_lowers_its_loss_on_fixed_fakes():
  model, g, d, batch = _setup()
  spec = StepSpec(model)
  fake = -jnp.ones_like(batch["image"])  # Easy to tell apart from the uniform reals.
  phase = jax.jit(lambda d, k: step_lib.discriminator_phase(
      spec, d, batch, fake, None, jnp.int32(0), k))
  losses_seen = []
  for i in range(30):
    d, metrics = phase(d, jax.random.PRNGKey(i))
    losses_seen.append(float(metrics["d_loss"]))
  assert losses_seen[-1] < losses_seen[0] - 0.1
  assert float(metrics["d_real"]) > float(metrics["d_fake"])


def test_generator_phase_lowers_its_loss_against_a_fixed_discriminator():
  model, g, d, batch = _setup()
  spec = StepSpec(model)
  noise = model.sample_noise(jax.random.PRNGKey(3), BATCH)
  phase = jax.jit(lambda g, k: step_lib.generator_phase(
      spec, g, d, batch, noise, None, jnp.int32(0), k))
  seen = []
  for i in range(30):
    g, metrics = phase(g, jax.random.PRNGKey(i))
    seen.append(float(metrics["g_loss"]))
  assert seen[-1] < seen[0]


def _r1(inputs: regularizers.PhaseInputs) -> jax.Array:
  """R1: squared gradient norm of D on real images (differentiates through D)."""
  grads = jax.grad(lambda x: jnp.sum(inputs.discriminate(x, inputs.condition)))(
      inputs.real)
  return jnp.mean(jnp.sum(grads**2, axis=(1, 2, 3)))


def test_a_discriminator_regulariser_differentiates_through_d_and_is_reported():
  model, g, d, batch = _setup()
  plain = _run(StepSpec(model), g, d, batch)
  spec = StepSpec(model, d_regularizers=(Regularizer("r1", 10.0, _r1),))
  new_g, new_d, metrics = _run(spec, g, d, batch)
  assert float(metrics["r1"]) > 0
  assert not _same(new_d.params, plain[1].params)  # The penalty changed D's update.
  # The term's gradient reaches D's parameters: with a huge weight D barely
  # follows the adversarial loss and the penalty dominates the loss.
  _, _, heavy = _run(dataclasses.replace(spec, d_regularizers=(
      Regularizer("r1", 1e4, _r1),)), g, d, batch)
  assert float(heavy["d_loss"]) > float(metrics["d_loss"])


def test_a_lazy_regulariser_runs_only_on_its_steps():
  model, g, d, batch = _setup()
  spec = StepSpec(model, d_regularizers=(Regularizer("r1", 1.0, _r1, every=2),))
  values = []
  for i in range(4):
    g, d, metrics = _run(spec, g, d, batch, key=i)
    values.append(float(metrics["r1"]))
  assert values[0] > 0 and values[2] > 0
  assert values[1] == 0 and values[3] == 0


def test_l1_is_a_generator_regulariser():
  d_terms, g_terms = regularizers.make_regularizers(l1_weight=100.0)
  assert d_terms == () and [r.name for r in g_terms] == ["l1"]
  assert regularizers.make_regularizers() == ((), ())


def test_a_new_random_stream_changes_no_other():
  """An augmentation that draws from its own stream but returns the images unchanged
  leaves the step bit-identical: named streams do not reshuffle each other."""
  model, g, d, batch = _setup()
  def identity_augment(images, condition, key, strength):
    return images + 0.0 * jax.random.uniform(key, images.shape), condition
  plain = _run(StepSpec(model), g, d, batch, steps=2)
  augmented = _run(StepSpec(model, augment=identity_augment), g, d, batch, steps=2)
  assert _same(plain[:2], augmented[:2])


def test_augmentation_applies_to_every_image_d_sees():
  model, g, d, batch = _setup()
  seen = []
  def recording_augment(images, condition, key, strength):
    seen.append(images.shape[0])
    return images, condition
  _run(StepSpec(model, augment=recording_augment), g, d, batch)
  # D phase: real and fake (separate calls with BatchNorm); G phase: fakes.
  assert sum(seen) == 3 * BATCH


@pytest.mark.parametrize("name", sorted(losses.ADVERSARIAL_LOSSES))
def test_losses_reward_the_right_side(name):
  loss = losses.ADVERSARIAL_LOSSES[name]
  confident = loss.discriminator(jnp.full(4, 3.0), jnp.full(4, -3.0))
  fooled = loss.discriminator(jnp.full(4, -3.0), jnp.full(4, 3.0))
  assert confident < fooled
  assert loss.generator(jnp.full(4, 3.0)) < loss.generator(jnp.full(4, -3.0))


def test_several_discriminator_steps_consume_one_batch_each():
  model, g, d, batch = _setup()
  spec = StepSpec(model, d_steps=2)
  other = _batch("dcgan", seed=5)
  two = {"image": jnp.concatenate([batch["image"], other["image"]])}
  g2, d2, metrics = _run(spec, g, d, two)
  assert int(d2.step) == 2 and int(g2.step) == 1
  assert bool(metrics["finite"])
  # The second D phase read the second batch: feeding the first one twice differs.
  repeated = {"image": jnp.concatenate([batch["image"], batch["image"]])}
  _, d_repeated, _ = _run(spec, g, d, repeated)
  assert not _same(d2.params, d_repeated.params)
