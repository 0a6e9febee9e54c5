"""Generator/discriminator pairs, looked up by ``config.model.name``.

Every generator is called as ``G(noise, condition, train=...)`` and every
discriminator as ``D(images, condition, train=...)``, where ``condition`` is
``None`` (unconditional), integer labels (class-conditional) or the input image
(image-to-image). That shared signature is what lets one train step serve all
families: adding a family means adding a builder here, not a second trainer.
"""

import dataclasses
import inspect
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from ganjax.models import conditional, dcgan, pix2pix, seed

#: Output activation -> the pixel range images are normalised to.
OUTPUT_RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}


@dataclasses.dataclass(frozen=True)
class GanModel:
  """A generator, a discriminator and what the train step must know of them.

  Attributes:
    generator: linen module, ``G(noise, condition, train=...)``.
    discriminator: linen module, ``D(images, condition, train=...)``.
    noise_dim: size of the generator's noise vector (0: no noise input).
    noise_distribution: "uniform" (in [-1, 1]) or "normal".
    output_activation: "sigmoid" or "tanh": fixes the pixel range of the data.
    condition: "none", "label" or "image".
  """
  generator: nn.Module
  discriminator: nn.Module
  noise_dim: int
  noise_distribution: str = "uniform"
  output_activation: str = "sigmoid"
  condition: str = "none"

  @property
  def pixel_range(self) -> tuple[float, float]:
    return OUTPUT_RANGES[self.output_activation]

  def sample_noise(self, key: jax.Array, num: int) -> jax.Array:
    shape = (num, self.noise_dim)
    if self.noise_distribution == "uniform":
      return jax.random.uniform(key, shape, minval=-1.0, maxval=1.0)
    return jax.random.normal(key, shape)


def _dtype(name: str) -> Any:
  try:
    return {"float32": jnp.float32, "bfloat16": jnp.bfloat16,
            "float16": jnp.float16}[name]
  except KeyError:
    raise ValueError(f"model.dtype must be float32, bfloat16 or float16, not {name!r}")


def _check_divisible(image_shape: tuple[int, int, int], by: int, model: str) -> None:
  height, width, _ = image_shape
  if height != width or height % by:
    raise ValueError(f"model {model!r} needs square images with a side divisible by "
                     f"{by}; the data has {height}x{width}")


def build_seed(image_shape, num_classes, *, noise_dim: int = 100,
               dropout_rate: float = 0.4, g_features: int = 256,
               d_features: int = 64, dtype: str = "float32") -> GanModel:
  """The seed's Keras DCGAN (see :mod:`ganjax.models.seed`)."""
  del num_classes
  _check_divisible(image_shape, 4, "seed")
  return GanModel(
      generator=seed.SeedGenerator(
          image_size=image_shape[0], base_features=g_features,
          channels=image_shape[2], dropout_rate=dropout_rate, dtype=_dtype(dtype)),
      discriminator=seed.SeedDiscriminator(
          base_features=d_features, dropout_rate=dropout_rate, dtype=_dtype(dtype)),
      noise_dim=noise_dim, noise_distribution="uniform", output_activation="sigmoid")


def build_dcgan(image_shape, num_classes, *, noise_dim: int = 100,
                g_features: int = 64, d_features: int = 64,
                dtype: str = "float32") -> GanModel:
  """The DCGAN paper's model (see :mod:`ganjax.models.dcgan`)."""
  del num_classes
  _check_divisible(image_shape, 2, "dcgan")
  return GanModel(
      generator=dcgan.DCGANGenerator(
          image_size=image_shape[0], channels=image_shape[2],
          base_features=g_features, dtype=_dtype(dtype)),
      discriminator=dcgan.DCGANDiscriminator(
          image_size=image_shape[0], base_features=d_features, dtype=_dtype(dtype)),
      noise_dim=noise_dim, noise_distribution="uniform", output_activation="tanh")


def _check_choice(option: str, value: str, choices: tuple[str, ...]) -> None:
  if value not in choices:
    raise ValueError(f"model.{option} must be one of {', '.join(map(repr, choices))}, "
                     f"not {value!r}")


