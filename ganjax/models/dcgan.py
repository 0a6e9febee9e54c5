"""The DCGAN paper's architecture (Radford et al., 2016), sized to the data.

Generator: project the noise to a small feature map, then fractionally strided
(transposed, stride 2) 5x5 convolutions, each followed by BatchNorm and ReLU, halving
the features and doubling the resolution; tanh output. Discriminator: stride-2 5x5
convolutions with LeakyReLU(0.2) and BatchNorm (not on the first layer); a dense logit.
The stages are :mod:`ganjax.models.layers`' DCGAN blocks, shared with the
class-conditional DCGAN.
"""

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from ganjax.models.base import Condition, GanModel, check_divisible, parse_dtype
from ganjax.models.layers import (batch_norm, dcgan_downsample, dcgan_geometry,
                                  dcgan_upsample, num_doublings, spectral_normalization)

# num_doublings is part of this module's API (how many stages a size gets).
__all__ = ["DCGANDiscriminator", "DCGANGenerator", "build", "num_doublings"]


class DCGANGenerator(nn.Module):
  """Noise (B, noise_dim) -> images (B, size, size, channels) in [-1, 1]."""

  image_size: int = 28
  channels: int = 1
  base_features: int = 64
  dtype: Any = None

  @nn.compact
  def __call__(self, noise: jax.Array, condition: Optional[jax.Array] = None,
               *, train: bool) -> jax.Array:
    del condition
    stages, start, features = dcgan_geometry(self.image_size, self.base_features)
    norm = lambda x: batch_norm(train, dtype=self.dtype)(x)
    # No biases before BatchNorm: it removes them, their gradient is float noise.
    x = nn.Dense(start * start * features, use_bias=False, dtype=self.dtype)(noise)
    x = nn.relu(norm(x)).reshape((-1, start, start, features))
    return dcgan_upsample(x, stages=stages, channels=self.channels, norm=norm,
                          biases_before_norm=False, dtype=self.dtype)


class DCGANDiscriminator(nn.Module):
  """Images (B, size, size, C) -> logits (B,)."""

  image_size: int = 28
  base_features: int = 64
  spectral_norm: bool = False
  dtype: Any = None

  @nn.compact
  def __call__(self, images: jax.Array, condition: Optional[jax.Array] = None,
               *, train: bool) -> jax.Array:
    del condition
    wrap = spectral_normalization(self.spectral_norm, train=train)
    x = dcgan_downsample(images, image_size=self.image_size,
                         base_features=self.base_features,
                         norm=lambda x: batch_norm(train, dtype=self.dtype)(x),
                         biases_before_norm=False, dtype=self.dtype, wrap=wrap)
    return wrap(nn.Dense(1, dtype=self.dtype))(x)[:, 0].astype(jnp.float32)


def build(image_shape: tuple[int, int, int], num_classes: int | None, *,
          noise_dim: int = 100, g_features: int = 64, d_features: int = 64,
          spectral_norm: bool = False, dtype: str = "float32") -> GanModel:
  """The DCGAN paper's model for square images of an even side.

  ``spectral_norm`` spectrally normalises D's convolutions and logit layer; D
  keeps its BatchNorm.
  """
  del num_classes  # Unconditional.
  check_divisible(image_shape, 2, "dcgan")
  return GanModel(
      generator=DCGANGenerator(
          image_size=image_shape[0], channels=image_shape[2],
          base_features=g_features, dtype=parse_dtype(dtype)),
      discriminator=DCGANDiscriminator(
          image_size=image_shape[0], base_features=d_features,
          spectral_norm=spectral_norm, dtype=parse_dtype(dtype)),
      noise_dim=noise_dim, noise_distribution="uniform", output_activation="tanh",
      condition=Condition.NONE, discriminator_batch_norm=True)
