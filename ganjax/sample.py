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


def _command() -> int:
  from ganjax.run import samples
  return samples.write(_WORKDIR.value, _OUT.value, _NUM.value, _LABEL.value, _SEED.value,
                       _COLUMNS.value, _SCALE.value)


def run() -> None:
  cli.run_app(_command)


if __name__ == "__main__":
  run()
