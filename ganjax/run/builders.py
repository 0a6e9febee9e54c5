"""A run's parts from its config: model, optimizers, step spec, state initialiser.

This is where the config is read and turned into the explicit arguments of the
library (:mod:`ganjax.gan`, :mod:`ganjax.models`); the training loop and the
commands that open a trained run build from here, so both build the same thing.
Mistakes in the config become one-sentence :class:`UserError` s.
"""

import dataclasses
import functools
from typing import Any, Callable, Optional

import jax
import ml_collections
import numpy as np
import optax

from ganjax.gan import augment, losses, regularizers
from ganjax.gan.optimizers import build_optimizer
from ganjax.gan import population as population_lib
from ganjax.gan.state import (DiscriminatorState, EmaSettings, GeneratorState,
                              create_train_states)
from ganjax.gan.step import StepSpec
from ganjax.models import GanModel, build_model, check_model_options
from ganjax.utils import sharding
from ganjax.utils.errors import UserError

#: Keys of ``config.loss`` that are not regulariser weights.
_LOSS_KEYS = ("adversarial",)


def check_choices(config: ml_collections.ConfigDict) -> None:
  """Fails fast, before any data is loaded, on a model, loss or optimizer no run has.

  Raises:
    UserError: an unknown name or option.
  """
  try:
    check_model_options(config.model.name, _model_options(config.model))
  except ValueError as e:
    raise UserError(str(e)) from e
  if config.loss.adversarial not in losses.ADVERSARIAL_LOSSES:
    raise UserError(f"unknown loss.adversarial {config.loss.adversarial!r}; choose one "
                    f"of {sorted(losses.ADVERSARIAL_LOSSES)}")
  _regularizers(config.loss)
  _augmentation(config.augment)
  if config.train.d_steps > 1 and config.train.reuse_fake:
    raise UserError("train.reuse_fake shares the generator pass of a single "
                    "discriminator phase; it cannot be used with train.d_steps > 1")
  optimizer(config.optim.g)
  optimizer(config.optim.d)


def _model_options(model: ml_collections.ConfigDict) -> dict[str, Any]:
  return {k: v for k, v in model.items() if k != "name"}


def model_from_config(model: ml_collections.ConfigDict, image_shape,
                      num_classes) -> GanModel:
  """``config.model`` built for images of ``image_shape`` and ``num_classes``."""
  try:
    return build_model(model.name, image_shape, num_classes, **_model_options(model))
  except ValueError as e:
    raise UserError(str(e)) from e


