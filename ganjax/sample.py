"""Write a grid of generated images from a run's newest checkpoint.

  python -m ganjax.sample --workdir runs/mnist --num 64 --out samples.png [--seed S]

Class-conditional runs:
  python -m ganjax.sample --workdir runs/mnist_cgan --label 7 --num 16 --out sevens.png
writes ``--num`` images of class 7; without ``--label`` it writes one row per class
with ``--num`` images per class (default 8 then, 64 otherwise). A run trained on a
folder of class subfolders also takes a class by its folder's name (``--label cat``).

Truncation: ``--truncation PSI`` (0 < PSI <= 1; 1, the default, is off) pulls every
latent z towards the mean latent of the noise distribution, mean + PSI (z - mean):
more typical images, less variety.

Latent walks (the same seed, the same walks):
  python -m ganjax.sample --workdir runs/mnist --interpolate 8 --out walk.png
writes one row per walk (``--num`` walks, default 4), each of 8 images from one
random latent to the next;
  python -m ganjax.sample --workdir runs/mnist --interpolate 16 --out walk.gif
writes an animated GIF that loops through ``--keyframes`` random latents (default
4) per walk, 16 frames from one to the next (``--frame_ms`` each, default 100);
every frame is a grid of the ``--num`` walks (default 4). Normal noise is
interpolated on the sphere (slerp), uniform noise in a straight line. For a
class-conditional run, ``--label K`` makes every walk one of class K; without it,
every walk is shown once per class, one row per class (a strip's default is then
one walk). Image-to-image runs have no noise to truncate or walk.

Images to take elsewhere (``--num`` of them, default 10,000; a class-conditional
run gets every class in turn unless ``--label``):
  python -m ganjax.sample --workdir runs/mnist --num 10000 --out fakes/
writes fakes/000000.png ... (the input of torch-fidelity, clean-fid, pytorch-fid);
  python -m ganjax.sample --workdir runs/mnist --out fakes.npz
writes the uint8 arrays ``images`` (N, H, W, C) and, if conditional, ``labels``.

The run's progress, its training grids (samples/step_*.png) in step order:
  python -m ganjax.sample --workdir runs/mnist --progress --out progress.gif
"""

from absl import flags

from ganjax.run import cli
from ganjax.utils import paths

_WORKDIR = flags.DEFINE_string("workdir", None, "Workdir of a ganjax training run.")
_OUT = flags.DEFINE_string("out", None, "What to write: .png (a grid, or a strip with "
                           "--interpolate), .gif (an animated walk, with --interpolate, "
                           "or the training grids, with --progress), a folder (DIR/: one "
                           "PNG per image) or .npz (the images as arrays).")
_PROGRESS = flags.DEFINE_bool("progress", False, "Animate the run's training grids "
                              "(samples/step_*.png) in step order into the .gif --out.")
_NUM = flags.DEFINE_integer(
    "num", None, "Number of images (default 64); for a class-conditional run without "
    "--label, images per class (default 8), one row per class. With --interpolate: "
    "walks (default 4; 1 for a class-conditional strip without --label).", lower_bound=1)
_LABEL = flags.DEFINE_string("label", None, "Class to generate (class-conditional runs): "
                             "its index, or its name for a run trained on a folder of "
                             "class subfolders.")
_SEED = flags.DEFINE_integer("seed", 0, "Noise seed (same seed, same images).",
                             lower_bound=0, upper_bound=2**32 - 1)
_COLUMNS = flags.DEFINE_integer("columns", None, "Images per row (default: square; "
                                "per-class grids: one row per class).", lower_bound=1)
_SCALE = flags.DEFINE_integer("scale", 2, "Pixel enlargement factor.", lower_bound=1)
_TRUNCATION = flags.DEFINE_float(
    "truncation", 1.0, "Truncation psi in (0, 1]: each latent z becomes "
    "mean + psi (z - mean); 1 is off.")
flags.register_validator("truncation", lambda psi: 0.0 < psi <= 1.0,
                         message="must be in (0, 1] (1: no truncation)")
_INTERPOLATE = flags.DEFINE_integer(
    "interpolate", None, "Walk between random latents: images per walk in a .png "
    "strip, or frames from one keyframe to the next in a .gif.", lower_bound=2)
_KEYFRAMES = flags.DEFINE_integer(
    "keyframes", None, "Random latents a .gif walk loops through (default 4).",
    lower_bound=2)
_FRAME_MS = flags.DEFINE_integer("frame_ms", None, "Milliseconds per .gif frame "
                                 "(default 100).", lower_bound=10)
flags.mark_flags_as_required(["workdir", "out"])
_RAW_WEIGHTS = cli.define_raw_weights_flag()
paths.require_non_empty("workdir", "out")


def _command() -> int:
  if _PROGRESS.value:
    from ganjax.run import exports
    return exports.progress_animation(_WORKDIR.value, _OUT.value, _FRAME_MS.value or 250,
                                      _SCALE.value)
  if _OUT.value.lower().endswith(".npz") or paths.names_folder(_OUT.value):
    from ganjax.run import exports
    return exports.export_images(_WORKDIR.value, _OUT.value, _NUM.value, _LABEL.value,
                                 _SEED.value, _TRUNCATION.value, _RAW_WEIGHTS.value)
  from ganjax.run import samples
  return samples.write(_WORKDIR.value, _OUT.value, _NUM.value, _LABEL.value, _SEED.value,
                       _COLUMNS.value, _SCALE.value, _TRUNCATION.value, _INTERPOLATE.value,
                       _KEYFRAMES.value, _FRAME_MS.value, _RAW_WEIGHTS.value)


def run() -> None:
  cli.run_app(_command)


if __name__ == "__main__":
  run()
