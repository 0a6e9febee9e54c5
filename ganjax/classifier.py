r"""Train the domain classifier that ``ganjax.eval`` measures samples with.

  python -m ganjax.classifier --dataset mnist [--idx_dir ../shared/data/mnist] \
      [--workdir DIR] [--train_split train] [--test_split test] [--steps 2000]

Trains a small CNN (:mod:`ganjax.evaluation.classifier`) on ``--train_split``,
reports its accuracy on ``--test_split`` and writes it to ``--workdir`` (by
default the directory ``ganjax.eval`` and periodic evaluation look in). When
both splits name the same data (an IDX directory holding only the test files
serves 'train' from them), the data is split 80% / 20% instead, so the reported
accuracy is always on held-out images. The splits actually used are recorded in
``classifier.json``.
"""

from absl import flags

import math

from ganjax.run import cli
from ganjax.utils import paths

_DATASET = flags.DEFINE_string("dataset", "mnist", "Dataset name (TFDS name; with "
                               "--idx_dir only a label for the classifier).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory to write the classifier to; "
                               "default: where ganjax.eval looks, "
                               "~/.cache/ganjax/classifiers/<dataset, or the name of "
                               "--idx_dir> ($GANJAX_CLASSIFIERS overrides the root).")
_IDX_DIR = flags.DEFINE_string("idx_dir", None, "Directory of MNIST-format IDX files "
                               "(no TFDS).")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "TFDS data_dir.")
_TRAIN_SPLIT = flags.DEFINE_string("train_split", "train", "Training split, e.g. "
                                   "'train' or 'test[:80%]'.")
_TEST_SPLIT = flags.DEFINE_string("test_split", "test", "Held-out split for the "
                                  "reported accuracy.")
_STEPS = flags.DEFINE_integer("steps", 2000, "Optimizer steps.", lower_bound=1)
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 128, "Images per step.", lower_bound=1)
_LEARNING_RATE = flags.DEFINE_float("learning_rate", 2e-3, "Peak AdamW learning rate.")
_SEED = flags.DEFINE_integer("seed", 0, "Initialisation, batch order and augmentation.",
                             lower_bound=0, upper_bound=2**32 - 1)
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace a classifier already in "
                               "--workdir.")

paths.require_non_empty("dataset", "workdir", "idx_dir", "data_dir", "train_split",
                        "test_split")
flags.register_validator("learning_rate", lambda value: math.isfinite(value) and value > 0,
                         message="must be a positive number")

#: Fraction of a split used for training when train and test would be the same data.
HOLDOUT_TRAIN_PERCENT = 80


def load_splits(dataset: str, train_split: str, test_split: str, idx_dir, data_dir):
  """The training and held-out datasets; disjoint 80/20 halves if they coincide."""
  from absl import logging

  from ganjax.data import load_dataset
  train = load_dataset(dataset, train_split, idx_dir=idx_dir, data_dir=data_dir)
  test = load_dataset(dataset, test_split, idx_dir=idx_dir, data_dir=data_dir)
  if train.split != test.split:
    return train, test
  # Same split (e.g. the IDX fallback served 'train' from the test files):
  # evaluating on the training images would report memorisation, not accuracy.
  base = train.split
  verbosity = logging.get_verbosity()
  logging.set_verbosity(logging.ERROR)  # The fallback warning was already shown.
  try:
    train = load_dataset(dataset, f"{base}[:{HOLDOUT_TRAIN_PERCENT}%]", idx_dir=idx_dir,
                         data_dir=data_dir)
    test = load_dataset(dataset, f"{base}[{HOLDOUT_TRAIN_PERCENT}%:]", idx_dir=idx_dir,
                        data_dir=data_dir)
  finally:
    logging.set_verbosity(verbosity)
  print(f"Training and test split are both '{base}': training on {train.split} "
        f"({len(train.images)} images), reporting accuracy on {test.split} "
        f"({len(test.images)} images).")
  return train, test


