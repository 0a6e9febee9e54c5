"""Sample grids, latent walks and animations from a trained run (the ``ganjax.sample``
command's work).

An unconditional run gets ``num`` images in a square grid; a class-conditional
run gets ``num`` images of one class (``label``) or one row per class, with the
same noise down each column so that only the class changes down a column.

A :class:`Walk` interpolates between random latents instead: a PNG strip has one
row per walk, from one latent to the next; a GIF animation loops through
keyframes, each frame a grid with one image per walk. Without a label, a
class-conditional run shows every walk once per class (one row per class, as the
grid does). ``truncation`` pulls every latent towards the mean latent.
"""

import dataclasses
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from ganjax.gan import sampling
from ganjax.models import Condition
from ganjax.run import trained
from ganjax.utils import images, paths
from ganjax.utils.errors import UserError

#: Images in a grid when ``num`` is not given.
DEFAULT_NUM = 64
#: Images per class in a one-row-per-class grid when ``num`` is not given.
DEFAULT_PER_CLASS = 8
#: Walks when ``num`` is not given (a class-conditional strip without a label: 1,
#: shown once per class).
DEFAULT_WALKS = 4
#: Keyframes an animated walk loops through when not given.
DEFAULT_KEYFRAMES = 4
#: Display time of an animation frame when not given.
DEFAULT_FRAME_MS = 100
#: The files ``--out`` may name: the suffix chooses the format.
FORMATS = (".png", ".gif")


@dataclasses.dataclass(frozen=True)
class Walk:
  """A latent interpolation.

  Attributes:
    steps: images per walk in a PNG strip (from one latent to the next, both
      included); frames from one keyframe to the next in a GIF.
    keyframes: latents a GIF loops through (None: :data:`DEFAULT_KEYFRAMES`).
    frame_ms: display time of a GIF frame (None: :data:`DEFAULT_FRAME_MS`).
  """
  steps: int
  keyframes: Optional[int] = None
  frame_ms: Optional[int] = None


@dataclasses.dataclass
class Sheet:
  """What the command generates: ``frames`` grids of the same layout, frame by frame.

  Attributes:
    inputs: generator inputs of every image, the first frame's first.
    frames: 1 for a PNG, the frames of a GIF.
    description: what was made, for the closing line (e.g. "4 walks of 8 samples";
      empty: as many samples as were generated).
  """
  inputs: sampling.GridInputs
  frames: int
  description: str


def check_run(run: trained.TrainedRun, workdir: str, label: Optional[str | int],
              noise_flags: list[str]) -> Optional[int]:
  """Checks the run can make what was asked; returns the class index of ``label``.

  Raises UserError for a run this command cannot sample (an image translator),
  a generator without noise for the flags in ``noise_flags`` (e.g.
  ``["--truncation 0.5"]``) to act on, ``label`` for a run that is not
  class-conditional, or a label that is neither one of the run's class names
  nor an index in range. ``workdir`` as the user named it.
  """
  named, plural = " and ".join(noise_flags), len(noise_flags) > 1
  if run.model.condition == Condition.IMAGE:
    needs = (f" ({named} {'act' if plural else 'acts'} on noise, and it has none)"
             if noise_flags else "")
    raise UserError(f"the run in {workdir} translates images{needs}; use python -m "
                    "ganjax.translate --workdir ... --input IN.png --out OUT.png")
  if noise_flags and not run.model.noise_dim:
    raise UserError(f"{named} {'need' if plural else 'needs'} a generator with noise; "
                    f"the generator of the run in {workdir} has none")
  if label is None:
    return None
  if run.model.condition != Condition.LABEL:
    raise UserError(f"--label needs a class-conditional run; the run in {workdir} is "
                    "unconditional")
  return class_index(run.class_names, run.num_classes, label, workdir)


def class_index(names: Optional[tuple[str, ...]], num_classes: int,
                label: str | int, workdir: str) -> int:
  """The class ``label`` names: one of ``names`` (the run's class names, if it
  has them), else an index from 0 to ``num_classes - 1``.

  A name comes first: with class folders named "0" to "10", ``--label 2`` is the
  folder "2" (index 3 in sorted order).

  Raises:
    UserError: ``label`` is neither.
  """
  text = str(label).strip()
  if names is not None and text in names:
    return names.index(text)
  try:
    index = int(text)
  except ValueError:
    if names is None:
      raise UserError(f"--label {text!r} is not a class index: the run in {workdir} "
                      f"has {num_classes} classes (0 to {num_classes - 1}) and no "
                      "class names") from None
    raise UserError(f"--label {text!r} is not a class of the run in {workdir}; its "
                    f"classes are {_listed(names)} (or their indexes 0 to "
                    f"{num_classes - 1})") from None
  if not 0 <= index < num_classes:
    raise UserError(f"--label {index} is out of range: the run in {workdir} has "
                    f"{num_classes} classes (0 to {num_classes - 1})")
  return index


