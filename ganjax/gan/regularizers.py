"""Loss terms beyond the adversarial one, each attached to one phase of the step.

A regulariser is a weighted function of :class:`PhaseInputs`. Besides the batch
and the phase's fakes it receives the discriminator *as a function*
(``discriminate(images, condition) -> logits``) with the parameters the phase
differentiates, so a term may take gradients through D: a gradient penalty
(R1 on reals, R2 on fakes, WGAN-GP on interpolates) is one function here.

Lazy regularisation (as in StyleGAN2): a term with ``every = k`` is computed
on steps divisible by k only and weighted by k there, so its average weight is
unchanged while its cost falls k-fold.

Adding a regulariser: write its term and give :func:`make_regularizers` a
keyword for its weight (and interval); the config's ``loss`` section passes it.
"""

import dataclasses
from typing import Callable, Optional

import jax
import jax.numpy as jnp

from ganjax.gan import streams

Batch = dict[str, jax.Array]
Discriminate = Callable[[jax.Array, Optional[jax.Array]], jax.Array]


@dataclasses.dataclass(frozen=True)
class PhaseInputs:
  """What a regulariser sees.

  Attributes:
    batch: the step's batch (``image`` targets, ``label``/``input`` conditions).
    fake: the generator's output in this phase (differentiable in the G phase,
      detached in the D phase).
    condition: what both networks are conditioned on, or None.
    discriminate: D with the phase's parameters; differentiable in its inputs
      and (in the D phase) its parameters.
    key: a key of the regulariser's own (for interpolation weights and the like).
  """
  batch: Batch
  fake: jax.Array
  condition: Optional[jax.Array]
  discriminate: Discriminate
  key: jax.Array

  @property
  def real(self) -> jax.Array:
    return self.batch["image"]


@dataclasses.dataclass(frozen=True)
class Regularizer:
  """A weighted term of one phase's loss, reported under ``name``.

  Attributes:
    name: the metric's name and the term's random stream.
    weight: multiplies the term in the loss.
    term: ``PhaseInputs -> scalar``.
    every: computed every ``every`` steps (weighted by ``every`` then).
  """
  name: str
  weight: float
  term: Callable[[PhaseInputs], jax.Array]
  every: int = 1


def reconstruction_l1(inputs: PhaseInputs) -> jax.Array:
  """Mean absolute difference of fakes and targets: pix2pix's reconstruction term."""
  return jnp.mean(jnp.abs(inputs.fake - inputs.real))


def _squared_gradient_norms(inputs: PhaseInputs, images: jax.Array) -> jax.Array:
  """||d D(x) / d x||^2 per example at ``images``: (B,)."""
  grads = jax.grad(lambda x: jnp.sum(inputs.discriminate(x, inputs.condition)))(images)
  return jnp.sum(jnp.square(grads.astype(jnp.float32)), axis=tuple(range(1, grads.ndim)))


def r1_penalty(inputs: PhaseInputs) -> jax.Array:
  """R1 (Mescheder et al., 2018): D's squared gradient norm on real images.

  Weighted by gamma / 2 in the papers; here the weight is the term's own.
  """
  return jnp.mean(_squared_gradient_norms(inputs, inputs.real))


def r2_penalty(inputs: PhaseInputs) -> jax.Array:
  """R2: D's squared gradient norm on the (detached) fakes."""
  return jnp.mean(_squared_gradient_norms(inputs, inputs.fake))


def gradient_penalty(inputs: PhaseInputs) -> jax.Array:
  """WGAN-GP (Gulrajani et al., 2017): (||grad D(x_hat)|| - 1)^2 at random
  interpolates x_hat of real and fake images, one mixing weight per example."""
  real, fake = inputs.real, inputs.fake
  mix = jax.random.uniform(inputs.key, (real.shape[0],) + (1,) * (real.ndim - 1),
                           real.dtype)
  between = real + mix * (fake - real)
  norms = jnp.sqrt(_squared_gradient_norms(inputs, between) + 1e-12)
  return jnp.mean(jnp.square(norms - 1.0))


def make_regularizers(*, l1_weight: float = 0.0, r1_weight: float = 0.0,
                      r1_every: int = 1, r2_weight: float = 0.0, r2_every: int = 1,
                      gp_weight: float = 0.0
                      ) -> tuple[tuple[Regularizer, ...], tuple[Regularizer, ...]]:
  """The discriminator's and the generator's regularisers; zero weights are off.

  Args:
    l1_weight: weight of :func:`reconstruction_l1` in the generator's loss.
    r1_weight, r1_every: weight and interval of :func:`r1_penalty` (lazy when
      the interval is above 1).
    r2_weight, r2_every: the same for :func:`r2_penalty`.
    gp_weight: weight of :func:`gradient_penalty` (10 in the WGAN-GP paper).

  Raises:
    ValueError: a negative weight or an interval below 1.
  """
  for name, value in (("l1_weight", l1_weight), ("r1_weight", r1_weight),
                      ("r2_weight", r2_weight), ("gp_weight", gp_weight)):
    if not value >= 0:
      raise ValueError(f"loss.{name} must be >= 0, not {value!r}")
  for name, value in (("r1_every", r1_every), ("r2_every", r2_every)):
    if not isinstance(value, int) or value < 1:
      raise ValueError(f"loss.{name} must be an integer >= 1, not {value!r}")
  d_terms = (Regularizer("r1", r1_weight, r1_penalty, r1_every),
             Regularizer("r2", r2_weight, r2_penalty, r2_every),
             Regularizer("gp", gp_weight, gradient_penalty))
  g_terms = (Regularizer("l1", l1_weight, reconstruction_l1),)
  return (tuple(r for r in d_terms if r.weight),
          tuple(r for r in g_terms if r.weight))


def apply(regularizers: tuple[Regularizer, ...], inputs: PhaseInputs,
          step: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
  """The weighted sum of ``regularizers`` at ``step`` and each term's value.

  A lazy term (``every > 1``) reports ``every`` times its value on its steps
  and 0 on the others, so its mean over a logging window estimates the term.
  """
  total, values = jnp.zeros(()), {}
  for regularizer in regularizers:
    own = dataclasses.replace(inputs, key=streams.stream(inputs.key, regularizer.name))
    if regularizer.every == 1:
      value = regularizer.term(own)
    else:
      value = regularizer.every * jax.lax.cond(
          step % regularizer.every == 0,
          lambda: regularizer.term(own).astype(jnp.float32),
          lambda: jnp.zeros((), jnp.float32))
    total = total + regularizer.weight * value
    values[regularizer.name] = value
  return total, values
