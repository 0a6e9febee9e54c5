"""Residual networks: SNGAN's CIFAR-10 architecture (Miyato et al., 2018), the
layout BigGAN also uses at 32x32, extended to 64x64 and 128x128 as BigGAN does
(one more up block in G and one more down block in D per doubling).

Generator: normal noise -> dense to a 4x4 map of ``g_features`` channels -> three
up blocks (4 -> 8 -> 16 -> 32) -> BatchNorm, ReLU, 3x3 convolution to the image's
channels, tanh. An up block is BatchNorm, ReLU, nearest x2 upsampling, 3x3
convolution, BatchNorm, ReLU, 3x3 convolution, plus a shortcut that upsamples
its input through a 1x1 convolution. 28x28 images start from a 7x7 map and take
two up blocks; 64x64 images take four, 128x128 five.

Discriminator: an "optimized" first block (3x3 convolution, ReLU, 3x3
convolution, 2x2 average pooling; shortcut: pooling, then a 1x1 convolution: no
ReLU on the raw pixels), down blocks (ReLU, conv, ReLU, conv, pooling; 1x1
shortcut) until the map is at most 8x8 (one at 28x28 and 32x32, two at 64x64),
two blocks at that resolution (identity shortcut), ReLU, the sum of
the features over all positions, a dense logit. ``d_features`` channels
throughout. No BatchNorm: with ``spectral_norm`` (the default, as in SNGAN)
every convolution, the logit layer and the projection are spectrally normalised.

Class conditioning (``conditional``, for labelled data): the generator's
BatchNorms inside the blocks become :class:`ConditionalBatchNorm` (per-class
scale and shift); the discriminator adds the projection ``embed(y) . phi(x)`` of
its pooled features ``phi(x)`` to the logit (Miyato & Koyama, 2018).
"""

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from ganjax.models.base import Condition, GanModel, parse_dtype
from ganjax.models.layers import (ConditionalBatchNorm, batch_norm, num_doublings,
                                  spectral_normalization)
from ganjax.nn import Conv, UpsampleConv
from ganjax.nn.conv import upsample_nearest

#: Image sides the architecture is laid out for.
SIZES = (28, 32, 64, 128)
#: Discriminator blocks after the last one that halves the resolution.
_D_BLOCKS_AT_LOWEST = 2
#: The discriminator halves the resolution while the map is larger than this.
_D_LOWEST_SIDE = 8


def discriminator_downsamples(image_size: int) -> int:
  """How many discriminator blocks halve the resolution: down to at most 8x8
  (28 -> 7 and 32 -> 8: two; 64 -> 8: three)."""
  downsamples = 0
  while image_size > _D_LOWEST_SIDE and image_size % 2 == 0:
    image_size //= 2
    downsamples += 1
  return downsamples


