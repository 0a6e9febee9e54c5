"""Training and saving the domain classifier (the ``ganjax.classifier`` command's work).

The classifier itself, its training step and its file format live in
:mod:`ganjax.evaluation.classifier`; this module picks the data, reports progress
and records where the classifier came from, so the evaluation protocol can name it.
"""

from pathlib import Path
from typing import Optional

import tqdm
from absl import logging

from ganjax.data import ImageDataset, dataset_fingerprint, load_dataset
from ganjax.evaluation import classifier, protocol
from ganjax.utils import paths
from ganjax.utils.errors import UserError

#: Fraction of a split used for training when train and test would be the same data.
HOLDOUT_TRAIN_PERCENT = 80


def load_splits(dataset: str, train_split: str, test_split: str, idx_dir: Optional[str],
                data_dir: Optional[str]) -> tuple[ImageDataset, ImageDataset]:
  """The training and held-out datasets; disjoint 80/20 halves if they coincide.

  Evaluating on the training images would report memorisation, not accuracy:
  when both splits name the same data (an IDX directory holding only the test
  files serves 'train' from them), the data is split instead.
  """
  train = load_dataset(dataset, train_split, idx_dir=idx_dir, data_dir=data_dir)
  test = load_dataset(dataset, test_split, idx_dir=idx_dir, data_dir=data_dir)
  if train.split != test.split:
    return train, test
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


def check_labelled(train: ImageDataset, test: ImageDataset) -> None:
  """Raises UserError unless both splits have labels and the same image shape."""
  if train.labels is None or test.labels is None or train.num_classes is None:
    raise UserError("the classifier needs class labels; this dataset has none")
  if train.images.shape[1:] != test.images.shape[1:]:
    raise UserError(f"train images are {train.images.shape[1:]} but test images are "
                    f"{test.images.shape[1:]}")


def _train_with_progress(train_ds: ImageDataset, architecture: classifier.Architecture,
                         settings: classifier.TrainSettings):
  """The trained parameters, with a progress bar (loss and accuracy every 50 steps)."""
  steps = settings.steps
  with tqdm.tqdm(total=steps, unit="step", dynamic_ncols=True, desc="classifier") as bar:
    def progress(step, loss, accuracy):
      bar.update(1)
      if step % 50 == 0 or step == steps:  # Fetching syncs with the device: not every step.
        bar.set_postfix(loss=f"{float(loss):.3f}", batch_acc=f"{float(accuracy):.3f}")
    return classifier.train(train_ds.images, train_ds.labels, train_ds.num_classes,
                            architecture, settings, progress)


def train_and_save(dataset: str, workdir: Optional[str], idx_dir: Optional[str],
                   data_dir: Optional[str], train_split: str, test_split: str,
                   steps: int, batch_size: int, learning_rate: float, seed: int,
                   overwrite: bool) -> int:
  """Trains, evaluates and saves the classifier; prints the held-out accuracy.

  The directory is checked before the data is loaded and long before training
  ends: a classifier that cannot be written is not trained.

  Returns:
    The command's exit code (0).
  """
  directory = (Path(workdir).expanduser().absolute() if workdir else
               classifier.default_dir(classifier.dataset_key(dataset, idx_dir)))
  paths.check_writable_dir(directory, f"the classifier to {directory}")
  if (directory / classifier.METADATA_FILE).exists() and not overwrite:
    old = classifier.read_metadata(directory)
    raise UserError(f"{directory} already holds a classifier (accuracy "
                    f"{old['accuracy']:.4f}); pass --overwrite to replace it")
  if idx_dir is not None:
    paths.check_input_dir(idx_dir, "--idx_dir")
  train_ds, test_ds = load_splits(dataset, train_split, test_split, idx_dir, data_dir)
  check_labelled(train_ds, test_ds)
  if len(train_ds.images) < batch_size:
    raise UserError(f"--batch_size {batch_size} is larger than the training split "
                    f"({train_ds.split}: {len(train_ds.images)} images)")
  architecture = classifier.Architecture()
  settings = classifier.TrainSettings(steps=steps, batch_size=batch_size,
                                      learning_rate=learning_rate, seed=seed)
  params = _train_with_progress(train_ds, architecture, settings)
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
