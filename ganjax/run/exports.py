"""Generated images to take elsewhere, and a run's progress as one animation.

``ganjax.sample --out DIR/`` writes one PNG per image (what torch-fidelity,
clean-fid and pytorch-fid read), ``--out FILE.npz`` the uint8 arrays (and the
requested labels of a class-conditional run), ``--progress --out FILE.gif`` the
run's training grids in step order.
"""

import io
import re
from pathlib import Path
from typing import Optional

import numpy as np
import tqdm
from PIL import Image

from ganjax.gan import sampling
from ganjax.models import Condition
from ganjax.run import samples, trained
from ganjax.utils import images, paths
from ganjax.utils.errors import UserError

#: Images written per jitted generator call.
BATCH = 256
#: Images when ``num`` is not given.
DEFAULT_NUM = 10_000
#: How long the last grid of a progress animation stays (it is the result).
FINAL_FRAME_MS = 2000


def _check_folder(out: str) -> Path:
  folder = Path(out).expanduser().absolute()
  if folder.exists() and any(folder.glob("*.png")):
    raise UserError(f"--out {out} already holds PNG images; name a new or empty folder")
  if folder.exists() and not folder.is_dir():
    raise UserError(f"--out {out} is a file; name a folder")
  paths.check_writable_dir(folder, f"--out {out}")
  return folder


def _labels(run: trained.TrainedRun, num: int, label: Optional[int]) -> Optional[np.ndarray]:
  """Requested classes: ``label`` for all, else every class in turn (equal shares)."""
  if run.model.condition != Condition.LABEL:
    return None
  return (np.full(num, label) if label is not None else np.arange(num) % run.num_classes
          ).astype(np.int32)


def export_images(workdir: str, out: str, num: Optional[int], label: Optional[str | int],
                  seed: int, truncation: float = 1.0, raw_weights: bool = False) -> int:
  """Writes ``num`` generated images to the folder or ``.npz`` file ``out``.

  Returns:
    The command's exit code (0).

  Raises:
    UserError: the run cannot make these images (see
      :func:`ganjax.run.samples.check_run`), or ``out`` cannot be written (a folder that already
      holds PNGs is refused, so no earlier export is mixed in).
  """
  num = num or DEFAULT_NUM
  run_dir = paths.check_run_dir(workdir)
  folder = paths.names_folder(out)
  target = _check_folder(out) if folder else paths.check_output_file(out, "--out")
  run = trained.load_trained(str(run_dir), raw_weights)
  label = samples.check_run(run, workdir, label,
                            [f"--truncation {truncation}"] if truncation != 1.0 else [])
  labels = _labels(run, num, label)
  noise = sampling.fixed_noise(run.model, seed, num)
  if truncation != 1.0:
    noise = sampling.truncate(noise, truncation, sampling.noise_mean(run.model))
  made = []
  with tqdm.tqdm(total=num, unit="img", desc="generated images") as bar:
    for start in range(0, num, BATCH):
      part = slice(start, min(start + BATCH, num))
      fake = sampling.generate_in_batches(
          run.g_state, None if noise is None else noise[part],
          None if labels is None else labels[part], batch_size=BATCH)
      pixels = images.to_uint8(fake, run.model.pixel_range)
      if folder:
        for offset, image in enumerate(pixels):
          images.save_png(target / f"{start + offset:06d}.png", image)
      else:
        made.append(pixels)
      bar.update(len(pixels))
  if not folder:
    arrays = {"images": np.concatenate(made)}
    if labels is not None:
      arrays["labels"] = labels

    def write(tmp: Path) -> None:
      buffer = io.BytesIO()
      np.savez_compressed(buffer, **arrays)
      tmp.write_bytes(buffer.getvalue())
    paths.write_atomically(target, write)
  what = f" of class {samples.class_description(run, label)}" if label is not None else (
      " (classes in turn)" if labels is not None else "")
  print(f"Wrote {num} images{what} from step {run.step} to {out}")
  return 0


def progress_animation(workdir: str, out: str, frame_ms: int, scale: int) -> int:
  """Writes the run's training grids (``samples/step_*.png``) in step order as a GIF."""
  run_dir = paths.check_run_dir(workdir)
  target = paths.check_output_file(out, "--out", formats=(".gif",))
  grids = sorted(((int(m.group(1)), p) for p in (run_dir / "samples").glob("step_*.png")
                  if (m := re.fullmatch(r"step_(\d+)\.png", p.name))))
  if not grids:
    raise UserError(f"{run_dir / 'samples'} holds no training grids yet")
  frames = [np.asarray(Image.open(path).convert("RGB")) for _, path in grids]
  shapes = {frame.shape for frame in frames}
  if len(shapes) > 1:
    raise UserError(f"the grids in {run_dir / 'samples'} differ in size (samples.num "
                    "changed during the run); cannot animate them together")
  images.save_gif(target, frames + [frames[-1]] * max(1, FINAL_FRAME_MS // frame_ms),
                  frame_ms, scale)
  print(f"Wrote {len(frames)} grids (steps {grids[0][0]} to {grids[-1][0]}) to {out}")
  return 0
