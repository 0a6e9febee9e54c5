"""What each network carries through training: parameters, optimizer, statistics.

The generator and the discriminator have distinct state types so that what only
one of them holds (an exponential moving average of the generator's weights, for
example) is a field of that type, not a flag of a shared one. Their fields name
the checkpoint's tree (``g/params``, ``d/opt_state``, ...).
"""

from typing import Any

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


class GeneratorState(NetworkState):
  """The generator's state; its ``step`` counts the run's training steps."""

  def inference_variables(self) -> dict[str, Any]:
    """The variables images are generated with outside training (sample grids,
    the sample/translate/eval commands, periodic evaluation): one place to
    choose them, e.g. an average of the weights instead of the latest ones."""
    return self.variables()


class DiscriminatorState(NetworkState):
  """The discriminator's state."""


Batch = dict[str, jax.Array]


def condition_of(batch: Batch, condition: Condition) -> jax.Array | None:
  """The part of ``batch`` both networks are conditioned on (None: unconditional)."""
  return {Condition.NONE: None, Condition.LABEL: batch.get("label"),
          Condition.IMAGE: batch.get("input")}[condition]


def create_train_states(model: GanModel, g_optimizer: optax.GradientTransformation,
                        d_optimizer: optax.GradientTransformation,
                        example_batch: Batch, key: jax.Array
                        ) -> tuple[GeneratorState, DiscriminatorState]:
  """Initialises both networks from ``key`` and shapes taken from ``example_batch``.

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

  return (state(GeneratorState, model.generator, g_vars, g_optimizer),
          state(DiscriminatorState, model.discriminator, d_vars, d_optimizer))
