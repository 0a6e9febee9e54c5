r"""Write a dataset once into ArrayRecord shards that training streams from.

  python -m ganjax.prepare --folder ~/pictures --out data/pictures64 --image_size 64
  python -m ganjax.prepare --idx_dir ../shared/data/mnist_full --split train \
      --out data/mnist_train

then train on it with ``--config.data.prepared=data/pictures64``. A folder is
read as ``data.folder`` reads it (every PNG, JPEG and WebP file below it, one
class per subfolder when it has them; unreadable files are skipped and listed
once), each image resized and centre-cropped to ``--image_size``. The output
directory holds the shards and a metadata.json (count, shape, class names, a
content fingerprint); it is written beside ``--out`` and renamed when complete,
so an interrupted prepare leaves nothing behind. A run reads a prepared dataset
whole into host memory when it fits ``data.host_budget_mb``, and otherwise
streams each step's batch from the shards, so memory does not grow with the
dataset.
"""

from absl import flags

from ganjax.run import cli
from ganjax.utils.errors import UserError

_FOLDER = flags.DEFINE_string("folder", None, "A folder of PNG/JPEG/WebP images (one "
                              "subfolder per class for class-conditional data).")
_IDX_DIR = flags.DEFINE_string("idx_dir", None, "MNIST-format IDX files (instead of "
                               "--folder).")
_DATASET = flags.DEFINE_string("dataset", None, "A TFDS dataset name (instead of "
                               "--folder), read through TFDS a few thousand images at "
                               "a time.")
_SPLIT = flags.DEFINE_string("split", "train", "Split of --idx_dir or --dataset.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "TFDS data_dir for --dataset.")
_OUT = flags.DEFINE_string("out", None, "New directory for the prepared dataset.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 64, "Side of the square images "
                                   "(--folder).", lower_bound=1)
_CHANNELS = flags.DEFINE_enum("channels", "3", ["1", "3"], "1: grayscale, 3: RGB "
                              "(--folder).")
_SHARD_MB = flags.DEFINE_float("shard_mb", 256, "Size of each shard file in MB.",
                               lower_bound=0.001)
flags.mark_flag_as_required("out")


def _command() -> int:
  from ganjax.data import prepared  # pylint: disable=g-import-not-at-top
  sources = [f for f in (_FOLDER, _IDX_DIR, _DATASET) if f.value is not None]
  if len(sources) != 1:
    raise UserError("give exactly one of --folder, --idx_dir and --dataset")
  if _FOLDER.value is not None:
    info = prepared.prepare_folder(_FOLDER.value, _OUT.value, _IMAGE_SIZE.value,
                                   int(_CHANNELS.value), _SHARD_MB.value)
  elif _DATASET.value is not None:
    info = prepared.prepare_tfds(_DATASET.value, _SPLIT.value, _DATA_DIR.value,
                                 _OUT.value, _SHARD_MB.value)
  else:
    from ganjax.data.sources import load_dataset  # pylint: disable=g-import-not-at-top
    info = prepared.prepare_dataset(
        load_dataset("mnist", _SPLIT.value, idx_dir=_IDX_DIR.value), _OUT.value,
        _SHARD_MB.value)
  shape = "x".join(map(str, info.image_shape))
  classes = f", {info.num_classes} classes" if info.num_classes else ", unlabelled"
  print(f"Prepared {info.num_examples:,} images ({shape}{classes}) in "
        f"{len(info.shards)} shard(s) at {_OUT.value}. Train on it with "
        f"--config.data.prepared={_OUT.value}")
  return 0


def run() -> None:
  cli.run_app(_command)


if __name__ == "__main__":
  run()
