r"""Train the domain classifier that ``ganjax.eval`` measures samples with.

  python -m ganjax.classifier --dataset mnist [--idx_dir ../shared/data/mnist] \
      [--workdir DIR] [--train_split train] [--test_split test] [--steps 2000]
  python -m ganjax.classifier --folder ~/pictures --workdir classifiers/pictures \
      [--image_size 64] [--channels 3]
  python -m ganjax.classifier --prepared data/pictures64 --workdir classifiers/pictures

Trains a small CNN (:mod:`ganjax.evaluation.classifier`) on ``--train_split``,
reports its accuracy on ``--test_split`` and writes it to ``--workdir`` (by
default the directory ``ganjax.eval`` and periodic evaluation look in). When
both splits name the same data (an IDX directory holding only the test files
serves 'train' from them), the data is split 80% / 20% instead, so the reported
accuracy is always on held-out images. The splits actually used are recorded in
``classifier.json``.

A folder of images (``--folder``, decoded at ``--image_size`` with ``--channels``
as the run decodes it: its ``config.data.image_size`` and ``config.data.channels``)
or a prepared dataset (``--prepared``; a random 50,000 of a larger one) needs
class subfolders, the classes the classifier learns; a random 20% of
``--train_split`` is held out (their files are in class order). Such a
classifier has no default directory: ``--workdir`` names it, and a run uses it
through ``ganjax.eval --classifier DIR`` (``ganjax.label_accuracy`` too) or
``--config.eval.classifier_dir=DIR`` for periodic evaluation. (A run on a
dataset prepared from IDX files needs neither: it uses those files' default
classifier, and ``ganjax.eval``'s message when there is none names the
``--workdir`` to train it into.)
"""

import math

from absl import flags

from ganjax.run import cli
from ganjax.utils import paths

_DATASET = flags.DEFINE_string("dataset", None, "Dataset name (TFDS name; with "
                               "--idx_dir, --folder or --prepared only a label for the "
                               "classifier). Default: mnist, or the name of --folder or "
                               "--prepared.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory to write the classifier to; "
                               "default: where ganjax.eval looks, "
                               "~/.cache/ganjax/classifiers/<dataset, or the name of "
                               "--idx_dir> ($GANJAX_CLASSIFIERS overrides the root).")
_IDX_DIR = flags.DEFINE_string("idx_dir", None, "Directory of MNIST-format IDX files "
                               "(no TFDS).")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "TFDS data_dir.")
_FOLDER = flags.DEFINE_string("folder", None, "A folder of images with one subfolder per "
                              "class (no TFDS); needs --workdir.")
_PREPARED = flags.DEFINE_string("prepared", None, "A labelled prepared dataset (python -m "
                                "ganjax.prepare); needs --workdir.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", None, "Side of the square images --folder "
                                   "is decoded to, as the run's config.data.image_size "
                                   "(default 64).", lower_bound=1)
_CHANNELS = flags.DEFINE_enum("channels", None, ["1", "3"], "--folder's images as 1 "
                              "(grayscale) or 3 (RGB) channels, as the run's "
                              "config.data.channels (default: as the images are).")
_TRAIN_SPLIT = flags.DEFINE_string("train_split", "train", "Training split, e.g. "
                                   "'train' or 'test[:80%]'.")
_TEST_SPLIT = flags.DEFINE_string("test_split", None, "Held-out split for the reported "
                                  "accuracy (default: 'test'; of --folder or --prepared, "
                                  "a random 20% of --train_split).")
_STEPS = flags.DEFINE_integer("steps", 2000, "Optimizer steps.", lower_bound=1)
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 128, "Images per step.", lower_bound=1)
_LEARNING_RATE = flags.DEFINE_float("learning_rate", 2e-3, "Peak AdamW learning rate.")
_SEED = flags.DEFINE_integer("seed", 0, "Initialisation, batch order and augmentation "
                             "(and the held-out images of --folder or --prepared).",
                             lower_bound=0, upper_bound=2**32 - 1)
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace a classifier already in "
                               "--workdir.")

paths.require_non_empty("dataset", "workdir", "idx_dir", "data_dir", "folder", "prepared",
                        "train_split", "test_split")
flags.register_validator("learning_rate", lambda value: math.isfinite(value) and value > 0,
                         message="must be a positive number")


def _command() -> int:
  from ganjax.run import classifier_training
  return classifier_training.train_and_save(
      _DATASET.value, _WORKDIR.value, _IDX_DIR.value, _DATA_DIR.value,
      _TRAIN_SPLIT.value, _TEST_SPLIT.value, _STEPS.value, _BATCH_SIZE.value,
      _LEARNING_RATE.value, _SEED.value, _OVERWRITE.value, folder=_FOLDER.value,
      prepared=_PREPARED.value, image_size=_IMAGE_SIZE.value,
      channels=None if _CHANNELS.value is None else int(_CHANNELS.value))


def run() -> None:
  cli.run_app(_command)


if __name__ == "__main__":
  run()