def _check_labelled(train, test) -> None:
  from ganjax.utils.errors import UserError
  if train.labels is None or test.labels is None or train.num_classes is None:
    raise UserError("the classifier needs class labels; this dataset has none")
  if train.images.shape[1:] != test.images.shape[1:]:
    raise UserError(f"train images are {train.images.shape[1:]} but test images are "
                    f"{test.images.shape[1:]}")


def train_and_save(dataset: str, workdir: str, idx_dir, data_dir, train_split: str,
                   test_split: str, steps: int, batch_size: int, learning_rate: float,
                   seed: int, overwrite: bool) -> int:
  """Trains, evaluates and saves the classifier; prints the held-out accuracy."""
  from pathlib import Path

  import tqdm

  from ganjax.data import dataset_fingerprint
  from ganjax.utils.errors import UserError
  from ganjax.evaluation import classifier, protocol
  directory = (Path(workdir).expanduser().absolute() if workdir else
               classifier.default_dir(classifier.dataset_key(dataset, idx_dir)))
  # Before minutes of training: the classifier can be written there.
  paths.check_writable_dir(directory, f"the classifier to {directory}")
  if (directory / classifier.METADATA_FILE).exists() and not overwrite:
    old = classifier.read_metadata(directory)
    raise UserError(f"{directory} already holds a classifier (accuracy "
                    f"{old['accuracy']:.4f}); pass --overwrite to replace it")
  if idx_dir is not None:
    paths.check_input_dir(idx_dir, "--idx_dir")
  train_ds, test_ds = load_splits(dataset, train_split, test_split, idx_dir, data_dir)
  _check_labelled(train_ds, test_ds)
  if len(train_ds.images) < batch_size:
    raise UserError(f"--batch_size {batch_size} is larger than the training split "
                    f"({train_ds.split}: {len(train_ds.images)} images)")
  architecture = classifier.Architecture()
  settings = classifier.TrainSettings(steps=steps, batch_size=batch_size,
                                      learning_rate=learning_rate, seed=seed)
  with tqdm.tqdm(total=steps, unit="step", dynamic_ncols=True, desc="classifier") as bar:
    def progress(step, loss, accuracy):
      bar.update(1)
      if step % 50 == 0 or step == steps:  # Fetching syncs with the device: not every step.
        bar.set_postfix(loss=f"{float(loss):.3f}", batch_acc=f"{float(accuracy):.3f}")
    params = classifier.train(train_ds.images, train_ds.labels, train_ds.num_classes,
                              architecture, settings, progress)
  module = classifier.DomainClassifier(train_ds.num_classes, architecture)
  accuracy = classifier.accuracy(module, params, test_ds.images, test_ds.labels)
  metadata = classifier.save(directory, params, {
      "architecture": architecture.to_json(),
      "image_shape": list(train_ds.images.shape[1:]),
      "num_classes": int(train_ds.num_classes),
      "dataset": {"name": dataset, "source": train_ds.name,
                  "train_split": train_ds.split, "test_split": test_ds.split,
                  "num_train": len(train_ds.images), "num_test": len(test_ds.images),
                  "train_fingerprint": dataset_fingerprint(train_ds)["sha256"]},
      "accuracy": accuracy,
      "train": {"steps": steps, "batch_size": batch_size, "learning_rate": learning_rate,
                "weight_decay": settings.weight_decay, "max_shift": settings.max_shift,
                "seed": seed},
      "ganjax_version": protocol.ganjax_version(),
      "created": classifier.utc_now(),
  })
  print(f"Held-out accuracy {accuracy:.2%} on {dataset} {test_ds.split} "
        f"({len(test_ds.images)} images); trained on {train_ds.split} "
        f"({len(train_ds.images)} images) for {steps} steps.\n"
        f"Classifier written to {directory} (params sha256 "
        f"{metadata['params_sha256'][:16]}...)")
  return 0


def _command() -> int:
  return train_and_save(
      _DATASET.value, _WORKDIR.value, _IDX_DIR.value, _DATA_DIR.value,
      _TRAIN_SPLIT.value, _TEST_SPLIT.value, _STEPS.value, _BATCH_SIZE.value,
      _LEARNING_RATE.value, _SEED.value, _OVERWRITE.value)


def run() -> None:
  cli.run_app(_command)


if __name__ == "__main__":
  run()
