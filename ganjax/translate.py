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
flags.mark_flags_as_required(["workdir", "input", "out"])
paths.require_non_empty("workdir", "input", "out", "target")


def open_image(path: str, flag: str = "--input"):
  """The decoded PIL image in ``path`` (read completely, so damage shows here).

  Raises:
    UserError: missing, unreadable, not an image, damaged, or too large.
  """
  from PIL import Image

  from ganjax.utils import images
  from ganjax.utils.errors import UserError
  paths.check_input_file(path, flag)
  try:
    with Image.open(path) as picture:
      picture.load()
      if picture.width * picture.height > images.MAX_PIXELS:
        raise UserError(f"{flag} {path} is {picture.width}x{picture.height}: too large "
                        f"to translate (at most {images.MAX_PIXELS / 1e6:.0f} megapixels)")
      return picture.copy()
  except UserError:
    raise
  except Exception as e:  # OSError, UnidentifiedImageError, DecompressionBombError...
    raise UserError(f"{flag} {path} is not a readable image "
                    f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") from e


def read_input(path: str, channels: int, multiple: int, flag: str = "--input"):
  """uint8 (H, W, channels) from an image file, checked against the model's stride.

  Raises:
    UserError: unreadable file, or sides that are not multiples of ``multiple``.
  """
  return to_model_input(open_image(path, flag), path, channels, multiple, flag)


def to_model_input(picture, path: str, channels: int, multiple: int,
                   flag: str = "--input"):
  """uint8 (H, W, channels) from an opened image (see :func:`read_input`)."""
  import numpy as np

  from ganjax.utils.errors import UserError
  picture = picture.convert("L" if channels == 1 else "RGB")
  width, height = picture.size
  if width % multiple or height % multiple:
    raise UserError(
        f"{flag} {path} is {width}x{height}; this translator needs sides that are "
        f"multiples of {multiple} (e.g. {width - width % multiple or multiple}x"
        f"{height - height % multiple or multiple}): crop or resize it")
  return np.asarray(picture, np.uint8).reshape(height, width, channels)


def _side_by_side(parts, pixel_range, gap: int = 2):
  """(K, H, W, C) -> (1, H, K*W + (K-1)*gap, C), parts separated by mid-grey."""
  import numpy as np
  separator = np.full((parts.shape[1], gap, parts.shape[-1]),
                      sum(pixel_range) / 2, np.float32)
  pieces = [parts[0]]
  for part in parts[1:]:
    pieces += [separator, part]
  return np.concatenate(pieces, axis=1)[None]


def translate(workdir: str, input_path: str, out: str, side_by_side: bool,
              scale: int, target_path=None) -> int:
  from ganjax.utils import images
  from ganjax.utils.errors import UserError
  # Every file first: a mistake costs no restore and leaves nothing behind.
  run_dir = paths.check_run_dir(workdir)
  picture = open_image(input_path, "--input")
  target_picture = None
  if target_path is not None:
    target_picture = open_image(target_path, "--target")
    if target_picture.size != picture.size:
      raise UserError(f"--target {target_path} is {target_picture.width}x"
                      f"{target_picture.height}, --input {input_path} {picture.width}x"
                      f"{picture.height}: they must match")
  parts = 3 if target_path is not None else 2 if side_by_side else 1
  images.check_size((picture.height * scale,
                     (parts * picture.width + 2 * (parts - 1)) * scale),
                    f"--input {input_path} at --scale {scale}")
  out_path = paths.check_output_file(out, "--out", png=True,
                                     protected=(input_path, target_path))
  import jax.numpy as jnp
  import numpy as np

  from ganjax.run import trained as runs
  from ganjax.gan import sampling
  from ganjax.models import pix2pix
  run = runs.load_trained(str(run_dir))
  if run.model.condition != "image":
    raise UserError(f"the run in {workdir} is not an image-to-image translator; "
                    "use python -m ganjax.sample")
  channels = run.meta["batch_spec"]["input"]["shape"][-1]
  image = to_model_input(picture, input_path, channels,
                         pix2pix.size_multiple(run.model.generator))
  condition = sampling.to_pixel_range(image[None], run.model.pixel_range)
  output = np.asarray(sampling.generate_jit(run.g_state, None, jnp.asarray(condition)))
  shown = output
  height, width = image.shape[:2]
  errors = ""
  if target_path is not None:
    target = to_model_input(target_picture, target_path, output.shape[-1], 1,
                            "--target")
    target = sampling.to_pixel_range(target[None], run.model.pixel_range)
    triplet = sampling.triplets(condition, output, target)
    shown = _side_by_side(triplet, run.model.pixel_range)
    low, high = run.model.pixel_range
    l1 = lambda a: float(np.mean(np.abs(a - triplet[2]))) / (high - low)
    errors = (f"; L1 to the target: output {l1(triplet[1]):.4f}, input "
              f"{l1(triplet[0]):.4f}")
  elif side_by_side:
    pair = sampling.triplets(condition, output, output)[:2]  # input, output
    shown = _side_by_side(pair, run.model.pixel_range)
  images.save_png(out_path, images.to_uint8(shown, run.model.pixel_range)[0], scale)
  print(f"Translated {input_path} ({width}x{height}) with the model of step "
        f"{run.step}; wrote {out}{errors}")
  return 0


def _command() -> int:
  return translate(_WORKDIR.value, _INPUT.value, _OUT.value, _SIDE_BY_SIDE.value,
                   _SCALE.value, _TARGET.value)


def run() -> None:
  cli.run_app(_command)


if __name__ == "__main__":
  run()
