"""Generating images from a generator state: fixed inputs and the eval-mode pass."""

import dataclasses
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from ganjax.models import GanModel
from ganjax.train_step import TrainState

# Separates the sample-grid noise stream from training's use of the run seed.
_SAMPLE_STREAM = 0x5A3B1E


def fixed_noise(model: GanModel, seed: int, num: int) -> Optional[jax.Array]:
  """Noise that depends only on ``seed``, so grids are comparable across steps."""
  if not model.noise_dim:
    return None
  return model.sample_noise(jax.random.fold_in(jax.random.PRNGKey(seed), _SAMPLE_STREAM),
                            num)


@dataclasses.dataclass
class GridInputs:
  """Fixed generator inputs for the sample grids written during training.

  Attributes:
    noise: (N, noise_dim) or None.
    condition: what the generator is conditioned on, or None.
    columns: images per row of the grid (None: square).
    arrange: maps generated images (N, H, W, C) to the images to show, e.g. to
      put each conditioning input beside its output.
  """
  noise: Optional[jax.Array]
  condition: Optional[jax.Array]
  columns: Optional[int] = None
  arrange: Callable[[np.ndarray], np.ndarray] = lambda images: images


def grid_inputs(model: GanModel, seed: int, num: int, num_classes: Optional[int],
                examples: dict[str, np.ndarray]) -> GridInputs:
  """The fixed inputs of a run's sample grids (they depend only on ``seed``)."""
  del num_classes, examples  # Used by conditional models.
  return GridInputs(fixed_noise(model, seed, num), None)


def generate(g_state: TrainState, noise: Optional[jax.Array],
             condition: Optional[jax.Array]) -> jax.Array:
  """The generator in inference mode (BatchNorm running averages, no dropout)."""
  return g_state.apply_fn(g_state.variables(), noise, condition, train=False)


generate_jit = jax.jit(generate)


def generate_in_batches(g_state: TrainState, noise: Optional[jax.Array],
                        condition: Optional[jax.Array], batch_size: int = 256
                        ) -> np.ndarray:
  """Like :func:`generate` for many samples, in fixed-size chunks (one compile)."""
  total = (noise if noise is not None else condition).shape[0]
  chunks = []
  for start in range(0, total, batch_size):
    part = lambda x: None if x is None else _pad_rows(x[start:start + batch_size],
                                                      batch_size)
    images = generate_jit(g_state, part(noise), part(condition))
    chunks.append(np.asarray(images)[:min(batch_size, total - start)])
  return np.concatenate(chunks)


def _pad_rows(x: jax.Array, rows: int) -> jax.Array:
  missing = rows - x.shape[0]
  return x if missing == 0 else jnp.concatenate(
      [x, jnp.zeros((missing,) + x.shape[1:], x.dtype)])
