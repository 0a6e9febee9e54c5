"""Generator/discriminator pairs, looked up by ``config.model.name``.

Every generator is called as ``G(noise, condition, train=...)`` and every
discriminator as ``D(images, condition, train=...)``, where ``condition`` is
``None`` (unconditional), integer labels (class-conditional) or the input image
(image-to-image): see :class:`Condition`. That shared signature is what lets one
train step serve all families.

Each family is a module of this package defining
``build(image_shape, num_classes, **options) -> GanModel``, with its options as
keyword arguments with defaults (they are checked against that signature before
anything is built). Adding a family means adding its module and one line to
``_FAMILY_MODULES``; layers families share live in :mod:`ganjax.models.layers`.
"""

import importlib
import inspect
from typing import Any, Callable

from ganjax.models.base import OUTPUT_RANGES, Condition, GanModel

__all__ = ["MODELS", "OUTPUT_RANGES", "Condition", "GanModel", "build_model",
           "check_model_options"]

#: Registered name -> the module of this package that builds it.
_FAMILY_MODULES = {
    "seed": "seed",
    "dcgan": "dcgan",
    "cgan": "conditional",
    "pix2pix": "pix2pix",
    "resnet": "resnet",
}

#: Registered name -> its builder, ``build(image_shape, num_classes, **options)``.
MODELS: dict[str, Callable[..., GanModel]] = {
    name: importlib.import_module(f"{__name__}.{module}").build
    for name, module in _FAMILY_MODULES.items()
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
