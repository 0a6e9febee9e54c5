"""Class-conditional DCGAN: ``G(noise, label)`` and ``D(image, label)``.

The architecture is :mod:`ganjax.models.dcgan`'s (its stride-2 stages are the
shared blocks of :mod:`ganjax.models.layers`), sized to the data, so it trains in
minutes on 28x28 digits on a CPU. What is added is how the label gets in.

Generator (``g_conditioning``):
  * ``"concat"``: a learned label embedding is concatenated to the noise (Mirza &
    Osindero, 2014). The label reaches the network only at its input.
  * ``"cbn"`` (default): the same, plus conditional BatchNorm in every hidden
    layer: the normalised features are scaled and shifted by per-class vectors
    (initialised to 1 and 0), as in the projection-discriminator paper's generator
    (Miyato & Koyama, 2018) and BigGAN. Every layer then knows the class, so the
    class is decided early in training instead of being rediscovered from the
    input, and conditioning shows after a few hundred steps. Its cost is two
    tiny embedding tables per layer.

Discriminator (``d_conditioning``):
  * ``"projection"`` (default; Miyato & Koyama, 2018): with ``phi(x)`` the
    flattened penultimate features, ``D(x, y) = w . phi(x) + b + embed(y) . phi(x)``:
    the class embedding's inner product with the features is added to the logit.
  * ``"concat"``: the label embedding is broadcast over the image and
    concatenated to it as extra input channels (the classic cGAN discriminator).
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from ganjax.models.base import (Condition, GanModel, check_choice, check_divisible,
                                parse_dtype)
from ganjax.models.layers import (ConditionalBatchNorm, batch_norm, dcgan_downsample,
                                  dcgan_geometry, dcgan_upsample, spectral_normalization)

G_CONDITIONINGS = ("cbn", "concat")
D_CONDITIONINGS = ("projection", "concat")


class ConditionalGenerator(nn.Module):
  """(noise (B, noise_dim), labels (B,)) -> images (B, size, size, channels) in [-1, 1]."""

  num_classes: int
  image_size: int = 28
  channels: int = 1
  base_features: int = 64
  embed_dim: int = 32
  conditioning: str = "cbn"
  dtype: Any = None

  @nn.compact
  def __call__(self, noise: jax.Array, labels: jax.Array, *, train: bool) -> jax.Array:
    stages, start, features = dcgan_geometry(self.image_size, self.base_features)

    def norm(x):
      if self.conditioning == "cbn":
        return ConditionalBatchNorm(self.num_classes, dtype=self.dtype)(
            x, labels, train=train)
      return batch_norm(train, dtype=self.dtype)(x)

    embedding = nn.Embed(self.num_classes, self.embed_dim, name="label_embedding")(labels)
    x = jnp.concatenate([noise, embedding.astype(noise.dtype)], axis=-1)
    x = nn.Dense(start * start * features, dtype=self.dtype)(x)
    x = nn.relu(norm(x.reshape((-1, start, start, features))))
    return dcgan_upsample(x, stages=stages, channels=self.channels, norm=norm,
                          biases_before_norm=True, dtype=self.dtype)


class ConditionalDiscriminator(nn.Module):
  """(images (B, size, size, C), labels (B,)) -> logits (B,)."""

  num_classes: int
  image_size: int = 28
  base_features: int = 64
  embed_dim: int = 32
  conditioning: str = "projection"
  spectral_norm: bool = False
  dtype: Any = None

  @nn.compact
  def __call__(self, images: jax.Array, labels: jax.Array, *, train: bool) -> jax.Array:
    wrap = spectral_normalization(self.spectral_norm, train=train)
    x = images
    if self.conditioning == "concat":
      embedding = nn.Embed(self.num_classes, self.embed_dim, name="label_embedding")(labels)
      planes = jnp.broadcast_to(embedding[:, None, None, :].astype(x.dtype),
                                x.shape[:3] + (self.embed_dim,))
      x = jnp.concatenate([x, planes], axis=-1)
    features = dcgan_downsample(x, image_size=self.image_size,
                                base_features=self.base_features,
                                norm=lambda x: batch_norm(train, dtype=self.dtype)(x),
                                biases_before_norm=True, dtype=self.dtype, wrap=wrap)
    logits = wrap(nn.Dense(1, dtype=self.dtype))(features)[:, 0].astype(jnp.float32)
    if self.conditioning == "projection":
      # The projection is a per-class linear layer: normalised like one (SNGAN).
      embedding = wrap(nn.Embed(self.num_classes, features.shape[-1],
                                name="projection"))(labels)
      logits = logits + jnp.sum(embedding.astype(jnp.float32)
                                * features.astype(jnp.float32), axis=-1)
    return logits


def build(image_shape: tuple[int, int, int], num_classes: int | None, *,
          noise_dim: int = 100, g_features: int = 64, d_features: int = 64,
          embed_dim: int = 32, g_conditioning: str = "cbn",
          d_conditioning: str = "projection", spectral_norm: bool = False,
          dtype: str = "float32") -> GanModel:
  """The class-conditional DCGAN for labelled square images of an even side.

  ``spectral_norm`` spectrally normalises D's convolutions, logit layer and
  projection embedding; D keeps its BatchNorm.
  """
  if not num_classes:
    raise ValueError("model 'cgan' is class-conditional but the data has no labels; "
                     "use labelled data (e.g. MNIST IDX files with their labels file) "
                     "or an unconditional model such as 'dcgan'")
  check_choice("g_conditioning", g_conditioning, G_CONDITIONINGS)
  check_choice("d_conditioning", d_conditioning, D_CONDITIONINGS)
  check_divisible(image_shape, 2, "cgan")
  return GanModel(
      generator=ConditionalGenerator(
          num_classes=num_classes, image_size=image_shape[0], channels=image_shape[2],
          base_features=g_features, embed_dim=embed_dim, conditioning=g_conditioning,
          dtype=parse_dtype(dtype)),
      discriminator=ConditionalDiscriminator(
          num_classes=num_classes, image_size=image_shape[0], base_features=d_features,
          embed_dim=embed_dim, conditioning=d_conditioning, spectral_norm=spectral_norm,
          dtype=parse_dtype(dtype)),
      noise_dim=noise_dim, noise_distribution="normal", output_activation="tanh",
      condition=Condition.LABEL, discriminator_batch_norm=True)
