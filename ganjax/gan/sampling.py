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
  return rows_per_class(noise, num_classes, per_class)


def rows_per_class(noise: Optional[jax.Array], num_classes: int, per_class: int
                   ) -> GridInputs:
  """The same ``per_class`` latents in one row per class (the layout of :func:`class_rows`).

  Args:
    noise: (..., per_class, noise_dim) latents, or None (a generator without
      noise). Leading axes are groups laid out one after another, each group a
      block of one row per class: e.g. the frames of an animation, or the walks
      of a strip.
    num_classes: rows per group.
    per_class: latents per row (columns).

  Returns:
    Inputs of ``groups * num_classes * per_class`` images, group by group, then
    class by class; ``columns`` is ``per_class``.
  """
  groups = 1
  if noise is not None:
    groups = math.prod(noise.shape[:-2])
    noise = jnp.broadcast_to(noise[..., None, :, :],
                             noise.shape[:-2] + (num_classes,) + noise.shape[-2:])
    noise = noise.reshape(-1, noise.shape[-1])
  labels = jnp.tile(jnp.repeat(jnp.arange(num_classes, dtype=jnp.int32), per_class),
                    groups)
  return GridInputs(noise, labels, columns=per_class)


#: Per-coordinate mean of each noise distribution of ``GanModel.sample_noise``
#: (uniform in [-1, 1], standard normal).
NOISE_MEANS = {"uniform": 0.0, "normal": 0.0}


def noise_mean(model: GanModel) -> jax.Array:
  """The mean latent of the model's noise distribution, (noise_dim,).

  The point truncation pulls latents towards.
  """
  if model.noise_distribution not in NOISE_MEANS:
    raise ValueError(f"unknown noise distribution {model.noise_distribution!r}")
  return jnp.full((model.noise_dim,), NOISE_MEANS[model.noise_distribution])


def truncate(noise: jax.Array, psi: float, mean: jax.Array) -> jax.Array:
  """The truncation trick: ``mean + psi * (noise - mean)``.

  Latents near the mean make the generator's most typical images: ``psi < 1``
  trades variety for fidelity, ``psi = 1`` leaves the noise as it is.

  Args:
    noise: (..., noise_dim) latents.
    psi: in (0, 1].
    mean: the mean latent, broadcastable to ``noise`` (:func:`noise_mean`).

  Raises:
    ValueError: ``psi`` outside (0, 1].
  """
  if not 0.0 < psi <= 1.0:
    raise ValueError(f"truncation psi must be in (0, 1], not {psi}")
  return mean + psi * (noise - mean)


def interpolate_latents(start: jax.Array, end: jax.Array, num: int, spherical: bool
                        ) -> jax.Array:
  """``num`` latents from ``start`` to ``end`` (both included), evenly spaced.

  Linear interpolation keeps uniform latents inside the cube [-1, 1]^d (it is
  convex). For normal latents a straight line cuts through the middle of the
  distribution (the midpoint of two independent latents has about 1/sqrt(2) of
  their norm, where the generator never saw noise), so ``spherical`` moves the
  direction along the great circle at a constant angular speed and changes the
  norm linearly: every latent's norm lies between the endpoints'.

  Args:
    start, end: (..., noise_dim) latents of the same shape.
    num: latents per path, at least 2.
    spherical: slerp (normal noise) instead of a straight line (uniform noise).

  Returns:
    (..., num, noise_dim): ``[..., 0, :]`` is ``start``, ``[..., -1, :]`` is ``end``.
  """
  if num < 2:
    raise ValueError(f"an interpolation needs at least 2 latents, not {num}")
  t = jnp.linspace(0.0, 1.0, num)[:, None]
  start, end = start[..., None, :], end[..., None, :]
  if not spherical:
    return start + t * (end - start)
  tiny = jnp.finfo(jnp.result_type(start, jnp.float32)).tiny
  start_norm = jnp.linalg.norm(start, axis=-1, keepdims=True)
  end_norm = jnp.linalg.norm(end, axis=-1, keepdims=True)
  u0, u1 = start / jnp.maximum(start_norm, tiny), end / jnp.maximum(end_norm, tiny)
  omega = jnp.arccos(jnp.clip(jnp.sum(u0 * u1, axis=-1, keepdims=True), -1.0, 1.0))
  sin_omega = jnp.sin(omega)
  parallel = sin_omega < 1e-6  # Same direction (or opposite): the straight line.
  safe_sin = jnp.where(parallel, 1.0, sin_omega)
  w0 = jnp.where(parallel, 1.0 - t, jnp.sin((1.0 - t) * omega) / safe_sin)
  w1 = jnp.where(parallel, t, jnp.sin(t * omega) / safe_sin)
  direction = w0 * u0 + w1 * u1
  direction = direction / jnp.maximum(
      jnp.linalg.norm(direction, axis=-1, keepdims=True), tiny)
  return direction * ((1.0 - t) * start_norm + t * end_norm)


def keyframe_path(keyframes: jax.Array, steps: int, spherical: bool, loop: bool
                  ) -> jax.Array:
  """Latents along paths through keyframes, ``steps`` per segment.

  Each segment starts at its keyframe and stops one step short of the next; a
  ``loop`` returns from the last keyframe to the first (``K * steps`` latents,
  for an animation that repeats without a jump), otherwise the path ends on the
  last keyframe (``(K - 1) * steps + 1`` latents).

  Args:
    keyframes: (..., K, noise_dim), K >= 2.
    steps: latents per segment, at least 1.
    spherical: as in :func:`interpolate_latents`.
    loop: whether to return to the first keyframe.

  Returns:
    (..., latents, noise_dim).
  """
  starts = keyframes if loop else keyframes[..., :-1, :]
  ends = jnp.roll(keyframes, -1, axis=-2) if loop else keyframes[..., 1:, :]
  segments = interpolate_latents(starts, ends, steps + 1, spherical)[..., :-1, :]
  path = segments.reshape(segments.shape[:-3] + (-1, keyframes.shape[-1]))
  if not loop:
    path = jnp.concatenate([path, keyframes[..., -1:, :]], axis=-2)
  return path


def latent_walks(model: GanModel, key: jax.Array, walks: int, keyframes: int,
                 steps: int, loop: bool) -> jax.Array:
  """``walks`` random walks through ``keyframes`` latents drawn from ``key``.

  Slerp for normal noise, straight lines for uniform noise (see
  :func:`interpolate_latents`); the keyframes are
  ``model.sample_noise(key, walks * keyframes)``, walk by walk.

  Returns:
    (walks, latents, noise_dim), the latents as :func:`keyframe_path` lays them.
  """
  points = model.sample_noise(key, walks * keyframes).reshape(
      walks, keyframes, model.noise_dim)
  return keyframe_path(points, steps, model.noise_distribution == "normal", loop)


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