#: Class names listed in an error before the rest are counted.
_LISTED_NAMES = 20


def _listed(names: tuple[str, ...]) -> str:
  shown = ", ".join(names[:_LISTED_NAMES])
  more = len(names) - _LISTED_NAMES
  return shown + (f" and {more} more" if more > 0 else "")


def class_description(run: trained.TrainedRun, index: int) -> str:
  """How the closing line names class ``index``: its name, else its index."""
  names = run.class_names
  return str(index) if names is None else f"{names[index]} ({index})"


def _check_grid_size(run: trained.TrainedRun, total: int, columns: Optional[int],
                     what: str, scale: int, frames: int = 1) -> None:
  shape = images.grid_shape(total, run.image_shape, columns, scale=scale)
  images.check_size(shape, f"{what} at --scale {scale}", frames)


def grid_inputs(run: trained.TrainedRun, seed: int, num: Optional[int],
                label: Optional[int], columns: Optional[int], scale: int
                ) -> sampling.GridInputs:
  """The generator inputs of the grid the command writes (noise from ``seed``).

  Args:
    run: the restored run.
    seed: the noise seed.
    num: images (or, one row per class, images per class); None: the default.
    label: the class to generate, or None.
    columns: images per row, or None (square; per-class grids: one row per class).
    scale: pixel enlargement factor (for the size check).

  The run is one this command can sample, the label valid (see :func:`check_run`).

  Raises:
    UserError: a grid too large to write (checked before any noise is drawn).
  """
  key = jax.random.PRNGKey(seed)
  if run.model.condition == Condition.LABEL and label is None:
    per_class = num or DEFAULT_PER_CLASS
    _check_grid_size(run, run.num_classes * per_class, columns or per_class,
                     f"--num {per_class}", scale)
    rows = sampling.class_rows(run.model, key, run.num_classes, per_class)
    return sampling.GridInputs(rows.noise, rows.condition, columns or rows.columns)
  total = num or DEFAULT_NUM
  _check_grid_size(run, total, columns, f"--num {total}", scale)
  return sampling.GridInputs(run.model.sample_noise(key, total),
                             _labels(label, total), columns)


def _labels(label: Optional[int], total: int) -> Optional[np.ndarray]:
  return None if label is None else np.full(total, label, np.int32)


def walk_sheet(run: trained.TrainedRun, seed: int, num: Optional[int],
               label: Optional[int], walk: Walk, animated: bool,
               columns: Optional[int], scale: int) -> Sheet:
  """The inputs of a latent-walk strip (PNG) or animation (GIF), keyframes from ``seed``.

  * Strip: ``num`` walks (default :data:`DEFAULT_WALKS`), one row of
    ``walk.steps`` images each, from one random latent to the next.
  * Animation: ``num`` walks, each a loop through ``walk.keyframes`` random
    latents with ``walk.steps`` frames from one to the next; frame ``f`` is a
    grid of the walks' ``f``-th images (``columns`` per row, default square).
  * A class-conditional run without ``label`` shows each walk once per class,
    one row per class, so only the class changes down a column (a strip's
    default is then one walk).

  Normal noise is slerped, uniform noise interpolated linearly
  (:func:`sampling.latent_walks`). The run is one that takes noise, the label
  valid (see :func:`check_run`).

  Raises:
    UserError: the strip or animation would be too large (checked before any
      latent is drawn).
  """
  model = run.model
  per_class = label is None and model.condition == Condition.LABEL
  classes = run.num_classes if per_class else 1
  walks = num or (1 if per_class and not animated else DEFAULT_WALKS)
  named = f"{walks} walk{'s' * (walks > 1)}"
  what = f"--interpolate {walk.steps} with {named}"
  key = jax.random.PRNGKey(seed)
  if animated:
    keyframes = walk.keyframes or DEFAULT_KEYFRAMES
    frames = keyframes * walk.steps
    columns = columns or (walks if per_class else None)
    _check_grid_size(run, walks * classes, columns, f"{what} and {keyframes} keyframes",
                     scale, frames)
    # (walks, frames, noise_dim) -> frame by frame, the walks within a frame.
    latents = jnp.swapaxes(sampling.latent_walks(model, key, walks, keyframes,
                                                 walk.steps, loop=True), 0, 1)
  else:
    frames, columns = 1, walk.steps
    _check_grid_size(run, walks * classes * walk.steps, columns, what, scale)
    latents = sampling.latent_walks(model, key, walks, 2, walk.steps - 1, loop=False)
  if per_class:
    rows = sampling.rows_per_class(latents, classes, latents.shape[1])
    inputs = sampling.GridInputs(rows.noise, rows.condition, columns)
  else:
    noise = latents.reshape(-1, model.noise_dim)
    inputs = sampling.GridInputs(noise, _labels(label, len(noise)), columns)
  made = (f"a {frames}-frame animation of {named}" if animated
          else f"{named} of {walk.steps} samples")
  return Sheet(inputs, frames, made)


