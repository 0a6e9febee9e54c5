"""Class-conditional and pix2pix networks: shapes, conditioning paths, grids."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganjax.gan import sampling
from ganjax.models import build_model, pix2pix
from ganjax.utils.errors import UserError


def _init(module, *args):
  """Variables of the right shapes, filled from NumPy.

  Compiling flax's initialisers (one random draw per parameter) costs more than
  everything else these tests do, so only the shapes come from ``init``; the real
  initialisation runs in the end-to-end tests. Values: kernels and embeddings
  normal / sqrt(fan-in), scales near 1, biases and means 0, variances 1.
  """
  shapes = jax.eval_shape(
      lambda *a: module.init({"params": jax.random.PRNGKey(0)}, *a, train=False), *args)
  rng = np.random.default_rng(0)

  def fill(path, leaf):
    names = [getattr(p, "key", "") for p in path]
    if names[-1] == "var":
      return jnp.ones(leaf.shape, leaf.dtype)
    if names[-1] == "mean" or (leaf.ndim == 1 and "scale" not in names):
      return jnp.zeros(leaf.shape, leaf.dtype)
    if "scale" in names:
      return jnp.asarray(1 + 0.1 * rng.standard_normal(leaf.shape), leaf.dtype)
    fan_in = int(np.prod(leaf.shape[:-1])) if names[-1] != "embedding" else leaf.shape[-1]
    return jnp.asarray(rng.standard_normal(leaf.shape) / np.sqrt(fan_in), leaf.dtype)

  return jax.tree_util.tree_map_with_path(fill, shapes)


def _apply(module, variables, *args, train=False, **kwargs):
  return jax.jit(lambda v, *a: module.apply(v, *a, train=train, **kwargs))(
      variables, *args)


# Initialising a network compiles one random initialiser per parameter, which
# dominates these tests' time: each network below is initialised once per module.
@pytest.fixture(scope="module", params=[("cbn", "projection"), ("concat", "concat")],
                ids=lambda p: "-".join(p))
def cgan(request):
  g_conditioning, d_conditioning = request.param
  model = build_model("cgan", (28, 28, 1), 10, noise_dim=8, g_features=4, d_features=4,
                      embed_dim=4, g_conditioning=g_conditioning,
                      d_conditioning=d_conditioning)
  noise = jnp.ones((3, 8))
  labels = jnp.array([0, 1, 2], jnp.int32)
  g_vars = _init(model.generator, noise, labels)
  images = _apply(model.generator, g_vars, noise, labels)
  d_vars = _init(model.discriminator, images, labels)
  return model, g_vars, d_vars, noise, labels, images


def test_cgan_shapes_and_labels_matter(cgan):
  model, _, d_vars, _, labels, images = cgan
  assert model.condition == "label" and model.noise_dim == 8
  assert images.shape == (3, 28, 28, 1)
  assert float(jnp.abs(images).max()) <= 1.0
  # Same noise, different labels: different images (the label reaches G).
  assert float(jnp.abs(images[0] - images[1]).max()) > 1e-4
  same_images = jnp.repeat(images[:1], 3, axis=0)
  logits = _apply(model.discriminator, d_vars, same_images, labels)
  assert logits.shape == (3,)
  # Same image, different labels: different logits (the label reaches D).
  assert float(jnp.abs(logits[0] - logits[1])) > 1e-6


def test_cgan_discriminator_sees_labels_only_through_its_label_parameters(cgan):
  model, _, d_vars, _, labels, images = cgan
  label_params = {"projection": "projection", "concat": "label_embedding"}[
      model.discriminator.conditioning]
  blind = jax.tree.map(lambda x: x, d_vars)
  blind["params"][label_params]["embedding"] = jnp.zeros_like(
      d_vars["params"][label_params]["embedding"])
  same_images = jnp.repeat(images[:1], 3, axis=0)
  seeing = _apply(model.discriminator, d_vars, same_images, labels)
  not_seeing = _apply(model.discriminator, blind, same_images, labels)
  assert float(jnp.ptp(seeing)) > 1e-6
  np.testing.assert_allclose(not_seeing, not_seeing[0], rtol=0, atol=1e-6)


def test_cgan_needs_labels_and_valid_options():
  with pytest.raises(ValueError, match="needs? labelled data|has no labels"):
    build_model("cgan", (28, 28, 1), None)
  with pytest.raises(ValueError, match="d_conditioning"):
    build_model("cgan", (28, 28, 1), 10, d_conditioning="sum")
  with pytest.raises(ValueError, match="g_conditioning"):
    build_model("cgan", (28, 28, 1), 10, g_conditioning="film")


@pytest.mark.parametrize("size, depth", [(28, 2), (32, 5), (64, 6), (256, 8), (12, 2)])
def test_unet_depth_from_image_size(size, depth):
  assert pix2pix.unet_depth(size, size) == depth


def test_unet_depth_rejects_odd_sizes():
  with pytest.raises(ValueError, match="divisible by 2"):
    build_model("pix2pix", (27, 27, 1), None)


@pytest.fixture(scope="module", params=[
    ((28, 28, 1), 1, (7, 7)),   # edges -> digits: 28 -> 14 -> 7, 2 PatchGAN layers
    ((8, 8, 3), 1, (1, 1)),     # grayscale -> colour: depth 3, 3 PatchGAN layers
], ids=["28x28x1", "8x8x3"])
def translator(request):
  shape, in_channels, patches = request.param
  model = build_model("pix2pix", shape, None, g_features=4, d_features=4)
  inputs = jax.random.uniform(jax.random.PRNGKey(1), (2,) + shape[:2] + (in_channels,),
                              minval=-1, maxval=1)
  g_vars = _init(model.generator, None, inputs)
  return model, g_vars, inputs, shape, patches


def test_pix2pix_shapes(translator):
  model, g_vars, inputs, shape, patches = translator
  assert model.condition == "image" and model.noise_dim == 0
  out = _apply(model.generator, g_vars, None, inputs)
  assert out.shape == (2,) + shape
  d_vars = _init(model.discriminator, out, inputs)
  logits = _apply(model.discriminator, d_vars, out, inputs)
  assert logits.shape == (2,) + patches


def test_pix2pix_dropout_is_the_noise(translator):
  model, g_vars, inputs, _, _ = translator
  train_apply = jax.jit(lambda v, x, key: model.generator.apply(
      v, None, x, train=True, rngs={"dropout": key}, mutable=["batch_stats"])[0])
  outs = [train_apply(g_vars, inputs, jax.random.PRNGKey(k)) for k in (1, 2)]
  assert not np.allclose(outs[0], outs[1])


def test_unet_is_fully_convolutional_and_uses_its_skips(translator):
  model, g_vars, inputs, shape, _ = translator
  multiple = pix2pix.size_multiple(model.generator)
  assert multiple == 2 ** pix2pix.unet_depth(*shape[:2])
  height, width = 14 * multiple, 21 * multiple
  big = jax.random.uniform(jax.random.PRNGKey(3), (1, height, width, inputs.shape[-1]),
                           minval=-1, maxval=1)
  apply = jax.jit(lambda x: model.generator.apply(g_vars, None, x, train=False))
  out = apply(big)
  assert out.shape == (1, height, width, shape[-1])
  # A change in one input pixel changes the output near it, not far away.
  row, col = height // 2, width // 2
  poked = big.at[0, row, col, 0].set(-big[0, row, col, 0])
  diff = np.abs(np.asarray(apply(poked) - out)).max(axis=-1)[0]
  assert diff[row - 2:row + 3, col - 2:col + 3].max() > 0
  assert diff[:10, :10].max() == 0
  with pytest.raises(ValueError, match=f"divisible by {multiple}"):
    apply(jnp.zeros((1, 7 * multiple + 2, 7 * multiple, inputs.shape[-1])))


def test_grid_inputs_one_row_per_class():
  model = build_model("cgan", (28, 28, 1), 10, noise_dim=8, g_features=4, d_features=4)
  grid = sampling.grid_inputs(model, 0, 64, 10, {"image": np.zeros((5, 28, 28, 1),
                                                                   np.uint8),
                                                 "label": np.zeros(5, np.int32)})
  assert grid.columns == 6
  assert grid.condition.tolist() == [k for k in range(10) for _ in range(6)]
  assert grid.noise.shape == (60, 8)
  # Each column uses one noise vector for every class.
  np.testing.assert_array_equal(grid.noise[:6], grid.noise[6:12])
  assert not np.allclose(grid.noise[0], grid.noise[1])


def test_grid_inputs_translation_triplets():
  model = build_model("pix2pix", (8, 8, 3), None, g_features=4, d_features=4)
  rng = np.random.default_rng(0)
  examples = {"image": rng.integers(0, 256, (20, 8, 8, 3), dtype=np.uint8),
              "input": rng.integers(0, 256, (20, 8, 8, 1), dtype=np.uint8)}
  grid = sampling.grid_inputs(model, 0, 12, None, examples)
  assert grid.noise is None and grid.condition.shape == (4, 8, 8, 1)
  assert grid.columns == 3  # 4 triplets: round(sqrt(4 / 3)) = 1 per row
  outputs = np.full((4, 8, 8, 3), 0.25, np.float32)
  shown = grid.arrange(outputs)
  assert shown.shape == (12, 8, 8, 3)
  np.testing.assert_allclose(shown[1::3], outputs)
  # The 1-channel input is shown in gray on 3 channels; inputs/targets match rows.
  inputs = np.asarray(grid.condition)
  np.testing.assert_allclose(shown[0::3], np.repeat(inputs, 3, axis=-1))
  for shown_input, shown_target in zip(shown[0::3], shown[2::3]):
    row = np.flatnonzero(np.all(
        sampling.to_pixel_range(examples["input"], (-1, 1)) == shown_input[..., :1],
        axis=(1, 2, 3)))
    np.testing.assert_allclose(
        sampling.to_pixel_range(examples["image"][row[0]], (-1, 1)), shown_target)
  # Same seed, same inputs.
  again = sampling.grid_inputs(model, 0, 12, None, examples)
  np.testing.assert_array_equal(again.condition, grid.condition)


def test_grid_inputs_refuse_data_without_the_condition():
  images = {"image": np.zeros((4, 28, 28, 1), np.uint8)}
  p2p = build_model("pix2pix", (28, 28, 1), None, g_features=4, d_features=4)
  with pytest.raises(UserError, match="no 'input'.*paired data"):
    sampling.grid_inputs(p2p, 0, 12, None, images)
  cgan = build_model("cgan", (28, 28, 1), 10, g_features=4, d_features=4)
  with pytest.raises(UserError, match="no 'label'"):
    sampling.grid_inputs(cgan, 0, 12, 10, images)
