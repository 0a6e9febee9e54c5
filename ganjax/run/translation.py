"""Applying a trained image-to-image translator to image files (``ganjax.translate``).

Every file is opened and checked before the run is restored, so a mistake costs
no restore and leaves nothing behind.
"""

from typing import Optional

import jax.numpy as jnp
import numpy as np
from PIL import Image

from ganjax.data.pipeline import to_pixel_range
from ganjax.gan import sampling
from ganjax.models import Condition, pix2pix
from ganjax.run import trained
from ganjax.utils import images, paths
from ganjax.utils.errors import UserError

#: Mid-grey pixels between the parts of a side-by-side image.
GAP = 2


def open_image(path: str, flag: str = "--input") -> Image.Image:
  """The decoded PIL image in ``path`` (read completely, so damage shows here).

  Raises:
    UserError: missing, unreadable, not an image, damaged, or too large.
  """
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


def to_model_input(picture: Image.Image, path: str, channels: int, multiple: int,
                   flag: str = "--input") -> np.ndarray:
  """uint8 (H, W, channels) from an opened image, checked against the model's stride.

  Raises:
    UserError: sides that are not multiples of ``multiple``.
  """
  picture = picture.convert("L" if channels == 1 else "RGB")
  width, height = picture.size
  if width % multiple or height % multiple:
    raise UserError(
        f"{flag} {path} is {width}x{height}; this translator needs sides that are "
        f"multiples of {multiple} (e.g. {width - width % multiple or multiple}x"
        f"{height - height % multiple or multiple}): crop or resize it")
  return np.asarray(picture, np.uint8).reshape(height, width, channels)


def side_by_side(parts: np.ndarray, pixel_range: tuple[float, float],
                 gap: int = GAP) -> np.ndarray:
  """(K, H, W, C) -> (1, H, K*W + (K-1)*gap, C), parts separated by mid-grey."""
  separator = np.full((parts.shape[1], gap, parts.shape[-1]),
                      sum(pixel_range) / 2, np.float32)
  pieces = [parts[0]]
  for part in parts[1:]:
    pieces += [separator, part]
  return np.concatenate(pieces, axis=1)[None]


def _open_inputs(input_path: str, target_path: Optional[str]
                 ) -> tuple[Image.Image, Optional[Image.Image]]:
  """The input image and the target image (same size), if one is named."""
  picture = open_image(input_path, "--input")
  if target_path is None:
    return picture, None
  target_picture = open_image(target_path, "--target")
  if target_picture.size != picture.size:
    raise UserError(f"--target {target_path} is {target_picture.width}x"
                    f"{target_picture.height}, --input {input_path} {picture.width}x"
                    f"{picture.height}: they must match")
  return picture, target_picture


def translate(workdir: str, input_path: str, out: str, side_by_side_output: bool,
              scale: int, target_path: Optional[str] = None,
              raw_weights: bool = False) -> int:
  """Translates ``input_path`` with the run's newest generator and writes ``out``.

  With ``target_path`` it writes input | output | target and prints the L1
  errors of the output and of the input against the target (pixels in [0, 1]);
  with ``side_by_side_output``, input | output. A run that keeps a moving
  average of its generator translates with it, unless ``raw_weights``.

  Returns:
    The command's exit code (0).

  Raises:
    UserError: a file cannot be read or written, the image does not fit the
      model, or the run is not an image-to-image translator.
  """
  run_dir = paths.check_run_dir(workdir)
  picture, target_picture = _open_inputs(input_path, target_path)
  parts = 3 if target_path is not None else 2 if side_by_side_output else 1
  images.check_size((picture.height * scale,
                     (parts * picture.width + GAP * (parts - 1)) * scale),
                    f"--input {input_path} at --scale {scale}")
  out_path = paths.check_output_file(out, "--out", png=True,
                                     protected=(input_path, target_path))
  run = trained.load_trained(str(run_dir), raw_weights)
  if run.model.condition != Condition.IMAGE:
    raise UserError(f"the run in {workdir} is not an image-to-image translator; "
                    "use python -m ganjax.sample")
  pixel_range = run.model.pixel_range
  image = to_model_input(picture, input_path, run.input_shape[-1],
                         pix2pix.size_multiple(run.model.generator))
  condition = to_pixel_range(image[None], pixel_range)
  output = np.asarray(sampling.generate_jit(run.g_state, None, jnp.asarray(condition)))
  shown, errors = output, ""
  if target_picture is not None:
    target = to_model_input(target_picture, target_path, output.shape[-1], 1,
                            "--target")
    triplet = sampling.triplets(condition, output, to_pixel_range(target[None],
                                                                  pixel_range))
    shown = side_by_side(triplet, pixel_range)
    low, high = pixel_range
    l1 = lambda a: float(np.mean(np.abs(a - triplet[2]))) / (high - low)
    errors = (f"; L1 to the target: output {l1(triplet[1]):.4f}, input "
              f"{l1(triplet[0]):.4f}")
  elif side_by_side_output:
    pair = sampling.triplets(condition, output, output)[:2]  # input, output
    shown = side_by_side(pair, pixel_range)
  images.save_png(out_path, images.to_uint8(shown, pixel_range)[0], scale)
  height, width = image.shape[:2]
  print(f"Translated {input_path} ({width}x{height}) with the model of step "
        f"{run.step}; wrote {out}{errors}")
  return 0
