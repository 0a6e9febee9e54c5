"""Adversarial losses on discriminator logits: pure functions of arrays.

An :class:`AdversarialLoss` is the discriminator's loss on the logits of real and
fake examples, the generator's loss on the logits of its fakes, and how to report
D's output as a score. Logits have shape (B,) or (B, ...) (PatchGAN); losses are
scalars. The discriminator loss is the mean over real and fake examples together,
as Keras computes it on the concatenated batch the seed trains on. Terms that
need more than logits (gradient penalties, reconstruction) are regularisers
(:mod:`ganjax.gan.regularizers`).
"""

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp


class AdversarialLoss(NamedTuple):
  """One adversarial objective.

  Attributes:
    discriminator: ``(real_logits, fake_logits) -> scalar`` to minimise over D.
    generator: ``fake_logits -> scalar`` to minimise over G.
    score: what D's logits mean, for the ``d_real``/``d_fake`` metrics: the
      probability "real" for the cross-entropy loss, the raw output for losses
      without a probabilistic reading.
  """
  discriminator: Callable[[jax.Array, jax.Array], jax.Array]
  generator: Callable[[jax.Array], jax.Array]
  score: Callable[[jax.Array], jax.Array] = lambda logits: logits


def _bce_discriminator(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  # softplus(-x) = -log sigmoid(x): labels real = 1, fake = 0, stable for any logit.
  return 0.5 * (jnp.mean(jax.nn.softplus(-real_logits))
                + jnp.mean(jax.nn.softplus(fake_logits)))


def _non_saturating_generator(fake_logits: jax.Array) -> jax.Array:
  # Maximise log D(G(z)) rather than minimise log(1 - D(G(z))): strong early gradients.
  return jnp.mean(jax.nn.softplus(-fake_logits))


def _hinge_discriminator(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  return 0.5 * (jnp.mean(jax.nn.relu(1.0 - real_logits))
                + jnp.mean(jax.nn.relu(1.0 + fake_logits)))


def _hinge_generator(fake_logits: jax.Array) -> jax.Array:
  return -jnp.mean(fake_logits)


def _least_squares_discriminator(real_logits: jax.Array,
                                 fake_logits: jax.Array) -> jax.Array:
  return 0.5 * (jnp.mean((real_logits - 1.0)**2) + jnp.mean(fake_logits**2))


def _least_squares_generator(fake_logits: jax.Array) -> jax.Array:
  return jnp.mean((fake_logits - 1.0)**2)


def _wasserstein_discriminator(real_logits: jax.Array,
                               fake_logits: jax.Array) -> jax.Array:
  # The critic's estimate of the Wasserstein-1 distance, negated; it needs a
  # Lipschitz constraint (loss.gp_weight, or spectral norm) to mean anything.
  return jnp.mean(fake_logits) - jnp.mean(real_logits)


def _wasserstein_generator(fake_logits: jax.Array) -> jax.Array:
  return -jnp.mean(fake_logits)


ADVERSARIAL_LOSSES: dict[str, AdversarialLoss] = {
    "non_saturating": AdversarialLoss(_bce_discriminator, _non_saturating_generator,
                                      jax.nn.sigmoid),
    "hinge": AdversarialLoss(_hinge_discriminator, _hinge_generator),
    "least_squares": AdversarialLoss(_least_squares_discriminator,
                                     _least_squares_generator),
    "wasserstein": AdversarialLoss(_wasserstein_discriminator, _wasserstein_generator),
}
