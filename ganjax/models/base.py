"""What every model family builds, and the checks their builders share.

A family module (``seed.py``, ``dcgan.py``, ...) defines
``build(image_shape, num_classes, **options) -> GanModel``; this module holds
the value it returns and the small option checks the builders have in common.
It imports no family, so families can import it without a cycle through
``ganjax.models``.
"""

import dataclasses
import enum
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

#: Output activation -> the pixel range images are normalised to.
OUTPUT_RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}


class Condition(str, enum.Enum):
  """What a model's networks are conditioned on: what a batch must hold for it.

  String-valued, so a member equals (and hashes, and serialises to JSON) as its
  value: ``Condition.LABEL == "label"``.
  """
  NONE = "none"    # Unconditional: G(noise), D(images).
  LABEL = "label"  # Class-conditional: G(noise, labels), D(images, labels).
  IMAGE = "image"  # Image-to-image: G(None, inputs), D(images, inputs).

  def __str__(self) -> str:
    # The value, as a plain str would print, in messages and f-strings.
    return self.value


@dataclasses.dataclass(frozen=True, kw_only=True)
class GanModel:
  """A generator, a discriminator and what the train step must know of them.

  Attributes:
    generator: linen module, ``G(noise, condition, train=...)``.
    discriminator: linen module, ``D(images, condition, train=...)``.
    noise_dim: size of the generator's noise vector (0: no noise input).
    discriminator_batch_norm: whether D normalises with BatchNorm. The step then
      shows D real and fake images in separate calls, so neither batch is
      normalised with the other's statistics. Declared by the builder rather than
      inferred from a ``batch_stats`` collection, which other layers (spectral
      norm) also keep.
    noise_distribution: "uniform" (in [-1, 1]) or "normal".
    output_activation: "sigmoid" or "tanh": fixes the pixel range of the data.
    condition: what G and D receive besides noise and images (a string equal to
      a :class:`Condition` value is converted).
  """
  generator: nn.Module
  discriminator: nn.Module
  noise_dim: int
  discriminator_batch_norm: bool
  noise_distribution: str = "uniform"
  output_activation: str = "sigmoid"
  condition: Condition = Condition.NONE

  def __post_init__(self):
    object.__setattr__(self, "condition", Condition(self.condition))

  @property
  def pixel_range(self) -> tuple[float, float]:
    return OUTPUT_RANGES[self.output_activation]

  def sample_noise(self, key: jax.Array, num: int) -> jax.Array:
    shape = (num, self.noise_dim)
    if self.noise_distribution == "uniform":
      return jax.random.uniform(key, shape, minval=-1.0, maxval=1.0)
    return jax.random.normal(key, shape)


def parse_dtype(name: str) -> Any:
  """The compute dtype named by the ``model.dtype`` option."""
  try:
    return {"float32": jnp.float32, "bfloat16": jnp.bfloat16,
            "float16": jnp.float16}[name]
  except KeyError:
    raise ValueError(f"model.dtype must be float32, bfloat16 or float16, not {name!r}")


def check_divisible(image_shape: tuple[int, int, int], by: int, model: str) -> None:
  """Raises ValueError unless the images are square with a side divisible by ``by``."""
  height, width, _ = image_shape
  if height != width or height % by:
    raise ValueError(f"model {model!r} needs square images with a side divisible by "
                     f"{by}; the data has {height}x{width}")


def check_choice(option: str, value: str, choices: tuple[str, ...]) -> None:
  """Raises ValueError unless the option's ``value`` is one of ``choices``."""
  if value not in choices:
    raise ValueError(f"model.{option} must be one of {', '.join(map(repr, choices))}, "
                     f"not {value!r}")
