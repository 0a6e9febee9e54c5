"""Generating images from a generator state: fixed inputs and the eval-mode pass."""

import dataclasses
import math
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from ganjax.data.pipeline import to_pixel_range
from ganjax.gan.state import GeneratorState
from ganjax.models import Condition, GanModel
from ganjax.utils.errors import UserError

# Separates the sample-grid noise stream from training's use of the run seed.
_SAMPLE_STREAM = 0x5A3B1E


def _grid_key(seed: int) -> jax.Array:
  return jax.random.fold_in(jax.random.PRNGKey(seed), _SAMPLE_STREAM)


def fixed_noise(model: GanModel, seed: int, num: int) -> Optional[jax.Array]:
  """Noise that depends only on ``seed``, so grids are comparable across steps."""
  if not model.noise_dim:
    return None
  return model.sample_noise(_grid_key(seed), num)


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
  """The fixed inputs of a run's sample grids (they depend only on ``seed``).

  * Unconditional: ``num`` noise vectors, a square grid.
  * Class-conditional: one row per class, ``max(1, num // num_classes)`` columns;
    column ``j`` uses the same noise in every row, so a column shows one "style"
    across the classes.
  * Image-to-image: ``max(1, num // 3)`` fixed inputs drawn (by ``seed``) from the
    examples, shown as input | output | target triplets.

  Raises:
    UserError: the model's condition is not in the data (no labels, no inputs).
  """
  check_condition_in_data(model, examples)
  if model.condition == Condition.LABEL:
    return class_rows(model, _grid_key(seed), num_classes, max(1, num // num_classes))
  if model.condition == Condition.IMAGE:
    return _translation_grid(model, seed, max(1, num // 3), examples)
  return GridInputs(fixed_noise(model, seed, num), None)


def check_condition_in_data(model: GanModel, examples: dict[str, np.ndarray]) -> None:
  """Raises UserError unless the examples hold what the model is conditioned on."""
  needed = {Condition.LABEL: ("label", "labelled data"),
            Condition.IMAGE: ("input", "paired data (config.data.pairs or config.data."
                                       "paired_dir)")}.get(model.condition)
  if needed and needed[0] not in examples:
    raise UserError(f"this model is conditioned on {model.condition}s but the data has "
                    f"no {needed[0]!r}: it needs {needed[1]}")


def class_rows(model: GanModel, key: jax.Array, num_classes: int, per_class: int
               ) -> GridInputs:
  """Inputs for ``per_class`` images of every class: one row per class.

  The labels run class by class (``per_class`` of class 0, then of class 1...),
  and column ``j`` uses the same noise in every row, so a column shows one
  "style" across the classes and only the label changes down it. The noise is
  the first ``per_class`` rows of ``model.sample_noise(key, ...)``.
  """
  noise = model.sample_noise(key, per_class) if model.noise_dim else None
  if noise is not None:
    noise = jnp.tile(noise, (num_classes, 1))
  labels = jnp.repeat(jnp.arange(num_classes, dtype=jnp.int32), per_class)
  return GridInputs(noise, labels, columns=per_class)


def _translation_grid(model: GanModel, seed: int, pairs: int,
                      examples: dict[str, np.ndarray]) -> GridInputs:
  rng = np.random.default_rng((seed, _SAMPLE_STREAM))
  count = len(examples["input"])
  rows = np.sort(rng.choice(count, size=min(pairs, count), replace=False))
  inputs = to_pixel_range(examples["input"][rows], model.pixel_range)
  targets = to_pixel_range(examples["image"][rows], model.pixel_range)
  per_row = max(1, round(math.sqrt(len(rows) / 3)))
  return GridInputs(
      None, jnp.asarray(inputs), columns=3 * per_row,
      arrange=lambda outputs: triplets(inputs, np.asarray(outputs), targets))


def as_channels(images: np.ndarray, channels: int) -> np.ndarray:
  """Repeats a single channel to ``channels`` (gray shown beside colour)."""
  if images.shape[-1] == channels:
    return images
  if images.shape[-1] != 1:
    raise ValueError(f"cannot show {images.shape[-1]}-channel images as {channels}")
  return np.repeat(images, channels, axis=-1)


def triplets(inputs: np.ndarray, outputs: np.ndarray, targets: np.ndarray
             ) -> np.ndarray:
  """Interleaves (input, output, target) per example: (3N, H, W, C) for a grid.

  Images with one channel are repeated to the others' channel count.
  """
  channels = max(inputs.shape[-1], outputs.shape[-1], targets.shape[-1])
  parts = [as_channels(np.asarray(x, np.float32), channels)
           for x in (inputs, outputs, targets)]
  return np.stack(parts, axis=1).reshape((-1,) + parts[0].shape[1:])


def generate(g_state: GeneratorState, noise: Optional[jax.Array],
             condition: Optional[jax.Array]) -> jax.Array:
  """The generator in inference mode (BatchNorm running averages, no dropout)."""
  return g_state.apply_fn(g_state.inference_variables(), noise, condition, train=False)


generate_jit = jax.jit(generate)


def generate_in_batches(g_state: GeneratorState, noise: Optional[jax.Array],
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
