"""pix2pix (Isola et al., 2017): a U-Net translator and a PatchGAN discriminator.

Generator ``G(None, input, train=...)``: a U-Net. The encoder halves the
resolution with 4x4 stride-2 convolutions (LeakyReLU 0.2, BatchNorm except on the
first and the innermost layer), the decoder doubles it back with 4x4 stride-2
transposed convolutions (ReLU, BatchNorm) and concatenates the encoder's features
of the same resolution (the skip connections that carry the input's layout to the
output). Dropout (0.5) in the innermost decoder layers is the only source of
randomness: the model has no noise vector (``noise_dim=0``), as in the paper.
Output: tanh, with as many channels as the target (the input may have another
number: grayscale -> colour).

The depth is chosen from the image size: halve while both sides stay even, at most
``max_depth`` times (8, the paper's 256 -> 1). So 28x28 goes 28 -> 14 -> 7 (depth
2), 32x32 down to 1x1 (depth 5), 64x64 to 1x1 (depth 6). The network is fully
convolutional: a trained model translates any image whose sides are multiples of
``2**depth`` (:func:`size_multiple`).

Discriminator ``D(images, input, train=...)``: a PatchGAN that sees the input and
the (real or generated) output concatenated on channels, and returns a (B, h, w)
grid of logits, one per overlapping patch: ``layers`` 4x4 stride-2 convolutions
(at most as many as the generator's depth), a 4x4 stride-1 convolution and a 4x4
stride-1 convolution to one channel. With 3 layers this is the paper's 70x70
PatchGAN.
"""

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from ganjax.models.base import Condition, GanModel, parse_dtype
from ganjax.models.layers import batch_norm, spectral_normalization
from ganjax.nn import Conv, ConvTranspose

#: Features are capped at this multiple of the base width, as in the paper.
_MAX_MULTIPLIER = 8


def unet_depth(height: int, width: int, max_depth: int = 8) -> int:
  """How many times the U-Net halves an image of ``height`` x ``width``.

  Raises:
    ValueError: a side is odd (not even one halving is possible).
  """
  depth = 0
  while depth < max_depth and height % 2 == 0 and width % 2 == 0:
    height, width, depth = height // 2, width // 2, depth + 1
  if depth == 0:
    raise ValueError(f"pix2pix needs image sides divisible by 2; the data is "
                     f"{height}x{width}")
  return depth


def _features(base: int, level: int) -> int:
  return base * min(2**level, _MAX_MULTIPLIER)


class UNetGenerator(nn.Module):
  """Input images (B, H, W, C_in) -> translations (B, H, W, channels) in [-1, 1].

  Attributes:
    depth: number of stride-2 encoder (and decoder) layers.
    channels: output channels.
    base_features: features of the outermost layer (doubling inwards, capped at 8x).
    dropout_rate: dropout of the innermost decoder layers (0 disables it).
    dropout_layers: how many decoder layers, counted from the innermost, use it
      (the paper: 3 of 8); the outermost (output) layer never does.
  """

  depth: int
  channels: int = 3
  base_features: int = 64
  dropout_rate: float = 0.5
  dropout_layers: int = 3
  dtype: Any = None

  @nn.compact
  def __call__(self, noise: Optional[jax.Array], inputs: jax.Array, *,
               train: bool) -> jax.Array:
    del noise  # Dropout is the noise.
    if inputs is None:
      raise ValueError("the pix2pix generator needs input images (paired data)")
    multiple = 2**self.depth
    if inputs.shape[1] % multiple or inputs.shape[2] % multiple:
      raise ValueError(f"this U-Net needs image sides divisible by {multiple}; got "
                       f"{inputs.shape[1]}x{inputs.shape[2]}")
    x = inputs.astype(self.dtype or jnp.float32)
    skips = []
    for level in range(self.depth):
      if level > 0:
        x = nn.leaky_relu(x, 0.2)
      x = Conv(_features(self.base_features, level), 4, strides=2, dtype=self.dtype,
               name=f"down{level}")(x)
      if 0 < level < self.depth - 1:
        x = batch_norm(train, dtype=self.dtype)(x)
      skips.append(x)
    # skips[-1] is the bottleneck; decoder level l mirrors encoder level l.
    for level in reversed(range(1, self.depth)):
      if level < self.depth - 1:
        x = jnp.concatenate([x, skips[level]], axis=-1)
      x = ConvTranspose(_features(self.base_features, level - 1), 4, strides=2,
                        dtype=self.dtype, name=f"up{level}")(nn.relu(x))
      x = batch_norm(train, dtype=self.dtype)(x)
      if self.dropout_rate and self.depth - 1 - level < self.dropout_layers:
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    if self.depth > 1:
      x = jnp.concatenate([x, skips[0]], axis=-1)
    x = ConvTranspose(self.channels, 4, strides=2, dtype=self.dtype, name="up0")(
        nn.relu(x))
    return jnp.tanh(x.astype(jnp.float32))


