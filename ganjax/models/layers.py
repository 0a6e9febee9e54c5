"""Building blocks shared by the model families.

* :func:`batch_norm`: the one BatchNorm factory every family uses.
* :class:`ConditionalBatchNorm`: BatchNorm with a per-class scale and shift.
* :func:`spectral_normalization`: the one factory that wraps a discriminator's
  weighted layers in spectral normalisation (or leaves them as they are).
* :func:`dcgan_geometry`, :func:`dcgan_upsample` and :func:`dcgan_downsample`:
  the DCGAN stride-2 stages, shared by the unconditional and the class-conditional
  DCGAN, which differ only in their normalisation and in how a label gets in.

The stage builders are functions, not modules: called inside a parent's
``nn.compact`` method, the layers they create belong to the parent and take its
auto-generated names (``ConvTranspose_0``, ``BatchNorm_1``, ...). Each family's
parameter tree stays flat, with the paths its checkpoints store (pinned in
``tests/unit/models/test_param_trees.py``).
"""

import functools
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from ganjax.nn import Conv, ConvTranspose

#: flax's BatchNorm epsilon, used by every family except the seed.
FLAX_EPSILON = 1e-5
#: Keras' BatchNormalization epsilon, used by the seed's Keras model.
KERAS_EPSILON = 1e-3

#: Features -> normalised features, in the caller's train/eval mode.
Norm = Callable[[jax.Array], jax.Array]
#: A layer -> the function that applies it (the layer itself, or the layer with
#: spectrally normalised weights).
Wrap = Callable[[nn.Module], Callable[..., jax.Array]]


def _unwrapped(layer: nn.Module) -> nn.Module:
  return layer


def spectral_normalization(enabled: bool, *, train: bool) -> Wrap:
  """How a discriminator applies its weighted layers: ``wrap(Conv(...))(x)``.

  Spectral normalisation (Miyato et al., 2018) divides each weight, reshaped to
  a (fan-in, features) matrix, by an estimate of its largest singular value, so
  every layer is 1-Lipschitz and D's gradients stay bounded. The estimate comes
  from one power iteration per call, whose vector ``u`` (and the last ``sigma``)
  live in the ``batch_stats`` collection under ``SpectralNorm_<n>``; they are
  updated only when ``train`` is True (the step applies D with
  ``mutable=["batch_stats"]``), so evaluation is deterministic. The wrapped
  layer's parameters keep their names and shapes: a model's ``params`` tree is
  the same with and without spectral normalisation. Biases are left alone.

  Args:
    enabled: wrap layers; False returns every layer unchanged, so models built
      without it have exactly the variables and outputs they had before.
    train: update the power-iteration state in this call.
  """
  if not enabled:
    return _unwrapped

  def wrap(layer: nn.Module) -> Callable[..., jax.Array]:
    # Created inside the caller's compact method, so it belongs to the caller.
    return functools.partial(nn.SpectralNorm(layer), update_stats=train)

  return wrap


def batch_norm(train: bool, *, momentum: float = 0.9, epsilon: float = FLAX_EPSILON,
               dtype: Any = None, use_scale: bool = True, use_bias: bool = True,
               name: Optional[str] = None) -> nn.BatchNorm:
  """A BatchNorm over the last axis: batch statistics in training, running ones after.

  Args:
    train: normalise with the batch's statistics (and update the running ones).
    momentum: decay of the running statistics (0.9 in every family, as in Keras
      and the DCGAN paper, rather than flax's 0.99).
    epsilon: added to the variance.
    dtype: compute dtype.
    use_scale: learn a per-feature scale.
    use_bias: learn a per-feature shift.
    name: explicit module name; None takes the parent's next ``BatchNorm_<n>``.
  """
  return nn.BatchNorm(use_running_average=not train, momentum=momentum,
                      epsilon=epsilon, dtype=dtype, use_scale=use_scale,
                      use_bias=use_bias, name=name)