def _check_walk_flags(walk: Optional[Walk], keyframes: Optional[int],
                      frame_ms: Optional[int], animated: bool, out: str,
                      columns: Optional[int]) -> None:
  given = [flag for flag, value in (("--keyframes", keyframes), ("--frame_ms", frame_ms))
           if value is not None]
  if given and walk is None:
    raise UserError(f"{' and '.join(given)} shape a walk: give --interpolate N too")
  if given and not animated:
    raise UserError(f"{' and '.join(given)} only apply to animations: name a .gif "
                    f"--out (not {out}) or leave {' and '.join(given)} out")
  if animated and walk is None:
    raise UserError(f"--out {out} is an animation: give --interpolate N (frames from "
                    "one keyframe to the next), or write a .png grid")
  if walk is not None and not animated and columns is not None:
    raise UserError("--columns does not apply to an --interpolate strip (one walk "
                    "per row, --interpolate images per row)")


def write(workdir: str, out: str, num: Optional[int], label: Optional[str | int], seed: int,
          columns: Optional[int], scale: int, truncation: float = 1.0,
          interpolate: Optional[int] = None, keyframes: Optional[int] = None,
          frame_ms: Optional[int] = None, raw_weights: bool = False) -> int:
  """Generates a grid (or with ``walk`` a latent walk) with noise from ``seed``
  and writes it to ``out``: a PNG, or for a ``.gif`` an animated walk.

  Everything a mistake can break is checked before the run is restored: the
  workdir holds a run, ``out`` can be written (and is not a file of the run),
  its suffix names a format and the flags fit it.

  Args:
    workdir: the run's workdir.
    out: the file to write (.png or .gif).
    num: images (grid), images per class (one row per class) or walks; None: the
      default of each.
    label: the class to generate (a class name of the run, or an index), or None.
    seed: the noise seed.
    columns: images per row of a grid or an animation frame.
    scale: pixel enlargement factor.
    truncation: psi in (0, 1]: every latent ``z`` becomes ``mean + psi (z - mean)``.
    interpolate: walk between random latents instead of sampling them
      independently (required for a .gif): :attr:`Walk.steps`.
    keyframes, frame_ms: of an animated walk (None: the defaults); see :class:`Walk`.
    raw_weights: generate with the trained weights, not their moving average.

  Returns:
    The command's exit code (0).
  """
  run_dir = paths.check_run_dir(workdir)
  out_path = paths.check_output_file(out, "--out", formats=FORMATS)
  animated = out_path.suffix.lower() == ".gif"
  walk = None if interpolate is None else Walk(interpolate, keyframes, frame_ms)
  _check_walk_flags(walk, keyframes, frame_ms, animated, out, columns)
  run = trained.load_trained(str(run_dir), raw_weights)
  noise_flags = ([f"--truncation {truncation}"] if truncation != 1.0 else []) + (
      [f"--interpolate {walk.steps}"] if walk else [])
  label = check_run(run, workdir, label, noise_flags)
  if walk is None:
    sheet = Sheet(grid_inputs(run, seed, num, label, columns, scale), 1, "")
  else:
    sheet = walk_sheet(run, seed, num, label, walk, animated, columns, scale)
  inputs = sheet.inputs
  noise = inputs.noise
  if truncation != 1.0:
    noise = sampling.truncate(noise, truncation, sampling.noise_mean(run.model))
  fake = sampling.generate_in_batches(run.g_state, noise, inputs.condition)
  if animated:
    images.save_grid_animation(out_path, fake.reshape((sheet.frames, -1) + fake.shape[1:]),
                               run.model.pixel_range, columns=inputs.columns,
                               scale=scale, duration_ms=walk.frame_ms or DEFAULT_FRAME_MS)
  else:
    images.save_grid(out_path, fake, run.model.pixel_range, columns=inputs.columns,
                     scale=scale)
  what = (f" of class {class_description(run, label)}" if label is not None
          else " (one row per class)" if inputs.condition is not None else "")
  truncated = f", truncation {truncation}" if truncation != 1.0 else ""
  made = sheet.description or f"{len(fake)} samples"
  print(f"Wrote {made}{what} from step {run.step}{truncated} to {out}")
  return 0