def _average_pool(x: jax.Array) -> jax.Array:
  """2x2 average pooling with stride 2 (even sides)."""
  b, h, w, c = x.shape
  return x.reshape((b, h // 2, 2, w // 2, 2, c)).mean(axis=(2, 4))


class UpBlock(nn.Module):
  """(B, s, s, C) -> (B, 2s, 2s, features): the generator's residual block.

  Attributes:
    features: output channels.
    num_classes: normalise with per-class scales and shifts (None: plain BatchNorm).
  """

  features: int
  num_classes: Optional[int] = None
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, labels: Optional[jax.Array], *,
               train: bool) -> jax.Array:
    def norm(h):
      if self.num_classes:
        return ConditionalBatchNorm(self.num_classes, dtype=self.dtype)(
            h, labels, train=train)
      return batch_norm(train, dtype=self.dtype)(h)

    # No bias before BatchNorm: it removes it.
    h = UpsampleConv(self.features, 3, use_bias=False, dtype=self.dtype)(nn.relu(norm(x)))
    h = Conv(self.features, 3, dtype=self.dtype)(nn.relu(norm(h)))
    # A 1x1 convolution commutes with nearest upsampling: convolve the small map.
    shortcut = Conv(self.features, 1, dtype=self.dtype, name="shortcut")(x)
    return h + upsample_nearest(shortcut)


class DownBlock(nn.Module):
  """(B, s, s, C) -> (B, s/2, s/2, features) (or s, without ``downsample``).

  Attributes:
    features: output channels.
    downsample: end with 2x2 average pooling.
    optimized: the first block: no ReLU before the first convolution, and the
      shortcut pools before its 1x1 convolution.
    spectral_norm: spectrally normalise the convolutions.
  """

  features: int
  downsample: bool = True
  optimized: bool = False
  spectral_norm: bool = True
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    wrap = spectral_normalization(self.spectral_norm, train=train)
    h = x if self.optimized else nn.relu(x)
    h = wrap(Conv(self.features, 3, dtype=self.dtype))(h)
    h = wrap(Conv(self.features, 3, dtype=self.dtype))(nn.relu(h))
    shortcut = x
    if self.downsample:
      h, shortcut = _average_pool(h), _average_pool(shortcut)
    if self.downsample or x.shape[-1] != self.features:
      # Pooling and a 1x1 convolution commute; pooling first is cheaper.
      shortcut = wrap(Conv(self.features, 1, dtype=self.dtype, name="shortcut"))(shortcut)
    return h + shortcut


class ResNetGenerator(nn.Module):
  """(noise (B, noise_dim), labels (B,) or None) -> images (B, size, size, C) in [-1, 1].

  Attributes:
    image_size: the images' side (:data:`SIZES`).
    channels: the images' channels.
    base_features: channels of every block.
    num_classes: class-conditional BatchNorm in the blocks (None: unconditional).
  """

  image_size: int = 32
  channels: int = 3
  base_features: int = 256
  num_classes: Optional[int] = None
  dtype: Any = None

  @nn.compact
  def __call__(self, noise: jax.Array, labels: Optional[jax.Array] = None, *,
               train: bool) -> jax.Array:
    blocks = num_doublings(self.image_size)
    start, features = self.image_size // 2**blocks, self.base_features
    x = nn.Dense(start * start * features, dtype=self.dtype, name="project")(noise)
    x = x.reshape((-1, start, start, features))
    for i in range(blocks):
      x = UpBlock(features, self.num_classes, dtype=self.dtype, name=f"block{i}")(
          x, labels, train=train)
    x = nn.relu(batch_norm(train, dtype=self.dtype)(x))
    x = Conv(self.channels, 3, dtype=self.dtype, name="output")(x)
    return jnp.tanh(x.astype(jnp.float32))


class ResNetDiscriminator(nn.Module):
  """(images (B, size, size, C), labels (B,) or None) -> logits (B,).

  Attributes:
    base_features: channels of every block.
    num_classes: add the class projection to the logit (None: unconditional).
    spectral_norm: spectrally normalise every weighted layer.
  """

  base_features: int = 128
  num_classes: Optional[int] = None
  spectral_norm: bool = True
  dtype: Any = None

  @nn.compact
  def __call__(self, images: jax.Array, labels: Optional[jax.Array] = None, *,
               train: bool) -> jax.Array:
    x = images.astype(self.dtype or jnp.float32)
    downsamples = discriminator_downsamples(images.shape[1])
    for i in range(downsamples + _D_BLOCKS_AT_LOWEST):
      x = DownBlock(self.base_features, downsample=i < downsamples, optimized=i == 0,
                    spectral_norm=self.spectral_norm, dtype=self.dtype,
                    name=f"block{i}")(x, train=train)
    features = jnp.sum(nn.relu(x).astype(jnp.float32), axis=(1, 2))
    wrap = spectral_normalization(self.spectral_norm, train=train)
    logits = wrap(nn.Dense(1, dtype=self.dtype, name="logit"))(features)[:, 0]
    logits = logits.astype(jnp.float32)
    if self.num_classes:
      embedding = wrap(nn.Embed(self.num_classes, features.shape[-1],
                                name="projection"))(labels)
      logits = logits + jnp.sum(embedding.astype(jnp.float32) * features, axis=-1)
    return logits


def build(image_shape: tuple[int, int, int], num_classes: int | None, *,
          noise_dim: int = 128, g_features: int = 256, d_features: int = 128,
          conditional: bool = False, spectral_norm: bool = True,
          dtype: str = "float32") -> GanModel:
  """SNGAN's residual G and D for 32x32 images (also 28x28, 64x64 and 128x128).

  ``conditional`` conditions both networks on the data's labels (conditional
  BatchNorm in G, projection in D).
  """
  height, width, channels = image_shape
  if height != width or height not in SIZES:
    raise ValueError(f"model 'resnet' is laid out for square images of side "
                     f"{', '.join(map(str, SIZES))}; the data has {height}x{width}")
  if conditional and not num_classes:
    raise ValueError("model.conditional needs labelled data, and the data has no "
                     "labels; set model.conditional=False")
  classes = num_classes if conditional else None
  return GanModel(
      generator=ResNetGenerator(
          image_size=height, channels=channels, base_features=g_features,
          num_classes=classes, dtype=parse_dtype(dtype)),
      discriminator=ResNetDiscriminator(
          base_features=d_features, num_classes=classes, spectral_norm=spectral_norm,
          dtype=parse_dtype(dtype)),
      noise_dim=noise_dim, noise_distribution="normal", output_activation="tanh",
      condition=Condition.LABEL if conditional else Condition.NONE,
      discriminator_batch_norm=False)
