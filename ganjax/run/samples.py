"""Sample grids from a trained run (the ``ganjax.sample`` command's work).

An unconditional run gets ``num`` images in a square grid; a class-conditional
run gets ``num`` images of one class (``label``) or one row per class, with the
same noise down each column so that only the class changes down a column.
"""

from typing import Optional

import jax
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


def _check_grid_size(run: trained.TrainedRun, total: int, columns: Optional[int],
                     num: Optional[int], scale: int) -> None:
  shape = images.grid_shape(total, run.image_shape, columns, scale=scale)
  images.check_size(shape, f"--num {num or total} at --scale {scale}")


def grid_inputs(run: trained.TrainedRun, workdir: str, seed: int, num: Optional[int],
                label: Optional[int], columns: Optional[int], scale: int
                ) -> sampling.GridInputs:
  """The generator inputs of the grid the command writes (noise from ``seed``).

  Args:
    run: the restored run.
    workdir: the workdir as the user named it (for messages).
    seed: the noise seed.
    num: images (or, one row per class, images per class); None: the default.
    label: the class to generate, or None.
    columns: images per row, or None (square; per-class grids: one row per class).
    scale: pixel enlargement factor (for the size check).

  Raises:
    UserError: ``label`` for a run that is not class-conditional, a label out of
      range, a run this command cannot sample (an image translator), or a grid
      too large to write (checked before anything is generated).
  """
  key = jax.random.PRNGKey(seed)
  condition = run.model.condition
  if condition == Condition.IMAGE:
    raise UserError(f"the run in {workdir} translates images; use python -m "
                    "ganjax.translate --workdir ... --input IN.png --out OUT.png")
  if condition != Condition.LABEL:
    if label is not None:
      raise UserError(f"--label needs a class-conditional run; the run in {workdir} is "
                      "unconditional")
    total = num or DEFAULT_NUM
    _check_grid_size(run, total, columns, num, scale)
    return sampling.GridInputs(run.model.sample_noise(key, total), None, columns)
  num_classes = run.num_classes
  if label is None:
    per_class = num or DEFAULT_PER_CLASS
    _check_grid_size(run, num_classes * per_class, columns or per_class, num, scale)
    rows = sampling.class_rows(run.model, key, num_classes, per_class)
    return sampling.GridInputs(rows.noise, rows.condition, columns or rows.columns)
  if not 0 <= label < num_classes:
    raise UserError(f"--label {label} is out of range: the run in {workdir} has "
                    f"{num_classes} classes (0 to {num_classes - 1})")
  total = num or DEFAULT_NUM
  _check_grid_size(run, total, columns, num, scale)
  return sampling.GridInputs(run.model.sample_noise(key, total),
                             np.full(total, label, np.int32), columns)


def write(workdir: str, out: str, num: Optional[int], label: Optional[int], seed: int,
          columns: Optional[int], scale: int) -> int:
  """Generates a grid with noise from ``seed`` and writes it to ``out`` as a PNG.

  Everything a mistake can break is checked before the run is restored: the
  workdir holds a run, ``out`` can be written (and is not a file of the run).

  Returns:
    The command's exit code (0).
  """
  run_dir = paths.check_run_dir(workdir)
  out_path = paths.check_output_file(out, "--out", png=True)
  run = trained.load_trained(str(run_dir))
  grid = grid_inputs(run, workdir, seed, num, label, columns, scale)
  fake = sampling.generate_in_batches(run.g_state, grid.noise, grid.condition)
  images.save_grid(out_path, fake, run.model.pixel_range, columns=grid.columns,
                   scale=scale)
  per_class_grid = label is None and grid.condition is not None
  what = (f" of class {label}" if label is not None
          else " (one row per class)" if per_class_grid else "")
  print(f"Wrote {len(fake)} samples{what} from step {run.step} to {out}")
  return 0
