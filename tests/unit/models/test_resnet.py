"""The residual 32x32 family (``model.name = "resnet"``) on synthetic data.

Its parameter trees are pinned in ``test_param_trees.py`` with the other families.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ganjax.gan.losses import ADVERSARIAL_LOSSES
from ganjax.gan.state import create_train_states
from ganjax.gan.step import StepSpec, train_step
from ganjax.models import Condition, build_model

BATCH = 4
TINY = dict(noise_dim=8, g_features=8, d_features=8)


def _batch(shape=(32, 32, 3), seed=0):
  rng = np.random.default_rng(seed)
  return {"image": jnp.asarray(rng.uniform(-1, 1, (BATCH,) + shape), jnp.float32),
          "label": jnp.asarray([0, 1, 2, 1], jnp.int32)}


@functools.cache
def _states(conditional: bool):
  """A tiny model and its initial states (once per variant: compiling is the cost)."""
  model = build_model("resnet", (32, 32, 3), 3, conditional=conditional, **TINY)
  g, d = jax.jit(lambda batch, key: create_train_states(
      model, optax.adam(2e-4, b1=0.0, b2=0.9), optax.adam(2e-4, b1=0.0, b2=0.9), batch,
      key))(_batch(), jax.random.PRNGKey(0))
  return model, g, d


@functools.partial(jax.jit, static_argnums=0)
def _forward(model, g_vars, d_vars, noise, labels):
  """G's images (eval mode) and D's logits on them (eval mode)."""
  images = model.generator.apply(g_vars, noise, labels, train=False)
  return images, model.discriminator.apply(d_vars, images, labels, train=False)


@pytest.mark.parametrize("conditional", [False, True])
def test_output_shapes_and_conventions(conditional):
  model, g, d = _states(conditional)
  assert model.condition == (Condition.LABEL if conditional else Condition.NONE)
  assert (model.noise_distribution, model.output_activation) == ("normal", "tanh")
  assert not model.discriminator_batch_norm  # D has spectral norm, no BatchNorm.
  noise = model.sample_noise(jax.random.PRNGKey(1), BATCH)
  labels = _batch()["label"] if conditional else None
  images, logits = _forward(model, g.inference_variables(), d.variables(), noise, labels)
  assert images.shape == (BATCH, 32, 32, 3) and logits.shape == (BATCH,)
  assert float(jnp.max(jnp.abs(images))) <= 1.0


def test_28x28_images_take_two_up_blocks():
  model = build_model("resnet", (28, 28, 1), None, **TINY)
  noise = jax.ShapeDtypeStruct((BATCH, 8), jnp.float32)
  images = jax.eval_shape(lambda n: model.generator.init_with_output(
      jax.random.PRNGKey(0), n, train=False)[0], noise)
  assert images.shape == (BATCH, 28, 28, 1)
  logits = jax.eval_shape(lambda x: model.discriminator.init_with_output(
      jax.random.PRNGKey(0), x, train=False)[0], images)
  assert logits.shape == (BATCH,)


def test_64x64_images_take_four_up_blocks_and_three_down():
  model = build_model("resnet", (64, 64, 3), None, **TINY)
  noise = jax.ShapeDtypeStruct((BATCH, 8), jnp.float32)
  images, g_vars = jax.eval_shape(lambda n: model.generator.init_with_output(
      jax.random.PRNGKey(0), n, train=False), noise)
  assert images.shape == (BATCH, 64, 64, 3)
  assert sorted(k for k in g_vars["params"] if k.startswith("block")) == [
      "block0", "block1", "block2", "block3"]
  logits, d_vars = jax.eval_shape(lambda x: model.discriminator.init_with_output(
      jax.random.PRNGKey(0), x, train=False), images)
  assert logits.shape == (BATCH,)
  # 64 -> 32 -> 16 -> 8, then two blocks at 8x8.
  assert len([k for k in d_vars["params"] if k.startswith("block")]) == 5


@pytest.mark.parametrize("shape", [(48, 48, 3), (32, 28, 3), (16, 16, 1)])
def test_other_sizes_are_refused_in_one_sentence(shape):
  with pytest.raises(ValueError, match=r"^model 'resnet' is laid out for square images "
                                       r"of side 28, 32, 64, 128; the data has \d+x\d+$"):
    build_model("resnet", shape, None, **TINY)


def test_conditional_needs_labels():
  with pytest.raises(ValueError, match="needs labelled data"):
    build_model("resnet", (32, 32, 3), None, conditional=True, **TINY)


def test_conditional_outputs_depend_on_the_label():
  model, g, d = _states(True)
  noise = jnp.tile(model.sample_noise(jax.random.PRNGKey(1), 1), (BATCH, 1))
  labels = jnp.asarray([0, 1, 2, 0], jnp.int32)
  # The embeddings start at scale 1, shift 0 and are learned: make them differ.
  rng = np.random.default_rng(0)
  g_vars = jax.tree_util.tree_map_with_path(
      lambda path, x: x + 0.1 * rng.standard_normal(x.shape).astype(x.dtype)
      if "embedding" in jax.tree_util.keystr(path) else x, g.inference_variables())
  images, logits = _forward(model, g_vars, d.variables(), noise, labels)
  images, logits = np.asarray(images), np.asarray(logits)
  assert np.array_equal(images[0], images[3]) and logits[0] == pytest.approx(logits[3])
  assert not np.allclose(images[0], images[1]) and not np.allclose(images[1], images[2])
  # Same images, other labels: the projection changes D's logits.
  _, other = _forward(model, g_vars, d.variables(), noise, (labels + 1) % 3)
  assert not np.allclose(logits, np.asarray(other))


@pytest.mark.slow  # A compile per variant; the toolbox e2e test trains with SN too.
@pytest.mark.parametrize("conditional", [False, True])
def test_train_steps_stay_finite_and_change_both_networks(conditional):
  model, g, d = _states(conditional)
  step = jax.jit(functools.partial(train_step, spec=StepSpec(
      model, loss=ADVERSARIAL_LOSSES["hinge"])))
  new_g, new_d = g, d
  for i in range(3):
    new_g, new_d, metrics = step(new_g, new_d, _batch(seed=i), jax.random.PRNGKey(i))
    assert bool(metrics["finite"]), metrics

  def changed(a, b):
    return all(not np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a),
                                                         jax.tree.leaves(b)))

  assert changed(g.params, new_g.params) and changed(d.params, new_d.params)
  assert changed(d.batch_stats, new_d.batch_stats)  # Power iterations ran.
  assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves((new_g, new_d)))
