"""Image sheets of a paired-data config's (input, target) pairs (``ganjax.export_pairs``).

The sheets are tiled without gaps, so their sides stay multiples of the image
size and ``ganjax.translate`` can take them as ``--input`` and ``--target``.
"""

import os
from typing import Optional

import ml_collections

from ganjax.data.examples import load_examples
from ganjax.utils import images, paths
from ganjax.utils.errors import UserError


def write(config: ml_collections.ConfigDict, input_path: str, target_path: str,
          num: int, columns: Optional[int]) -> int:
  """Writes the first ``num`` pairs of ``config.data`` as two sheets: both or neither.

  Both output paths are checked before the data is loaded; if the second sheet
  cannot be written, the first (new) one is removed again.

  Returns:
    The command's exit code (0).

  Raises:
    UserError: an output cannot be written, both name the same file, or the
      data holds no inputs.
  """
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
