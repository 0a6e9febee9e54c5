r"""Write (input, target) sheets of a paired-data config, e.g. held-out pairs.

  python -m ganjax.export_pairs --config experiments/pix2pix_edges_mnist.py \
      --config.data.idx_dir=../shared/data/mnist --config.data.split='test[9000:]' \
      --num 8 --columns 8 --input edges.png --target digits.png

writes the first ``--num`` inputs and targets of the data as two image sheets
(tiled without gaps, so a sheet's sides stay multiples of the image size). Give
them to ``python -m ganjax.translate --input edges.png --target digits.png``.
"""

from absl import flags
from ml_collections import config_flags

from ganjax.run import cli
from ganjax.utils import paths

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config with paired data (data.pairs or "
    "data.paired_dir); override values with --config.KEY=VALUE.", lock_config=True)
_INPUT = flags.DEFINE_string("input", None, "PNG file for the inputs.")
_TARGET = flags.DEFINE_string("target", None, "PNG file for the targets.")
_NUM = flags.DEFINE_integer("num", 8, "Number of pairs.", lower_bound=1)
_COLUMNS = flags.DEFINE_integer("columns", None, "Pairs per row (default: all in one "
                                "row).", lower_bound=1)
flags.mark_flags_as_required(["config", "input", "target"])
paths.require_non_empty("input", "target")


def _command() -> int:
  config = cli.config_value(_CONFIG)  # A broken config fails before the imports.
  from ganjax.run import pair_sheets
  return pair_sheets.write(config, _INPUT.value, _TARGET.value, _NUM.value,
                           _COLUMNS.value)


def run() -> None:
  cli.run_app(_command)


if __name__ == "__main__":
  run()
