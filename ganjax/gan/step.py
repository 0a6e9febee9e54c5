"""The adversarial update: pure functions of (states, batch, key).

One step is the seed's algorithm in two phases: the discriminator phase (D
updated on real images and detached fakes) and the generator phase (G updated
through the freshly updated D on new noise). Unconditional, class-conditional and
image-to-image models share it: only what ``batch`` holds and which loss terms
apply differ (see :class:`StepSpec`).

Every call of D goes through :func:`discriminate`, the single entry point where
augmentation applies, to real and fake images alike. Each phase adds its own
regularisers (:mod:`ganjax.gan.regularizers`), which receive D as a function.
Random numbers come from named streams of the step key
(:mod:`ganjax.gan.streams`). The training loop jits :func:`train_step` once with
``functools.partial(train_step, spec=...)``.
"""

import dataclasses
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp

from ganjax.gan import regularizers
from ganjax.gan.augment import AdaSettings
from ganjax.gan.losses import ADVERSARIAL_LOSSES, AdversarialLoss
from ganjax.gan.regularizers import PhaseInputs, Regularizer
from ganjax.gan.state import Batch, DiscriminatorState, GeneratorState, condition_of
from ganjax.gan.streams import stream
from ganjax.models import GanModel

Metrics = dict[str, jax.Array]
#: ``(images, condition, key, strength) -> (images, condition)``, differentiable in
#: the images; ``strength`` is the probability of each operation (ADA's p).
Augment = Callable[[jax.Array, Optional[jax.Array], jax.Array, jax.Array],
                   tuple[jax.Array, Optional[jax.Array]]]


@dataclasses.dataclass(frozen=True)
class StepSpec:
  """What the step must know beyond the states.

  Attributes:
    model: the generator/discriminator pair and their conventions.
    loss: the adversarial objective (:data:`ganjax.gan.losses.ADVERSARIAL_LOSSES`).
    d_regularizers: extra terms of the discriminator's loss.
    g_regularizers: extra terms of the generator's loss (pix2pix's L1).
    augment: applied to every image D sees (None: no augmentation), with
      strength 1, or D's adaptive ``augment_p`` when ``ada`` is set.
    ada: how the D phase adapts ``augment_p`` (None: a fixed strength).
    reuse_fake: share one generator forward between the D and G phases (as the
      PyTorch DCGAN example does) instead of drawing fresh noise for G.
    d_steps: discriminator phases per generator phase (WGAN's n_critic), each on
      its own batch: the step's batch holds ``d_steps`` batches, one after the
      other, and the G phase uses the last one's conditions and targets.
  """
  model: GanModel
  loss: AdversarialLoss = ADVERSARIAL_LOSSES["non_saturating"]
  d_regularizers: tuple[Regularizer, ...] = ()
  g_regularizers: tuple[Regularizer, ...] = ()
  augment: Optional[Augment] = None
  ada: Optional[AdaSettings] = None
  reuse_fake: bool = False
  d_steps: int = 1


def generate_for_training(g_state: GeneratorState, params: Any,
                          noise: Optional[jax.Array], condition: Optional[jax.Array],
                          key: jax.Array) -> tuple[jax.Array, Any]:
  """G in training mode: images and its updated mutable collections."""
  fake, updates = g_state.apply_fn(g_state.variables(params), noise, condition,
                                   train=True, rngs={"dropout": key},
                                   mutable=["batch_stats"])
  return fake, updates.get("batch_stats", g_state.batch_stats)


def discriminate(spec: StepSpec, d_state: DiscriminatorState, params: Any,
                 images: jax.Array, condition: Optional[jax.Array], key: jax.Array
                 ) -> tuple[jax.Array, Any]:
  """D in training mode on (augmented) ``images``: logits and updated collections."""
  if spec.augment is not None:
    strength = 1.0 if d_state.augment_p is None else d_state.augment_p
    images, condition = spec.augment(images, condition, stream(key, "augment"), strength)
  logits, updates = d_state.apply_fn(d_state.variables(params), images, condition,
                                     train=True, rngs={"dropout": stream(key, "dropout")},
                                     mutable=["batch_stats"])
  return logits, updates.get("batch_stats", d_state.batch_stats)


