"""From host arrays to model batches: deterministic order, on-device gathering.

The order of examples is a pure function of (seed, step): epoch ``e`` visits the
examples in the permutation drawn from ``(seed, e)``, and step ``s`` takes the
``s``-th slice of ``batch_size`` of that sequence (a partial last batch of an
epoch is skipped). A resumed run therefore sees exactly the batches an
uninterrupted run would, with nothing to save.

A dataset that fits stays on the devices as uint8; each step sends only the
batch's indices, and the jitted step gathers and normalises (see
:func:`gather_batch`), so the input pipeline never makes the step wait.
"""

import functools
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np

# Separates the data-order stream from other uses of the run seed.
_ORDER_STREAM = 0x0DA7A


@functools.lru_cache(maxsize=4)
def epoch_permutation(seed: int, epoch: int, num_examples: int) -> np.ndarray:
  """The order in which epoch ``epoch`` visits the examples."""
  rng = np.random.default_rng((seed, _ORDER_STREAM, epoch))
  return rng.permutation(num_examples).astype(np.int32)


def batch_indices(seed: int, step: int, batch_size: int, num_examples: int) -> np.ndarray:
  """Indices of the examples of the global batch used at ``step`` (0-based).

  Raises:
    ValueError: the dataset is smaller than one batch.
  """
  steps_per_epoch = num_examples // batch_size
  if steps_per_epoch == 0:
    raise ValueError(f"the dataset has {num_examples} examples, fewer than one batch "
                     f"of {batch_size}")
  epoch, position = divmod(step, steps_per_epoch)
  start = position * batch_size
  return epoch_permutation(seed, epoch, num_examples)[start:start + batch_size]


def to_pixel_range(images: jax.Array, pixel_range: tuple[float, float]) -> jax.Array:
  """uint8 [0, 255] -> float32 in ``pixel_range`` (the generator's output range)."""
  low, high = pixel_range
  return images.astype(jnp.float32) * ((high - low) / 255.0) + low


def gather_batch(examples: Mapping[str, jax.Array], indices: jax.Array,
                 pixel_range: tuple[float, float]) -> dict[str, jax.Array]:
  """Rows ``indices`` of every array of ``examples``, images normalised.

  ``examples`` holds uint8 images under ``image`` (and ``input`` for paired data)
  and integer ``label``s; runs inside the jitted step.
  """
  batch = {}
  for name, values in examples.items():
    rows = jnp.take(values, indices, axis=0)
    batch[name] = to_pixel_range(rows, pixel_range) if values.dtype == jnp.uint8 else rows
  return batch