class ConditionalBatchNorm(nn.Module):
  """BatchNorm without its own affine part, then a per-class scale and shift.

  The scale and shift are embeddings of the label (initialised to 1 and 0), so
  every normalised layer knows the class (Miyato & Koyama, 2018; BigGAN).
  """

  num_classes: int
  momentum: float = 0.9
  epsilon: float = FLAX_EPSILON
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array, *, train: bool) -> jax.Array:
    x = batch_norm(train, momentum=self.momentum, epsilon=self.epsilon,
                   dtype=self.dtype, use_scale=False, use_bias=False)(x)
    features = x.shape[-1]
    gamma = nn.Embed(self.num_classes, features, embedding_init=nn.initializers.ones,
                     name="scale")(labels)
    beta = nn.Embed(self.num_classes, features, embedding_init=nn.initializers.zeros,
                    name="shift")(labels)
    expand = (slice(None),) + (None,) * (x.ndim - 2) + (slice(None),)
    return x * gamma[expand].astype(x.dtype) + beta[expand].astype(x.dtype)


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


def dcgan_geometry(image_size: int, base_features: int) -> tuple[int, int, int]:
  """The DCGAN generator's layout: (stages, side, features) of its projected map.

  The noise is projected to a ``side`` x ``side`` map of ``features`` channels,
  which :func:`dcgan_upsample` doubles ``stages`` times up to ``image_size``,
  halving the features down to ``base_features`` before the output layer.
  """
  stages = num_doublings(image_size)
  return stages, image_size // 2**stages, base_features * 2**stages


def dcgan_upsample(x: jax.Array, *, stages: int, channels: int, norm: Norm,
                   biases_before_norm: bool, dtype: Any) -> jax.Array:
  """The DCGAN generator's stages: projected map (B, s, s, f) -> images in [-1, 1].

  ``stages - 1`` hidden stages (a 5x5 stride-2 transposed convolution halving
  the features, ``norm``, ReLU), then a 5x5 stride-2 transposed convolution to
  ``channels`` and tanh.

  Args:
    x: the projected, normalised and activated map.
    stages: how many times the resolution doubles (:func:`dcgan_geometry`).
    channels: output channels.
    norm: the normalisation of each hidden stage.
    biases_before_norm: give the hidden convolutions biases. BatchNorm cancels
      them (their gradient is float noise); only models trained with them keep them.
    dtype: compute dtype.
  """
  features = x.shape[-1]
  for _ in range(stages - 1):
    features //= 2
    x = ConvTranspose(features, 5, strides=2, use_bias=biases_before_norm,
                      dtype=dtype)(x)
    x = nn.relu(norm(x))
  x = ConvTranspose(channels, 5, strides=2, dtype=dtype)(x)
  return jnp.tanh(x.astype(jnp.float32))


def dcgan_downsample(x: jax.Array, *, image_size: int, base_features: int,
                     norm: Norm, biases_before_norm: bool, dtype: Any,
                     wrap: Wrap = _unwrapped) -> jax.Array:
  """The DCGAN discriminator's stages: images (B, size, size, C) -> features (B, n).

  ``num_doublings(image_size)`` 5x5 stride-2 convolutions doubling the features
  from ``base_features``, each followed by ``norm`` (not the first) and
  LeakyReLU(0.2); the result is flattened for the logit layer.

  Args:
    x: the images (with any conditioning channels already appended).
    image_size: the images' side.
    base_features: features of the first convolution.
    norm: the normalisation of every stage but the first.
    biases_before_norm: give the normalised convolutions biases too (the first
      always has one).
    dtype: compute dtype.
    wrap: how each convolution is applied (:func:`spectral_normalization`).
  """
  for i in range(num_doublings(image_size)):
    x = wrap(Conv(base_features * 2**i, 5, strides=2,
                  use_bias=biases_before_norm or i == 0, dtype=dtype))(x)
    if i > 0:
      x = norm(x)
    x = nn.leaky_relu(x, 0.2)
  return x.reshape((x.shape[0], -1))
