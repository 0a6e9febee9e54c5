"""Adversarial losses on discriminator logits: pure functions of arrays.

Each entry of :data:`ADVERSARIAL_LOSSES` is a pair ``(d_loss(real, fake),
g_loss(fake))`` taking logits of shape (B,) or (B, ...) (PatchGAN) and returning a
scalar. The discriminator loss is the mean over real and fake examples together,
as Keras computes it on the concatenated batch the seed trains on.
"""

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp


class AdversarialLoss(NamedTuple):
  discriminator: Callable[[jax.Array, jax.Array], jax.Array]
  generator: Callable[[jax.Array], jax.Array]


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


ADVERSARIAL_LOSSES = {
    "non_saturating": AdversarialLoss(_bce_discriminator, _non_saturating_generator),
    "hinge": AdversarialLoss(_hinge_discriminator, _hinge_generator),
    "least_squares": AdversarialLoss(_least_squares_discriminator,
                                     _least_squares_generator),
}


def l1(a: jax.Array, b: jax.Array) -> jax.Array:
  """Mean absolute difference: pix2pix's reconstruction term."""
  return jnp.mean(jnp.abs(a - b))
