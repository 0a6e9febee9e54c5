"""The adversarial update: pure functions of (states, batch, key).

One step is the seed's algorithm: a discriminator update on real images and
detached fakes, then a generator update through the freshly updated discriminator
on new noise. Unconditional, class-conditional and image-to-image models share it:
only what ``batch`` holds and which loss terms apply differ (see
:class:`StepSpec`). The functions here are jitted once by the training loop with
``functools.partial(train_step, spec=...)``.
"""

import dataclasses
from typing import Any, Optional

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax.training import train_state

from ganjax.gan import losses
from ganjax.models import GanModel

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]


class TrainState(train_state.TrainState):
  """A network's parameters, optimizer state, step and BatchNorm statistics."""
  batch_stats: Any = flax.core.FrozenDict()

  def variables(self, params: Any = None) -> dict[str, Any]:
    return {"params": self.params if params is None else params,
            "batch_stats": self.batch_stats}


@dataclasses.dataclass(frozen=True)
class StepSpec:
  """What the step must know beyond the states: the model family and loss terms.

  Attributes:
    model: the generator/discriminator pair and their conventions.
    loss: a key of :data:`ganjax.gan.losses.ADVERSARIAL_LOSSES`.
    l1_weight: weight of the L1 term between generated and real images
      (pix2pix; 0 disables it).
    reuse_fake: share one generator forward between the D and G updates (as the
      PyTorch DCGAN example does) instead of drawing fresh noise for G.
  """
  model: GanModel
  loss: str = "non_saturating"
  l1_weight: float = 0.0
  reuse_fake: bool = False


def condition_of(batch: Batch, kind: str) -> Optional[jax.Array]:
  """The part of ``batch`` both networks are conditioned on."""
  return {"none": None, "label": batch.get("label"), "image": batch.get("input")}[kind]


def _generate(state: TrainState, params: Any, noise: Optional[jax.Array],
              condition: Optional[jax.Array], key: jax.Array) -> tuple[jax.Array, Any]:
  fake, updates = state.apply_fn(state.variables(params), noise, condition, train=True,
                                 rngs={"dropout": key}, mutable=["batch_stats"])
  return fake, updates.get("batch_stats", state.batch_stats)


def _discriminate(state: TrainState, params: Any, images: jax.Array,
                  condition: Optional[jax.Array], key: jax.Array) -> tuple[jax.Array, Any]:
  logits, updates = state.apply_fn(state.variables(params), images, condition,
                                   train=True, rngs={"dropout": key},
                                   mutable=["batch_stats"])
  return logits, updates.get("batch_stats", state.batch_stats)


def _discriminate_real_and_fake(state, params, real, fake, condition, key):
  """Logits on real and fake images, and D's updated BatchNorm statistics.

  Without BatchNorm one call on the concatenated batch is cheaper and is what the
  seed does; with BatchNorm real and fake go in separate calls so neither
  normalises with the other's statistics (the DCGAN practice).
  """
  if not state.batch_stats:
    both_condition = None if condition is None else jnp.concatenate([condition] * 2)
    logits, stats = _discriminate(state, params, jnp.concatenate([real, fake]),
                                  both_condition, key)
    return logits[:real.shape[0]], logits[real.shape[0]:], stats
  real_key, fake_key = jax.random.split(key)
  real_logits, stats = _discriminate(state, params, real, condition, real_key)
  fake_logits, stats = _discriminate(state.replace(batch_stats=stats), params, fake,
                                     condition, fake_key)
  return real_logits, fake_logits, stats


def _noise(spec: StepSpec, key: jax.Array, num: int) -> Optional[jax.Array]:
  return spec.model.sample_noise(key, num) if spec.model.noise_dim else None


def _generator_loss(spec: StepSpec, d_state: TrainState, fake: jax.Array,
                    batch: Batch, condition, key) -> tuple[jax.Array, jax.Array]:
  """Adversarial (+ L1) loss of ``fake``, and the L1 term alone for logging."""
  logits, _ = _discriminate(d_state, d_state.params, fake, condition, key)
  adversarial = losses.ADVERSARIAL_LOSSES[spec.loss].generator(logits)
  l1 = losses.l1(fake, batch["image"]) if spec.l1_weight else jnp.zeros(())
  return adversarial + spec.l1_weight * l1, l1


def _all_finite(tree: Any) -> jax.Array:
  leaves = jax.tree.leaves(tree)
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in leaves]))