class PatchDiscriminator(nn.Module):
  """(images (B, H, W, C), inputs (B, H, W, C_in)) -> logits (B, H/2^l, W/2^l)."""

  layers: int = 3
  base_features: int = 64
  spectral_norm: bool = False
  dtype: Any = None

  @nn.compact
  def __call__(self, images: jax.Array, inputs: jax.Array, *, train: bool) -> jax.Array:
    if inputs is None:
      raise ValueError("the PatchGAN discriminator needs input images (paired data)")
    wrap = spectral_normalization(self.spectral_norm, train=train)
    x = jnp.concatenate([inputs.astype(images.dtype), images], axis=-1)
    for level in range(self.layers):
      x = wrap(Conv(_features(self.base_features, level), 4, strides=2,
                    dtype=self.dtype))(x)
      if level > 0:
        x = batch_norm(train, dtype=self.dtype)(x)
      x = nn.leaky_relu(x, 0.2)
    x = wrap(Conv(_features(self.base_features, self.layers), 4, strides=1,
                  dtype=self.dtype))(x)
    x = nn.leaky_relu(batch_norm(train, dtype=self.dtype)(x), 0.2)
    x = wrap(Conv(1, 4, strides=1, dtype=self.dtype))(x)
    return x[..., 0].astype(jnp.float32)


def size_multiple(generator: nn.Module) -> int:
  """What the sides of an image given to a trained U-Net must be multiples of."""
  return 2**generator.depth


def build(image_shape: tuple[int, int, int], num_classes: int | None, *,
          g_features: int = 64, d_features: int = 64, dropout_rate: float = 0.5,
          dropout_layers: int = 3, max_depth: int = 8, d_layers: int = 3,
          spectral_norm: bool = False, dtype: str = "float32") -> GanModel:
  """pix2pix's U-Net and PatchGAN for targets of ``image_shape``.

  The input's channels are whatever the data's ``input`` images have (the first
  layers adapt when the networks are initialised). ``spectral_norm``
  spectrally normalises the PatchGAN's convolutions; it keeps its BatchNorm.
  """
  del num_classes  # Conditioned on images, not labels.
  if max_depth < 1 or d_layers < 1:
    raise ValueError("model.max_depth and model.d_layers must be at least 1")
  depth = unet_depth(image_shape[0], image_shape[1], max_depth)
  return GanModel(
      generator=UNetGenerator(
          depth=depth, channels=image_shape[2], base_features=g_features,
          dropout_rate=dropout_rate, dropout_layers=dropout_layers,
          dtype=parse_dtype(dtype)),
      discriminator=PatchDiscriminator(
          layers=min(d_layers, depth), base_features=d_features,
          spectral_norm=spectral_norm, dtype=parse_dtype(dtype)),
      noise_dim=0, output_activation="tanh", condition=Condition.IMAGE,
      # The PatchGAN normalises every layer but the first and the logit layer.
      discriminator_batch_norm=True)