def build_cgan(image_shape, num_classes, *, noise_dim: int = 100,
               g_features: int = 64, d_features: int = 64, embed_dim: int = 32,
               g_conditioning: str = "cbn", d_conditioning: str = "projection",
               dtype: str = "float32") -> GanModel:
  """Class-conditional DCGAN (see :mod:`ganjax.models.conditional`)."""
  if not num_classes:
    raise ValueError("model 'cgan' is class-conditional but the data has no labels; "
                     "use labelled data (e.g. MNIST IDX files with their labels file) "
                     "or an unconditional model such as 'dcgan'")
  _check_choice("g_conditioning", g_conditioning, conditional.G_CONDITIONINGS)
  _check_choice("d_conditioning", d_conditioning, conditional.D_CONDITIONINGS)
  _check_divisible(image_shape, 2, "cgan")
  return GanModel(
      generator=conditional.ConditionalGenerator(
          num_classes=num_classes, image_size=image_shape[0], channels=image_shape[2],
          base_features=g_features, embed_dim=embed_dim, conditioning=g_conditioning,
          dtype=_dtype(dtype)),
      discriminator=conditional.ConditionalDiscriminator(
          num_classes=num_classes, image_size=image_shape[0], base_features=d_features,
          embed_dim=embed_dim, conditioning=d_conditioning, dtype=_dtype(dtype)),
      noise_dim=noise_dim, noise_distribution="normal", output_activation="tanh",
      condition="label")


def build_pix2pix(image_shape, num_classes, *, g_features: int = 64,
                  d_features: int = 64, dropout_rate: float = 0.5,
                  dropout_layers: int = 3, max_depth: int = 8, d_layers: int = 3,
                  dtype: str = "float32") -> GanModel:
  """pix2pix's U-Net and PatchGAN (see :mod:`ganjax.models.pix2pix`).

  ``image_shape`` is the target's; the input's channels are whatever the data's
  ``input`` images have (the first layers adapt when the networks are initialised).
  """
  del num_classes
  if max_depth < 1 or d_layers < 1:
    raise ValueError("model.max_depth and model.d_layers must be at least 1")
  depth = pix2pix.unet_depth(image_shape[0], image_shape[1], max_depth)
  return GanModel(
      generator=pix2pix.UNetGenerator(
          depth=depth, channels=image_shape[2], base_features=g_features,
          dropout_rate=dropout_rate, dropout_layers=dropout_layers, dtype=_dtype(dtype)),
      discriminator=pix2pix.PatchDiscriminator(
          layers=min(d_layers, depth), base_features=d_features, dtype=_dtype(dtype)),
      noise_dim=0, output_activation="tanh", condition="image")


MODELS: dict[str, Callable[..., GanModel]] = {
    "seed": build_seed,
    "dcgan": build_dcgan,
    "cgan": build_cgan,
    "pix2pix": build_pix2pix,
}


def check_model_options(name: str, options: dict[str, Any]) -> None:
  """Raises ValueError unless ``name`` is registered and takes ``options``.

  Cheap (no module is built): commands call it before loading any data.
  """
  if name not in MODELS:
    raise ValueError(f"unknown model.name {name!r}; choose one of {sorted(MODELS)}")
  signature = inspect.signature(MODELS[name])
  try:
    signature.bind(None, None, **options)
  except TypeError as e:
    raise ValueError(f"model {name!r} does not take these options: {e}") from None
  for option, value in options.items():
    _check_option_value(option, value, signature.parameters[option].default)


#: Integer options for which 0 means "none" (all others must be positive).
_MAY_BE_ZERO = ("dropout_layers",)


def _check_option_value(option: str, value: Any, default: Any) -> None:
  """Raises ValueError for a value of the wrong type or range for ``option``."""
  if isinstance(default, bool) or isinstance(default, str):
    if type(value) is not type(default):
      raise ValueError(f"model.{option} must be a {type(default).__name__}, not {value!r}")
  elif isinstance(default, int):
    low = 0 if option in _MAY_BE_ZERO else 1
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
      raise ValueError(f"model.{option} must be an integer >= {low}, not {value!r}")
  elif isinstance(default, float):
    if not isinstance(value, (int, float)) or isinstance(value, bool):
      raise ValueError(f"model.{option} must be a number, not {value!r}")
    if option.endswith("rate") and not 0 <= value < 1:
      raise ValueError(f"model.{option} must be in [0, 1), not {value!r}")


def build_model(name: str, image_shape: tuple[int, int, int],
                num_classes: int | None, **kwargs: Any) -> GanModel:
  """Builds the registered model ``name`` for images of ``image_shape`` (H, W, C).

  Raises:
    ValueError: unknown name, unknown keyword or data the model cannot handle.
  """
  check_model_options(name, kwargs)
  return MODELS[name](tuple(image_shape), num_classes, **kwargs)