def _d_update(spec, d_state, real, fake, condition, key):
  """Discriminator update on real images and (detached) fakes."""
  def loss_fn(d_params):
    real_logits, fake_logits, d_stats = _discriminate_real_and_fake(
        d_state, d_params, real, jax.lax.stop_gradient(fake), condition, key)
    loss = losses.ADVERSARIAL_LOSSES[spec.loss].discriminator(real_logits, fake_logits)
    return loss, (real_logits, fake_logits, d_stats)

  (d_loss, (real_logits, fake_logits, d_stats)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(d_state.params)
  d_state = d_state.apply_gradients(grads=grads, batch_stats=d_stats)
  metrics = {"d_loss": d_loss,
             "d_real": jnp.mean(jax.nn.sigmoid(real_logits)),
             "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits))}
  return d_state, metrics


def _g_update(spec, g_state, d_state, batch, condition, noise, keys):
  """Generator update on fresh noise through the updated discriminator."""
  g_dropout_key, d_dropout_key = keys

  def loss_fn(g_params):
    fake, g_stats = _generate(g_state, g_params, noise, condition, g_dropout_key)
    loss, l1 = _generator_loss(spec, d_state, fake, batch, condition, d_dropout_key)
    return loss, (g_stats, l1)

  (g_loss, (g_stats, l1)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      g_state.params)
  g_state = g_state.apply_gradients(grads=grads, batch_stats=g_stats)
  return g_state, {"g_loss": g_loss, "l1": l1}


def _g_update_from_pullback(spec, g_state, d_state, batch, condition, fake, pullback,
                            d_dropout_key):
  """Generator update that backpropagates through the D step's generator pass."""
  (g_loss, l1), fake_grad = jax.value_and_grad(
      lambda f: _generator_loss(spec, d_state, f, batch, condition, d_dropout_key),
      has_aux=True)(fake)
  grads, = pullback(fake_grad)
  return g_state.apply_gradients(grads=grads), {"g_loss": g_loss, "l1": l1}


def train_step(g_state: TrainState, d_state: TrainState, batch: Batch, key: jax.Array,
               *, spec: StepSpec) -> tuple[TrainState, TrainState, Metrics]:
  """One discriminator update then one generator update.

  Args:
    g_state: generator state (its ``batch_stats`` are updated by both passes).
    d_state: discriminator state.
    batch: ``image`` (B, H, W, C) in the model's pixel range; ``label`` (B,) for
      class-conditional models; ``input`` (B, H, W, C') for image-to-image ones.
    key: this step's key, ``fold_in(run_key, step)``.
    spec: the model and loss configuration.

  Returns:
    The updated states and scalar metrics, including ``finite`` (False when any
    loss or parameter became NaN or infinite: the caller rolls back).
  """
  (noise_key, g_dropout_key, d_dropout_key, g_noise_key, g_step_g_dropout_key,
   g_step_d_dropout_key) = jax.random.split(key, 6)
  real = batch["image"]
  condition = condition_of(batch, spec.model.condition)
  noise = _noise(spec, noise_key, real.shape[0])

  def generate(g_params):
    return _generate(g_state, g_params, noise, condition, g_dropout_key)

  if spec.reuse_fake:
    fake, pullback, g_stats = jax.vjp(generate, g_state.params, has_aux=True)
  else:
    fake, g_stats = generate(g_state.params)
  g_state = g_state.replace(batch_stats=g_stats)
  d_state, d_metrics = _d_update(spec, d_state, real, fake, condition, d_dropout_key)

  if spec.reuse_fake:
    g_state, g_metrics = _g_update_from_pullback(
        spec, g_state, d_state, batch, condition, fake, pullback, g_step_d_dropout_key)
  else:
    g_state, g_metrics = _g_update(
        spec, g_state, d_state, batch, condition,
        _noise(spec, g_noise_key, real.shape[0]),
        (g_step_g_dropout_key, g_step_d_dropout_key))
  metrics = {**d_metrics, **g_metrics}
  if not spec.l1_weight:
    del metrics["l1"]
  metrics["finite"] = (jnp.isfinite(metrics["d_loss"]) & jnp.isfinite(metrics["g_loss"])
                       & _all_finite((g_state.params, d_state.params)))
  return g_state, d_state, metrics


def _init_variables(module: nn.Module, key: jax.Array, *inputs) -> dict[str, Any]:
  return module.init({"params": key}, *inputs, train=False)


def create_train_states(model: GanModel, g_optimizer: optax.GradientTransformation,
                        d_optimizer: optax.GradientTransformation,
                        example_batch: Batch, key: jax.Array
                        ) -> tuple[TrainState, TrainState]:
  """Initialises both networks from ``key`` and shapes taken from ``example_batch``.

  Only shapes and dtypes of ``example_batch`` matter, so it may be abstract
  (``jax.ShapeDtypeStruct``): this is how checkpoint restore targets are built
  with ``jax.eval_shape``.
  """
  g_key, d_key = jax.random.split(key)
  condition = condition_of(example_batch, model.condition)
  real = example_batch["image"]
  noise = jnp.zeros((real.shape[0], model.noise_dim)) if model.noise_dim else None
  g_vars = _init_variables(model.generator, g_key, noise, condition)
  d_vars = _init_variables(model.discriminator, d_key, real, condition)

  def state(module, variables, tx):
    return TrainState.create(apply_fn=module.apply, params=variables["params"], tx=tx,
                             batch_stats=variables.get("batch_stats", {}))

  return (state(model.generator, g_vars, g_optimizer),
          state(model.discriminator, d_vars, d_optimizer))
