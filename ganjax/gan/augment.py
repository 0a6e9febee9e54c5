"""Differentiable augmentation at the discriminator's entry: DiffAugment and ADA.

Every image D sees, real or fake, goes through the same random transformations
(Zhao et al., 2020, "Differentiable Augmentation for Data-Efficient GAN
Training"); they are differentiable in the images, so G learns through them.
Each operation is applied to each image with probability ``strength``: 1 for
plain DiffAugment, the adaptive ``p`` for ADA (Karras et al., 2020), which
raises ``p`` while D is too sure of the reals (the mean sign of its outputs on
reals exceeds ``target``) and lowers it otherwise. Unlike the paper's code,
which accumulates the sign over four minibatches and then moves ``p`` by four
batches' worth, ``p`` moves every step by one batch's worth of its own sign:
the same expected rate, one less piece of state to checkpoint. For image-to-image models the
input image (the condition) is transformed together with the image, so the
pair stays aligned.
"""

import dataclasses
from typing import Callable, Optional

import jax
import jax.numpy as jnp

from ganjax.gan.streams import stream

Op = Callable[[jax.Array, jax.Array], jax.Array]


def _per_image(key: jax.Array, images: jax.Array, *shape: int) -> jax.Array:
  return jax.random.uniform(key, (images.shape[0],) + shape + (1,) * (images.ndim - 1 - len(shape)),
                            images.dtype)


def brightness(images: jax.Array, key: jax.Array) -> jax.Array:
  """Adds one value in [-0.5, 0.5) to every pixel of an image."""
  return images + (_per_image(key, images) - 0.5)


def saturation(images: jax.Array, key: jax.Array) -> jax.Array:
  """Scales each pixel's deviation from its channel mean by a factor in [0, 2)."""
  mean = jnp.mean(images, axis=-1, keepdims=True)
  return (images - mean) * (_per_image(key, images) * 2) + mean


def contrast(images: jax.Array, key: jax.Array) -> jax.Array:
  """Scales the deviation from the image's mean by a factor in [0.5, 1.5)."""
  mean = jnp.mean(images, axis=(1, 2, 3), keepdims=True)
  return (images - mean) * (_per_image(key, images) + 0.5) + mean


def translation(images: jax.Array, key: jax.Array, ratio: float = 0.125) -> jax.Array:
  """Shifts each image by up to ``ratio`` of its size, filling with zeros."""
  height, width = images.shape[1:3]
  pad_y, pad_x = max(1, int(height * ratio + 0.5)), max(1, int(width * ratio + 0.5))
  shifts = jax.random.randint(key, (images.shape[0], 2), 0, 1 + 2 * jnp.array(
      [pad_y, pad_x]))
  padded = jnp.pad(images, ((0, 0), (pad_y, pad_y), (pad_x, pad_x), (0, 0)))
  crop = lambda image, shift: jax.lax.dynamic_slice(
      image, (shift[0], shift[1], 0), (height, width, images.shape[-1]))
  return jax.vmap(crop)(padded, shifts)


def cutout(images: jax.Array, key: jax.Array, ratio: float = 0.5) -> jax.Array:
  """Zeroes a square of ``ratio`` of the image size at a random place in it."""
  height, width = images.shape[1:3]
  size_y, size_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
  centres = jax.random.randint(key, (images.shape[0], 2), 0,
                               jnp.array([height + 1 - size_y % 2, width + 1 - size_x % 2]))
  rows = jnp.arange(height)[None, :, None]
  cols = jnp.arange(width)[None, None, :]
  top = centres[:, 0, None, None] - size_y // 2
  left = centres[:, 1, None, None] - size_x // 2
  inside = ((rows >= top) & (rows < top + size_y) & (cols >= left)
            & (cols < left + size_x))
  return images * (~inside)[..., None].astype(images.dtype)


#: Policy name -> its operations, in DiffAugment's order.
POLICIES: dict[str, tuple[Op, ...]] = {
    "color": (brightness, saturation, contrast),
    "translation": (translation,),
    "cutout": (cutout,),
}


def parse_policy(policy: str) -> tuple[str, ...]:
  """``"translation,cutout"`` -> its names; raises ValueError for unknown ones."""
  names = tuple(name.strip() for name in policy.split(",") if name.strip())
  unknown = [name for name in names if name not in POLICIES]
  if unknown:
    raise ValueError(f"unknown augment.policy part {unknown[0]!r}; choose from "
                     f"{', '.join(POLICIES)} (comma-separated)")
  return names


def augment(images: jax.Array, condition: Optional[jax.Array], key: jax.Array,
            strength: jax.Array, policy: tuple[str, ...]
            ) -> tuple[jax.Array, Optional[jax.Array]]:
  """``images`` (and an image ``condition``) through ``policy``'s operations, each
  applied to each image with probability ``strength``."""
  paired = condition is not None and condition.ndim == images.ndim
  x = jnp.concatenate([images, condition], axis=-1) if paired else images
  for name in policy:
    for index, op in enumerate(POLICIES[name]):
      op_key = jax.random.fold_in(stream(key, name), index)
      applied = op(x, op_key)
      chosen = _per_image(stream(op_key, "apply"), x) < strength
      x = jnp.where(chosen, applied, x)
  if paired:
    return x[..., :images.shape[-1]], x[..., images.shape[-1]:]
  return x, condition


@dataclasses.dataclass(frozen=True)
class AdaSettings:
  """Adaptive augmentation strength (ADA).

  Attributes:
    target: the wanted mean sign of D's outputs on reals (0.6 in the paper).
    images_to_full: images over which ``p`` can move from 0 to 1 (500k there).
  """
  target: float = 0.6
  images_to_full: float = 500_000.0

  def update(self, p: jax.Array, real_logits: jax.Array) -> jax.Array:
    """``p`` after one step on a batch whose reals got ``real_logits``."""
    overfitting = jnp.mean(jnp.sign(real_logits.astype(jnp.float32)))
    batch = real_logits.shape[0]
    return jnp.clip(p + jnp.sign(overfitting - self.target) * batch / self.images_to_full,
                    0.0, 1.0)
