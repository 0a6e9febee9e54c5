"""Apply a trained image-to-image translator (pix2pix) to an image file.

  python -m ganjax.translate --workdir runs/pix2pix_edges --input IN.png --out OUT.png

The input is converted to the model's input channels (grayscale or RGB). The
U-Net is fully convolutional, so any size works whose sides are multiples of
``2**depth`` (4 for models trained on 28x28 images, 32 for 32x32 patches); the
command says which when the image does not fit. ``--side_by_side`` writes
input | output instead of the output alone; ``--target T.png`` writes
input | output | target and prints the L1 errors of the output and of the input
against the target (pixels in [0, 1]).
"""

from absl import flags

from ganjax.run import cli
from ganjax.utils import paths

_WORKDIR = flags.DEFINE_string("workdir", None, "Workdir of an image-to-image run.")
_INPUT = flags.DEFINE_string("input", None, "Image file to translate.")
_OUT = flags.DEFINE_string("out", None, "PNG file to write.")
_SIDE_BY_SIDE = flags.DEFINE_bool("side_by_side", False, "Write input | output.")
_TARGET = flags.DEFINE_string("target", None, "Image the output should look like (same "
                              "size as --input): writes input | output | target.")
_SCALE = flags.DEFINE_integer("scale", 1, "Pixel enlargement factor.", lower_bound=1)
_RAW_WEIGHTS = cli.define_raw_weights_flag()
flags.mark_flags_as_required(["workdir", "input", "out"])
paths.require_non_empty("workdir", "input", "out", "target")


def _command() -> int:
  from ganjax.run import translation
  return translation.translate(_WORKDIR.value, _INPUT.value, _OUT.value,
                               _SIDE_BY_SIDE.value, _SCALE.value, _TARGET.value,
                               _RAW_WEIGHTS.value)


def run() -> None:
  cli.run_app(_command)


if __name__ == "__main__":
  run()