def _discriminate_real_and_fake(spec, d_state, params, real, fake, condition, key):
  """Logits on real and fake images, and D's updated collections.

  Without BatchNorm one call on the concatenated batch is cheaper and is what the
  seed does; with BatchNorm real and fake go in separate calls so neither
  normalises with the other's statistics (the DCGAN practice).
  """
  if not spec.model.discriminator_batch_norm:
    both_condition = None if condition is None else jnp.concatenate([condition] * 2)
    logits, stats = discriminate(spec, d_state, params, jnp.concatenate([real, fake]),
                                 both_condition, key)
    return logits[:real.shape[0]], logits[real.shape[0]:], stats
  real_logits, stats = discriminate(spec, d_state, params, real, condition,
                                    stream(key, "real"))
  fake_logits, stats = discriminate(spec, d_state.replace(batch_stats=stats), params,
                                    fake, condition, stream(key, "fake"))
  return real_logits, fake_logits, stats


def _phase_inputs(spec, d_state, params, batch, fake, condition, key) -> PhaseInputs:
  """What a phase's regularisers see; D is called with ``params``."""
  d_key = stream(key, "discriminate")
  return PhaseInputs(
      batch, fake, condition,
      discriminate=lambda images, cond: discriminate(spec, d_state, params, images,
                                                     cond, d_key)[0],
      key=key)


def discriminator_phase(spec: StepSpec, d_state: DiscriminatorState, batch: Batch,
                        fake: jax.Array, condition: Optional[jax.Array],
                        step: jax.Array, key: jax.Array
                        ) -> tuple[DiscriminatorState, Metrics]:
  """One D update on the batch's real images and (detached) ``fake``."""
  fake = jax.lax.stop_gradient(fake)

  def loss_fn(params):
    real_logits, fake_logits, stats = _discriminate_real_and_fake(
        spec, d_state, params, batch["image"], fake, condition, stream(key, "adversarial"))
    loss = spec.loss.discriminator(real_logits, fake_logits)
    penalty, terms = regularizers.apply(
        spec.d_regularizers,
        _phase_inputs(spec, d_state, params, batch, fake, condition,
                      stream(key, "regularizers")), step)
    return loss + penalty, (real_logits, fake_logits, stats, terms)

  (d_loss, (real_logits, fake_logits, stats, terms)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(d_state.params)
  d_state = d_state.apply_gradients(grads=grads, batch_stats=stats)
  metrics = {"d_loss": d_loss, "d_real": jnp.mean(spec.loss.score(real_logits)),
             "d_fake": jnp.mean(spec.loss.score(fake_logits)), **terms}
  if spec.ada is not None:
    d_state = d_state.replace(augment_p=spec.ada.update(d_state.augment_p, real_logits))
    metrics["augment_p"] = d_state.augment_p
  return d_state, metrics


def _generator_loss(spec, d_state, fake, batch, condition, step, key):
  """G's loss on ``fake`` through D (adversarial + regularisers), and each term."""
  logits, _ = discriminate(spec, d_state, d_state.params, fake, condition,
                           stream(key, "adversarial"))
  penalty, terms = regularizers.apply(
      spec.g_regularizers,
      _phase_inputs(spec, d_state, d_state.params, batch, fake, condition,
                    stream(key, "regularizers")), step)
  return spec.loss.generator(logits) + penalty, terms


def generator_phase(spec: StepSpec, g_state: GeneratorState, d_state: DiscriminatorState,
                    batch: Batch, noise: Optional[jax.Array],
                    condition: Optional[jax.Array], step: jax.Array, key: jax.Array
                    ) -> tuple[GeneratorState, Metrics]:
  """One G update on ``noise`` through D (whose state is not changed)."""
  def loss_fn(params):
    fake, stats = generate_for_training(g_state, params, noise, condition,
                                        stream(key, "generate"))
    loss, terms = _generator_loss(spec, d_state, fake, batch, condition, step, key)
    return loss, (stats, terms)

  (g_loss, (stats, terms)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      g_state.params)
  return (g_state.apply_gradients(grads=grads, batch_stats=stats),
          {"g_loss": g_loss, **terms})


def _generator_phase_from_pullback(spec, g_state, d_state, batch, fake, pullback,
                                   condition, step, key):
  """The G phase backpropagating through the D phase's generator pass."""
  (g_loss, terms), fake_grad = jax.value_and_grad(
      lambda f: _generator_loss(spec, d_state, f, batch, condition, step, key),
      has_aux=True)(fake)
  grads, = pullback(fake_grad)
  return g_state.apply_gradients(grads=grads), {"g_loss": g_loss, **terms}


def _noise(model: GanModel, key: jax.Array, num: int) -> Optional[jax.Array]:
  return model.sample_noise(key, num) if model.noise_dim else None


def _all_finite(tree: Any) -> jax.Array:
  leaves = jax.tree.leaves(tree)
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in leaves]))


