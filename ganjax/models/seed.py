"""The seed's model: the Keras DCGAN tutorial for MNIST, reproduced faithfully.

Generator: uniform noise in [-1, 1] -> dense 7x7x256 -> BN -> ReLU -> Dropout ->
(upsample x2 -> 5x5 conv 128 -> BN -> ReLU) -> (upsample x2 -> 5x5 conv 64 -> BN ->
ReLU) -> 5x5 conv 32 -> BN -> ReLU -> 5x5 conv 1 -> sigmoid.

The seed uses stride-1 'same' ``Conv2DTranspose`` layers; with stride 1 a transposed
convolution is an ordinary convolution with a spatially flipped kernel, so we
parameterise it as a convolution (a reparameterisation, not a change of model) and
get the fast "upsample then convolve" lowering of :class:`ganjax.nn.UpsampleConv`.

Discriminator: four 5x5 'same' convolutions (64, 128, 256, 512 filters, strides
2, 2, 2, 1), each followed by LeakyReLU(0.2) and Dropout(0.4); flatten; dense logit.
"""

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from ganjax.models.base import Condition, GanModel, check_divisible, parse_dtype
from ganjax.models.layers import KERAS_EPSILON, batch_norm, spectral_normalization
from ganjax.nn import Conv, UpsampleConv


class SeedGenerator(nn.Module):
  """Noise (B, noise_dim) -> images (B, size, size, channels) in [0, 1]."""

  image_size: int = 28
  base_features: int = 256
  channels: int = 1
  dropout_rate: float = 0.4
  bn_momentum: float = 0.9
  dtype: Any = None

  @nn.compact
  def __call__(self, noise: jax.Array, condition: Optional[jax.Array] = None,
               *, train: bool) -> jax.Array:
    del condition  # Unconditional.
    # Keras' BatchNormalization epsilon: the seed used its defaults, not flax's.
    norm = lambda x: batch_norm(train, momentum=self.bn_momentum, epsilon=KERAS_EPSILON,
                                dtype=self.dtype)(x)
    f = self.base_features
    start = self.image_size // 4
    x = nn.Dense(start * start * f, dtype=self.dtype)(noise)
    x = nn.relu(norm(x))
    x = x.reshape((x.shape[0], start, start, f))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    for features in (f // 2, f // 4):
      x = UpsampleConv(features, 5, dtype=self.dtype)(x)
      x = nn.relu(norm(x))
    x = Conv(f // 8, 5, dtype=self.dtype)(x)
    x = nn.relu(norm(x))
    x = Conv(self.channels, 5, dtype=self.dtype)(x)
    return nn.sigmoid(x.astype(jnp.float32))


class SeedDiscriminator(nn.Module):
  """Images (B, H, W, C) -> logits (B,)."""

  base_features: int = 64
  dropout_rate: float = 0.4
  spectral_norm: bool = False
  dtype: Any = None

  @nn.compact
  def __call__(self, images: jax.Array, condition: Optional[jax.Array] = None,
               *, train: bool) -> jax.Array:
    del condition
    wrap = spectral_normalization(self.spectral_norm, train=train)
    x = images
    for i, stride in enumerate((2, 2, 2, 1)):
      x = wrap(Conv(self.base_features * 2**i, 5, strides=stride, dtype=self.dtype))(x)
      x = nn.leaky_relu(x, 0.2)
      x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    x = x.reshape((x.shape[0], -1))
    return wrap(nn.Dense(1, dtype=self.dtype))(x)[:, 0].astype(jnp.float32)


def build(image_shape: tuple[int, int, int], num_classes: int | None, *,
          noise_dim: int = 100, dropout_rate: float = 0.4, g_features: int = 256,
          d_features: int = 64, spectral_norm: bool = False,
          dtype: str = "float32") -> GanModel:
  """The seed's Keras DCGAN for images whose side is divisible by 4.

  ``spectral_norm`` spectrally normalises D's convolutions and logit layer
  (:func:`ganjax.models.layers.spectral_normalization`).
  """
  del num_classes  # Unconditional.
  check_divisible(image_shape, 4, "seed")
  return GanModel(
      generator=SeedGenerator(
          image_size=image_shape[0], base_features=g_features,
          channels=image_shape[2], dropout_rate=dropout_rate, dtype=parse_dtype(dtype)),
      discriminator=SeedDiscriminator(
          base_features=d_features, dropout_rate=dropout_rate,
          spectral_norm=spectral_norm, dtype=parse_dtype(dtype)),
      noise_dim=noise_dim, noise_distribution="uniform", output_activation="sigmoid",
      condition=Condition.NONE, discriminator_batch_norm=False)
