"""What each network carries through training: parameters, optimizer, statistics.

The generator and the discriminator have distinct state types so that what only
one of them holds (an exponential moving average of the generator's weights, for
example) is a field of that type, not a flag of a shared one. Their fields name
the checkpoint's tree (``g/params``, ``d/opt_state``, ...).
"""

import dataclasses
from typing import Any, Optional

import flax
import jax
import jax.numpy as jnp
import optax
from flax.training import train_state

from ganjax.models import Condition, GanModel


class NetworkState(train_state.TrainState):
  """A network's parameters, optimizer state, step and non-trained variables.

  ``batch_stats`` holds every mutable collection a network updates in training
  (BatchNorm's running statistics; also, e.g., spectral norm's power-iteration
  vectors): its presence does not mean the network uses BatchNorm.
  """
  batch_stats: Any = flax.core.FrozenDict()

  def variables(self, params: Any = None) -> dict[str, Any]:
    """The variables to ``apply`` with: ``params`` (default: the state's own)."""
    return {"params": self.params if params is None else params,
            "batch_stats": self.batch_stats}


@dataclasses.dataclass(frozen=True)
class EmaSettings:
  """How the generator's weights are averaged (as in StyleGAN2-ADA).

  Attributes:
    half_life_images: images after which an old weight's share halves.
    rampup: early in training the half-life is at most ``rampup`` times the
      images seen so far (0: no warm-up), so the average forgets the random
      initialisation quickly.
    images_per_step: the global batch size.
    for_inference: generate with the average (True) or the raw weights.
  """
  half_life_images: float
  images_per_step: int
  rampup: float = 0.05
  for_inference: bool = True

  def decay(self, step: jax.Array) -> jax.Array:
    """The weight of the old average after training step ``step`` (1-based)."""
    half_life = jnp.asarray(self.half_life_images, jnp.float32)
    if self.rampup > 0:
      seen = step.astype(jnp.float32) * self.images_per_step
      half_life = jnp.minimum(half_life, seen * self.rampup)
    return 0.5 ** (self.images_per_step / jnp.maximum(half_life, 1e-8))


class GeneratorState(NetworkState):
  """The generator's state; its ``step`` counts the run's training steps.

  With ``ema`` set, ``ema_params`` is an exponential moving average of
  ``params``, updated by every :meth:`apply_gradients` and saved with the
  state. The average is used with the raw generator's BatchNorm statistics (as
  StyleGAN2-ADA copies buffers into its average generator).
  """
  ema_params: Any = None
  ema: Optional[EmaSettings] = flax.struct.field(pytree_node=False, default=None)

  def apply_gradients(self, *, grads: Any, **kwargs: Any) -> "GeneratorState":
    new = super().apply_gradients(grads=grads, **kwargs)
    if self.ema is None:
      return new
    decay = self.ema.decay(new.step)
    return new.replace(ema_params=jax.tree.map(
        lambda average, param: param + decay * (average - param).astype(param.dtype),
        new.ema_params, new.params))

  def with_average_restarted(self) -> "GeneratorState":
    """The state with its average (if any) set to a copy of the current weights."""
    if self.ema_params is None:
      return self
    return self.replace(ema_params=jax.tree.map(jnp.copy, self.params))

  def with_raw_weights_for_inference(self) -> "GeneratorState":
    """The state generating with its trained weights even if it keeps an average."""
    if self.ema is None:
      return self
    return self.replace(ema=dataclasses.replace(self.ema, for_inference=False))

  @property
  def generates_with_average(self) -> bool:
    """Whether :meth:`inference_variables` are the moving average's."""
    return self.ema is not None and self.ema.for_inference

  def inference_variables(self) -> dict[str, Any]:
    """The variables images are generated with outside training (sample grids,
    the sample/translate/eval commands, periodic evaluation): the average when
    there is one and ``ema.for_inference``, else the raw weights."""
    if self.generates_with_average:
      return self.variables(self.ema_params)
    return self.variables()


class DiscriminatorState(NetworkState):
  """The discriminator's state.

  ``augment_p`` is ADA's augmentation probability when augmentation adapts to
  D (saved with the state, so a resumed run continues with its ``p``), else None.
  """
  augment_p: Any = None


Batch = dict[str, jax.Array]


def condition_of(batch: Batch, condition: Condition) -> jax.Array | None:
  """The part of ``batch`` both networks are conditioned on (None: unconditional)."""
  return {Condition.NONE: None, Condition.LABEL: batch.get("label"),
          Condition.IMAGE: batch.get("input")}[condition]


def create_train_states(model: GanModel, g_optimizer: optax.GradientTransformation,
                        d_optimizer: optax.GradientTransformation,
                        example_batch: Batch, key: jax.Array,
                        ema: Optional[EmaSettings] = None,
                        adaptive_augment: bool = False
                        ) -> tuple[GeneratorState, DiscriminatorState]:
  """Initialises both networks from ``key`` and shapes taken from ``example_batch``.

  With ``ema`` the generator also carries the average of its weights (starting
  as a copy); with ``adaptive_augment`` the discriminator carries ADA's ``p``
  (starting at 0).

  Only shapes and dtypes of ``example_batch`` matter, so it may be abstract
  (``jax.ShapeDtypeStruct``): this is how checkpoint restore targets are built
  with ``jax.eval_shape``.
  """
  g_key, d_key = jax.random.split(key)
  condition = condition_of(example_batch, model.condition)
  real = example_batch["image"]
  noise = jnp.zeros((real.shape[0], model.noise_dim)) if model.noise_dim else None
  g_vars = model.generator.init({"params": g_key}, noise, condition, train=False)
  d_vars = model.discriminator.init({"params": d_key}, real, condition, train=False)

  def state(state_type, module, variables, tx):
    return state_type.create(apply_fn=module.apply, params=variables["params"], tx=tx,
                             batch_stats=variables.get("batch_stats", {}))

  g_state = state(GeneratorState, model.generator, g_vars, g_optimizer)
  if ema is not None:
    g_state = g_state.replace(ema=ema, ema_params=g_state.params).with_average_restarted()
  d_state = state(DiscriminatorState, model.discriminator, d_vars, d_optimizer)
  if adaptive_augment:
    d_state = d_state.replace(augment_p=jnp.zeros((), jnp.float32))
  return g_state, d_state