def _fake_then_discriminator_phase(spec, g_state, d_state, batch, d_step, key):
  """Fakes for ``batch`` (G's statistics updated), then one D phase on them."""
  condition = condition_of(batch, spec.model.condition)
  noise = _noise(spec.model, stream(key, "noise"), batch["image"].shape[0])
  fake, g_stats = generate_for_training(g_state, g_state.params, noise, condition,
                                        stream(key, "generate"))
  g_state = g_state.replace(batch_stats=g_stats)
  d_state, metrics = discriminator_phase(spec, d_state, batch, fake, condition, d_step,
                                         stream(key, "d_phase"))
  return g_state, d_state, metrics


def _discriminator_phases(spec, g_state, d_state, batch, key):
  """``spec.d_steps`` D phases (a scan), each on its own part of ``batch``.

  Returns the states, D's metrics averaged over the phases and the last part.
  """
  parts = jax.tree.map(lambda x: x.reshape((spec.d_steps, -1) + x.shape[1:]), batch)

  def one(carry, inputs):
    part, index = inputs
    g, d, metrics = _fake_then_discriminator_phase(
        spec, *carry, part, g_state.step * spec.d_steps + index,
        jax.random.fold_in(stream(key, "d_steps"), index))
    return (g, d), metrics

  (g_state, d_state), metrics = jax.lax.scan(
      one, (g_state, d_state), (parts, jnp.arange(spec.d_steps)))
  return (g_state, d_state, jax.tree.map(jnp.mean, metrics),
          jax.tree.map(lambda x: x[-1], parts))


def train_step(g_state: GeneratorState, d_state: DiscriminatorState, batch: Batch,
               key: jax.Array, *, spec: StepSpec
               ) -> tuple[GeneratorState, DiscriminatorState, Metrics]:
  """The discriminator phase (``spec.d_steps`` times), then the generator phase.

  Args:
    g_state: generator state (its ``batch_stats`` are updated by both passes; its
      ``step`` is the training step).
    d_state: discriminator state.
    batch: ``image`` (B, H, W, C) in the model's pixel range; ``label`` (B,) for
      class-conditional models; ``input`` (B, H, W, C') for image-to-image ones.
      With ``d_steps`` > 1, B is ``d_steps`` batches one after the other.
    key: this step's key, ``fold_in(run_key, step)``.
    spec: the model, loss and regularisers.

  Returns:
    The updated states and scalar metrics: ``d_loss``, ``d_real``, ``d_fake``,
    ``g_loss``, one per regulariser, and ``finite`` (False when a loss or a
    parameter became NaN or infinite: the caller rolls back).
  """
  step = g_state.step
  if spec.d_steps > 1:
    g_state, d_state, d_metrics, batch = _discriminator_phases(spec, g_state, d_state,
                                                               batch, key)
  elif spec.reuse_fake:
    condition = condition_of(batch, spec.model.condition)
    noise = _noise(spec.model, stream(key, "noise"), batch["image"].shape[0])
    fake, pullback, g_stats = jax.vjp(
        lambda params: generate_for_training(g_state, params, noise, condition,
                                             stream(key, "generate")),
        g_state.params, has_aux=True)
    g_state = g_state.replace(batch_stats=g_stats)
    d_state, d_metrics = discriminator_phase(spec, d_state, batch, fake, condition, step,
                                             stream(key, "d_phase"))
  else:
    g_state, d_state, d_metrics = _fake_then_discriminator_phase(
        spec, g_state, d_state, batch, step, key)
  condition = condition_of(batch, spec.model.condition)
  if spec.reuse_fake:
    g_state, g_metrics = _generator_phase_from_pullback(
        spec, g_state, d_state, batch, fake, pullback, condition, step,
        stream(key, "g_phase"))
  else:
    g_state, g_metrics = generator_phase(
        spec, g_state, d_state, batch,
        _noise(spec.model, stream(key, "g_noise"), batch["image"].shape[0]),
        condition, step, stream(key, "g_phase"))
  metrics = {**d_metrics, **g_metrics}
  metrics["finite"] = (jnp.isfinite(metrics["d_loss"]) & jnp.isfinite(metrics["g_loss"])
                       & _all_finite((g_state.params, d_state.params)))
  return g_state, d_state, metrics