def optimizer(optim: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """``config.optim.g`` or ``config.optim.d`` as an optax optimizer."""
  try:
    return build_optimizer(**optim)
  except (TypeError, ValueError) as e:
    raise UserError(f"bad optimizer config {dict(optim)}: {e}") from e


def _regularizers(loss: ml_collections.ConfigDict):
  try:
    return regularizers.make_regularizers(
        **{k: v for k, v in loss.items() if k not in _LOSS_KEYS})
  except (TypeError, ValueError) as e:
    raise UserError(f"bad loss config {dict(loss)}: {e}") from e


def _augmentation(settings: ml_collections.ConfigDict
                  ) -> tuple[Optional[Callable], Optional[augment.AdaSettings]]:
  """``config.augment`` as the step's augmentation and ADA settings."""
  try:
    policy = augment.parse_policy(settings.policy)
  except ValueError as e:
    raise UserError(str(e)) from e
  if not policy:
    if settings.ada_target:
      raise UserError("augment.ada_target adapts an augmentation: set augment.policy "
                      "too, e.g. --config.augment.policy=translation,cutout,color")
    return None, None
  ada = (augment.AdaSettings(target=float(settings.ada_target),
                             images_to_full=float(settings.ada_images))
         if settings.ada_target else None)
  return functools.partial(augment.augment, policy=policy), ada


def step_spec(config: ml_collections.ConfigDict, model: GanModel) -> StepSpec:
  """The train step's spec: ``model``, ``config.loss``, ``config.augment`` and
  ``config.train``'s ``reuse_fake`` and ``d_steps``."""
  d_regularizers, g_regularizers = _regularizers(config.loss)
  augmentation, ada = _augmentation(config.augment)
  return StepSpec(model, loss=losses.ADVERSARIAL_LOSSES[config.loss.adversarial],
                  d_regularizers=d_regularizers, g_regularizers=g_regularizers,
                  augment=augmentation, ada=ada, reuse_fake=config.train.reuse_fake,
                  d_steps=config.train.d_steps)


def batch_spec(examples: dict[str, np.ndarray]) -> dict[str, dict]:
  """Per-example shapes and model-side dtypes of a batch (stored in checkpoints)."""
  return {k: {"shape": list(v.shape[1:]),
              "dtype": "float32" if v.dtype == np.uint8 else str(v.dtype)}
          for k, v in examples.items()}


def ema_settings(config: ml_collections.ConfigDict) -> Optional[EmaSettings]:
  """``config.ema`` for the generator state (None: no average)."""
  ema = config.ema
  if not ema.half_life_images:
    return None
  return EmaSettings(half_life_images=float(ema.half_life_images),
                     images_per_step=config.train.batch_size,
                     rampup=float(ema.rampup), for_inference=ema.for_inference)


def state_initializer(config: ml_collections.ConfigDict, model: GanModel,
                      spec: dict[str, dict]) -> Callable[[], dict[str, Any]]:
  """A jittable ``() -> {g, d, rng}`` that initialises a run's state.

  Args:
    config: the run's config (``seed``, ``optim``, ``ema``, ``augment``,
      ``train.batch_size``).
    model: the networks.
    spec: :func:`batch_spec` of the training examples.
  """
  example_batch = {k: np.zeros([1] + v["shape"], v["dtype"]) for k, v in spec.items()}
  g_tx, d_tx = optimizer(config.optim.g), optimizer(config.optim.d)
  ema, seed = ema_settings(config), config.seed
  adaptive = _augmentation(config.augment)[1] is not None

  def init() -> dict[str, Any]:
    init_key, rng = jax.random.split(jax.random.PRNGKey(seed))
    g, d = create_train_states(model, g_tx, d_tx, example_batch, init_key, ema=ema,
                               adaptive_augment=adaptive)
    return {"g": g, "d": d, "rng": rng}

  return init


def population_initializer(member_configs: list[ml_collections.ConfigDict],
                           model: GanModel, spec: dict[str, dict]
                           ) -> Callable[[], dict[str, Any]]:
  """A jittable ``() -> {g, d, rng, active, rollbacks}``: each member initialised as
  the single run of its config, stacked along a leading member axis; every member
  active, none rolled back."""
  inits = [state_initializer(config, model, spec) for config in member_configs]

  def init() -> dict[str, Any]:
    tree = population_lib.stack([member_init() for member_init in inits])
    members = len(inits)
    return {**tree, "active": jax.numpy.ones((members,), bool),
            "rollbacks": jax.numpy.zeros((members,), jax.numpy.int32)}

  return init


def hyperparameter_setter(config: ml_collections.ConfigDict
                          ) -> population_lib.Configure:
  """Puts one member's swept values (``population.sweep``'s keys) where the step
  reads them: its optimizers, loss weights, EMA half-life and ADA target."""
  optims = {network: dict(config.optim[network]) for network in ("g", "d")}

  def configure(spec: StepSpec, g: GeneratorState, d: DiscriminatorState,
                values: dict[str, jax.Array]
                ) -> tuple[StepSpec, GeneratorState, DiscriminatorState]:
    def optimizer_of(network: str, state):
      changed = {key.split(".")[2]: value for key, value in values.items()
                 if key.startswith(f"optim.{network}.")}
      return (state.replace(tx=build_optimizer(**{**optims[network], **changed}))
              if changed else state)

    def weighted(terms):
      return tuple(dataclasses.replace(term, weight=values.get(
          f"loss.{term.name}_weight", term.weight)) for term in terms)

    g, d = optimizer_of("g", g), optimizer_of("d", d)
    spec = dataclasses.replace(spec, d_regularizers=weighted(spec.d_regularizers),
                               g_regularizers=weighted(spec.g_regularizers))
    if "ema.half_life_images" in values:
      g = g.replace(ema=dataclasses.replace(
          g.ema, half_life_images=values["ema.half_life_images"]))
    if "augment.ada_target" in values:
      spec = dataclasses.replace(spec, ada=dataclasses.replace(
          spec.ada, target=values["augment.ada_target"]))
    return spec, g, d

  return configure


def abstract_state(init: Callable[[], Any], mesh: jax.sharding.Mesh,
                   placement: Optional[jax.sharding.Sharding] = None) -> Any:
  """Shapes, dtypes and shardings (default: replicated) of ``init()``: a restore
  target."""
  placement = placement or sharding.replicated(mesh)
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=placement),
      jax.eval_shape(init))
