"""DiffAugment operations and ADA's adaptive probability."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ganjax.gan import augment
from ganjax.gan.state import create_train_states
from ganjax.gan.step import StepSpec, train_step
from ganjax.models import build_model

IMAGES = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (6, 8, 8, 1)), jnp.float32)
KEY = jax.random.PRNGKey(3)
ALL = augment.parse_policy("translation,cutout,color")


def test_strength_zero_is_the_identity_and_one_changes_every_image():
  same, _ = augment.augment(IMAGES, None, KEY, 0.0, ALL)
  assert np.array_equal(same, IMAGES)
  changed, _ = augment.augment(IMAGES, None, KEY, 1.0, ALL)
  assert changed.shape == IMAGES.shape
  assert all(not np.allclose(changed[i], IMAGES[i]) for i in range(len(IMAGES)))


def test_augmentation_is_differentiable_in_the_images():
  grad = jax.grad(lambda x: jnp.sum(augment.augment(x, None, KEY, 1.0, ALL)[0]**2))(
      IMAGES)
  assert float(jnp.sum(jnp.abs(grad))) > 0


def test_translation_moves_content_and_cutout_blanks_a_quarter():
  ones = jnp.ones((64, 16, 16, 1))
  moved = augment.translation(ones, KEY)
  assert float(moved.min()) == 0.0 and float(moved.max()) == 1.0  # zeros shifted in
  cut = augment.cutout(ones, KEY)
  blanked = float(jnp.mean(cut == 0))
  assert 0.15 < blanked <= 0.25  # a half-side square, clipped at the borders


def test_an_image_condition_is_transformed_with_its_image():
  images, inputs = augment.augment(IMAGES, IMAGES, KEY, 1.0,
                                   augment.parse_policy("translation,cutout"))
  assert np.array_equal(images, inputs)
  labels = jnp.arange(6)
  assert augment.augment(IMAGES, labels, KEY, 1.0, ALL)[1] is labels


def test_unknown_policy_names_are_refused():
  with pytest.raises(ValueError, match="rotation"):
    augment.parse_policy("translation,rotation")


def test_ada_raises_p_while_d_is_sure_of_the_reals_and_lowers_it_otherwise():
  ada = augment.AdaSettings(target=0.6, images_to_full=1000.0)
  sure, unsure = jnp.full(10, 5.0), jnp.array([1.0] * 5 + [-1.0] * 5)
  assert float(ada.update(jnp.float32(0.5), sure)) == pytest.approx(0.51)
  assert float(ada.update(jnp.float32(0.5), unsure)) == pytest.approx(0.49)
  assert float(ada.update(jnp.float32(0.0), unsure)) == 0.0  # clipped to [0, 1]


def test_the_step_adapts_p_and_keeps_it_in_the_discriminator_state():
  model = build_model("dcgan", (8, 8, 1), None, noise_dim=4, g_features=2,
                      d_features=2)
  batch = {"image": IMAGES}
  g, d = create_train_states(model, optax.adam(1e-3), optax.adam(1e-3), batch,
                             jax.random.PRNGKey(0), adaptive_augment=True)
  assert float(d.augment_p) == 0.0
  spec = StepSpec(model, augment=lambda *a: augment.augment(*a, policy=ALL),
                  ada=augment.AdaSettings(target=-1.0, images_to_full=60.0))
  g, d, metrics = jax.jit(lambda g, d: train_step(g, d, batch, KEY, spec=spec))(g, d)
  # Any sign mean exceeds a target of -1: p rises by batch / images_to_full.
  assert float(d.augment_p) == pytest.approx(0.1)
  assert float(metrics["augment_p"]) == pytest.approx(0.1)
