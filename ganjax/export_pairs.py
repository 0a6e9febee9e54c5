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


def export(config, input_path: str, target_path: str, num: int, columns) -> int:
  """Writes the first ``num`` pairs as two sheets: both or neither.

  Both output paths are checked before the data is loaded; if the second sheet
  cannot be written, the first (new) one is removed again.
  """
  import os

  from ganjax.utils import images
  from ganjax.data.examples import load_examples
  from ganjax.utils.errors import UserError
  outputs = [paths.check_output_file(input_path, "--input", png=True),
             paths.check_output_file(target_path, "--target", png=True)]
  if outputs[0] == outputs[1]:
    raise UserError(f"--input and --target are the same file ({input_path}); name two")
  _, examples = load_examples(config.data)
  if "input" not in examples:
    raise UserError("the config's data has no inputs: set config.data.pairs or "
                    "config.data.paired_dir")
  count = min(num, len(examples["image"]))
  count_columns = min(columns or count, count)
  sheets = [images.make_grid(examples[key][:count], count_columns, padding=0)
            for key in ("input", "image")]
  for sheet, flag in zip(sheets, ("--input", "--target")):
    images.check_size(sheet.shape[:2], f"{flag} with --num {num}")
  existed = outputs[0].exists()
  images.save_png(outputs[0], sheets[0])
  try:
    images.save_png(outputs[1], sheets[1])
  except BaseException:
    if not existed:
      os.unlink(outputs[0])
    raise
  print(f"Wrote {count} inputs to {input_path} and their targets to {target_path}")
  return 0


def _command() -> int:
  return export(cli.config_value(_CONFIG), _INPUT.value, _TARGET.value, _NUM.value,
                _COLUMNS.value)


def run() -> None:
  cli.run_app(_command)


if __name__ == "__main__":
  run()
