"""From host arrays to model batches: deterministic order, on-device gathering.

The order of examples is a pure function of (seed, step): epoch ``e`` visits the
examples in the permutation drawn from ``(seed, e)``, and step ``s`` takes the
``s``-th slice of ``batch_size`` of that sequence (a partial last batch of an
epoch is skipped). A resumed run therefore sees exactly the batches an
uninterrupted run would, with nothing to save.

A dataset that fits (``data.device_budget_mb``) stays on the devices as uint8;
each step sends only the batch's indices, and the jitted step gathers and
normalises (see :func:`gather_rows`), so the input pipeline never makes the step
wait. A larger dataset stays in host memory: each process gathers its rows of
the batch there (:func:`take_rows`) and sends them as uint8, while the device is
still busy with the previous step (JAX dispatches asynchronously); the step only
normalises (:func:`to_model_batch`). Both paths give bit-identical batches.
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


def step_indices(seed: int, step: int, batch_size: int, num_examples: int,
                 batches_per_step: int = 1) -> np.ndarray:
  """Indices of everything training ``step`` consumes: ``batches_per_step``
  consecutive batches of :func:`batch_indices` (several discriminator phases per
  step read batches ``step * batches_per_step + i``), one after the other."""
  first = step * batches_per_step
  return np.concatenate([batch_indices(seed, first + i, batch_size, num_examples)
                         for i in range(batches_per_step)])


def to_pixel_range(images: np.ndarray | jax.Array, pixel_range: tuple[float, float]
                   ) -> np.ndarray | jax.Array:
  """uint8 [0, 255] -> float32 in ``pixel_range`` (the generator's output range).

  The one conversion for training batches, sample grids and commands, so the
  generator always sees inputs scaled the same way. A NumPy array stays a NumPy
  array on the host; a JAX array (also a traced one, inside the step) stays on
  its devices.
  """
  low, high = pixel_range
  return images.astype(np.float32) * ((high - low) / 255.0) + low


def dataset_megabytes(examples: Mapping[str, np.ndarray]) -> float:
  """Size of ``examples`` as held on one device (every array, every row)."""
  return sum(np.asarray(v).nbytes for v in examples.values()) / 2**20


def take_rows(examples: Mapping[str, np.ndarray], indices: np.ndarray
              ) -> dict[str, np.ndarray]:
  """Rows ``indices`` of every host array of ``examples`` (still uint8 images)."""
  return {name: np.take(values, indices, axis=0) for name, values in examples.items()}


def to_model_batch(rows: Mapping[str, jax.Array], pixel_range: tuple[float, float]
                   ) -> dict[str, jax.Array]:
  """uint8 images (``image``, ``input``) to ``pixel_range``; labels unchanged."""
  return {name: to_pixel_range(values, pixel_range) if values.dtype == jnp.uint8
          else values for name, values in rows.items()}


def gather_rows(examples: Mapping[str, jax.Array], indices: jax.Array
                ) -> dict[str, jax.Array]:
  """Rows ``indices`` of every array of ``examples``, inside the jitted step."""
  return {name: jnp.take(values, indices, axis=0) for name, values in examples.items()}
