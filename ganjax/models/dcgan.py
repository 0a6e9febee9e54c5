"""The DCGAN paper's architecture (Radford et al., 2016), sized to the data.

Generator: project the noise to a small feature map, then fractionally strided
(transposed, stride 2) 5x5 convolutions, each followed by BatchNorm and ReLU, halving
the features and doubling the resolution; tanh output. Discriminator: stride-2 5x5
convolutions with LeakyReLU(0.2) and BatchNorm (not on the first layer); a dense logit.
"""

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from ganjax.nn import Conv, ConvTranspose


def num_doublings(image_size: int) -> int:
  """How many stride-2 stages lead from the projected map to ``image_size``.

  Halves while the size stays even and above 7, so 28 -> 7 (two stages),
  32 -> 4 (three), 64 -> 4 (four).
  """
  stages = 0
  while image_size % 2 == 0 and image_size > 7:
    image_size //= 2
    stages += 1
  if stages == 0:
    raise ValueError(f"image size {image_size} is not divisible by 2; DCGAN needs an "
                     "even size such as 28, 32 or 64")
  return stages


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
    stages = num_doublings(self.image_size)
    start = self.image_size // 2**stages
    features = self.base_features * 2**stages
    batch_norm = lambda: nn.BatchNorm(use_running_average=not train, momentum=0.9,
                                      dtype=self.dtype)
    # No biases before BatchNorm: it removes them, their gradient is float noise.
    x = nn.Dense(start * start * features, use_bias=False, dtype=self.dtype)(noise)
    x = nn.relu(batch_norm()(x)).reshape((-1, start, start, features))
    for _ in range(stages - 1):
      features //= 2
      x = ConvTranspose(features, 5, strides=2, use_bias=False, dtype=self.dtype)(x)
      x = nn.relu(batch_norm()(x))
    x = ConvTranspose(self.channels, 5, strides=2, dtype=self.dtype)(x)
    return jnp.tanh(x.astype(jnp.float32))


class DCGANDiscriminator(nn.Module):
  """Images (B, size, size, C) -> logits (B,)."""

  image_size: int = 28
  base_features: int = 64
  dtype: Any = None

  @nn.compact
  def __call__(self, images: jax.Array, condition: Optional[jax.Array] = None,
               *, train: bool) -> jax.Array:
    del condition
    x = images
    for i in range(num_doublings(self.image_size)):
      x = Conv(self.base_features * 2**i, 5, strides=2, use_bias=i == 0,
               dtype=self.dtype)(x)
      if i > 0:
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9,
                         dtype=self.dtype)(x)
      x = nn.leaky_relu(x, 0.2)
    x = x.reshape((x.shape[0], -1))
    return nn.Dense(1, dtype=self.dtype)(x)[:, 0].astype(jnp.float32)
