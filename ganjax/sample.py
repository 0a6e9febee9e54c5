"""Write a grid of generated images from a run's newest checkpoint.

  python -m ganjax.sample --workdir runs/mnist --num 64 --out samples.png [--seed S]

Class-conditional runs:
  python -m ganjax.sample --workdir runs/mnist_cgan --label 7 --num 16 --out sevens.png
writes ``--num`` images of class 7; without ``--label`` it writes one row per class
with ``--num`` images per class (default 8 then, 64 otherwise).
"""

from absl import flags

from ganjax.run import cli
from ganjax.utils import paths

_WORKDIR = flags.DEFINE_string("workdir", None, "Workdir of a ganjax training run.")
_OUT = flags.DEFINE_string("out", None, "PNG file to write.")
_NUM = flags.DEFINE_integer(
    "num", None, "Number of images (default 64); for a class-conditional run without "
    "--label, images per class (default 8), one row per class.", lower_bound=1)
_LABEL = flags.DEFINE_integer("label", None, "Class to generate (class-conditional runs).")
_SEED = flags.DEFINE_integer("seed", 0, "Noise seed (same seed, same images).",
                             lower_bound=0, upper_bound=2**32 - 1)
_COLUMNS = flags.DEFINE_integer("columns", None, "Images per row (default: square; "
                                "per-class grids: one row per class).", lower_bound=1)
_SCALE = flags.DEFINE_integer("scale", 2, "Pixel enlargement factor.", lower_bound=1)
flags.mark_flags_as_required(["workdir", "out"])
paths.require_non_empty("workdir", "out")

DEFAULT_NUM = 64
DEFAULT_PER_CLASS = 8


def class_labels(meta: dict, model_condition: str, label, num, workdir: str,
                 columns=None, scale: int = 1):
  """(labels to generate or None, columns of a per-class grid or None, total).

  Raises:
    UserError: --label for a run that is not class-conditional, a label out of
      range, a run this command cannot sample (an image translator), or a grid
      too large to write (checked before anything is allocated).
  """
  import numpy as np

  from ganjax.utils import images
  from ganjax.utils.errors import UserError

  def check_size(total: int, grid_columns) -> None:
    shape = images.grid_shape(total, meta["batch_spec"]["image"]["shape"],
                              grid_columns, scale=scale)
    images.check_size(shape, f"--num {num or total} at --scale {scale}")

  if model_condition == "image":
    raise UserError(f"the run in {workdir} translates images; use python -m "
                    "ganjax.translate --workdir ... --input IN.png --out OUT.png")
  if model_condition != "label":
    if label is not None:
      raise UserError(f"--label needs a class-conditional run; the run in {workdir} is "
                      "unconditional")
    check_size(num or DEFAULT_NUM, columns)
    return None, None, num or DEFAULT_NUM
  num_classes = int(meta["num_classes"])
  if label is None:
    per_class = num or DEFAULT_PER_CLASS
    check_size(num_classes * per_class, columns or per_class)
    labels = np.repeat(np.arange(num_classes, dtype=np.int32), per_class)
    return labels, per_class, len(labels)
  if not 0 <= label < num_classes:
    raise UserError(f"--label {label} is out of range: the run in {workdir} has "
                    f"{num_classes} classes (0 to {num_classes - 1})")
  num = num or DEFAULT_NUM
  check_size(num, columns)
  return np.full(num, label, np.int32), None, num


def write_samples(workdir: str, out: str, num, label, seed: int, columns, scale) -> int:
  """Generates images with noise from ``seed`` and writes them to ``out``.

  Everything a mistake can break is checked before the run is restored: the
  workdir holds a run, ``out`` can be written (and is not a file of the run).
  """
  run_dir = paths.check_run_dir(workdir)
  out_path = paths.check_output_file(out, "--out", png=True)
  import jax

  from ganjax.utils import images
  from ganjax.run import trained as runs
  from ganjax.gan import sampling
  run = runs.load_trained(str(run_dir))
  labels, per_class_columns, total = class_labels(run.meta, run.model.condition, label,
                                                  num, workdir, columns, scale)
  noise = run.model.sample_noise(jax.random.PRNGKey(seed), total)
  if per_class_columns:  # Same noise down each column: style fixed, class varies.
    noise = jax.numpy.tile(noise[:per_class_columns], (total // per_class_columns, 1))
  fake = sampling.generate_in_batches(run.g_state, noise, labels)
  images.save_grid(out_path, fake, run.model.pixel_range,
                   columns=columns or per_class_columns, scale=scale)
  what = (f" of class {label}" if label is not None
          else " (one row per class)" if labels is not None else "")
  print(f"Wrote {total} samples{what} from step {run.step} to {out}")
  return 0


def _command() -> int:
  return write_samples(_WORKDIR.value, _OUT.value, _NUM.value, _LABEL.value,
                       _SEED.value, _COLUMNS.value, _SCALE.value)


def run() -> None:
  cli.run_app(_command)


if __name__ == "__main__":
  run()
