"""Training and saving the domain classifier (the ``ganjax.classifier`` command's work).

The classifier itself, its training step and its file format live in
:mod:`ganjax.evaluation.classifier`; this module picks the data, reports progress
and records where the classifier came from, so the evaluation protocol can name it.
"""

import dataclasses
from pathlib import Path
from typing import Optional

import numpy as np
import tqdm
from absl import logging

from ganjax.data import ImageDataset, dataset_fingerprint, load_dataset
from ganjax.data import folder as folder_lib
from ganjax.data.prepared import PreparedSource
from ganjax.evaluation import classifier, protocol
from ganjax.utils import paths
from ganjax.utils.errors import UserError

#: Fraction of a split used for training when train and test would be the same data.
HOLDOUT_TRAIN_PERCENT = 80
#: Images read from a prepared dataset (a random subset when it holds more): the
#: classifier trains with all its images in memory.
MAX_PREPARED_IMAGES = 50_000


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


def random_holdout(dataset: ImageDataset, seed: int) -> tuple[ImageDataset, ImageDataset]:
  """Disjoint random parts of ``dataset``: :data:`HOLDOUT_TRAIN_PERCENT` for training,
  the rest held out, each in the dataset's order.

  A folder's files (and a dataset prepared from it) are in class order, so a
  window such as ``train[80%:]`` would hold out whole classes.
  """
  order = np.random.default_rng(seed).permutation(len(dataset.images))
  cut = len(order) * HOLDOUT_TRAIN_PERCENT // 100

  def part(rows: np.ndarray, what: str) -> ImageDataset:
    rows = np.sort(rows)
    return dataclasses.replace(
        dataset, images=dataset.images[rows],
        labels=None if dataset.labels is None else dataset.labels[rows],
        split=f"{dataset.split} ({what}, seed {seed})")

  return (part(order[:cut], f"random {HOLDOUT_TRAIN_PERCENT}%"),
          part(order[cut:], f"the other {100 - HOLDOUT_TRAIN_PERCENT}%"))


def check_folder_labels(folder: str) -> None:
  """Raises UserError unless the folder has class subfolders (two or more); it
  lists the files only, nothing is decoded."""
  listing = folder_lib.scan_folder(folder)
  if listing.num_classes is None:
    raise UserError(f"the classifier needs class labels: folder {listing.directory} has "
                    "no class subfolders (put each class's images in a subfolder named "
                    "after it)")
  if listing.num_classes < 2:
    raise UserError(f"the classifier needs at least two classes: folder "
                    f"{listing.directory} has one class subfolder")


def check_prepared_labels(source: PreparedSource) -> None:
  """Raises UserError unless the prepared dataset is labelled with two classes or more."""
  if source.info.num_classes is None:
    raise UserError(f"the classifier needs class labels: the prepared dataset "
                    f"{source.directory} has none (prepare a folder with class "
                    "subfolders)")
  if source.info.num_classes < 2:
    raise UserError(f"the classifier needs at least two classes: the prepared dataset "
                    f"{source.directory} has one")


def load_folder_splits(folder: str, train_split: str, test_split: Optional[str],
                       image_size: int, channels: Optional[int], seed: int
                       ) -> tuple[ImageDataset, ImageDataset]:
  """The training and held-out images of a folder, decoded as a run decodes them
  (``data.image_size``, ``data.channels``); a random 20% of ``train_split`` is
  held out unless ``test_split`` names other images."""
  check_folder_labels(folder)
  train = folder_lib.load_image_folder(folder, train_split, image_size, channels)
  if test_split is None or test_split == train_split:
    return _announced_holdout(train, seed)
  return train, folder_lib.load_image_folder(folder, test_split, image_size, channels)


def load_prepared_splits(prepared: str, train_split: str, test_split: Optional[str],
                         seed: int) -> tuple[ImageDataset, ImageDataset]:
  """The training and held-out images of a prepared dataset (at most
  :data:`MAX_PREPARED_IMAGES` of each split, drawn with ``seed``); a random 20%
  of ``train_split`` is held out unless ``test_split`` names other images."""
  source = PreparedSource(prepared, train_split)
  check_prepared_labels(source)
  train = source.sample(MAX_PREPARED_IMAGES, seed)
  if len(source) > MAX_PREPARED_IMAGES:
    print(f"Using {MAX_PREPARED_IMAGES:,} of the {len(source):,} images of {train_split} "
          f"(drawn at random with --seed {seed}).")
  if test_split is None or test_split == train_split:
    return _announced_holdout(train, seed)
  return train, PreparedSource(prepared, test_split).sample(MAX_PREPARED_IMAGES, seed)


def _announced_holdout(dataset: ImageDataset, seed: int
                       ) -> tuple[ImageDataset, ImageDataset]:
  train, test = random_holdout(dataset, seed)
  print(f"Training on {train.split} ({len(train.images)} images), reporting accuracy on "
        f"{test.split} ({len(test.images)} images).")
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


def check_sources(idx_dir: Optional[str], data_dir: Optional[str], folder: Optional[str],
                  prepared: Optional[str], image_size: Optional[int],
                  channels: Optional[int], workdir: Optional[str]) -> None:
  """Raises UserError for flags that do not go together (before anything is read)."""
  given = [flag for flag, value in (("--idx_dir", idx_dir), ("--folder", folder),
                                    ("--prepared", prepared)) if value is not None]
  if len(given) > 1:
    raise UserError(f"{given[0]} and {given[1]} both name the images; give only one")
  if (folder or prepared) and data_dir is not None:
    raise UserError(f"--data_dir is for TFDS datasets, not {given[0]}")
  if folder is None and (image_size is not None or channels is not None):
    flag = "--image_size" if image_size is not None else "--channels"
    raise UserError(f"{flag} says how --folder's images are decoded; it applies to "
                    "--folder only")
  if (folder or prepared) and workdir is None:
    raise UserError(f"a classifier for {given[0]} has no default directory: name one "
                    "with --workdir DIR (then ganjax.eval --classifier DIR, or "
                    "--config.eval.classifier_dir=DIR for periodic evaluation)")


def train_and_save(dataset: Optional[str], workdir: Optional[str], idx_dir: Optional[str],
                   data_dir: Optional[str], train_split: str, test_split: Optional[str],
                   steps: int, batch_size: int, learning_rate: float, seed: int,
                   overwrite: bool, folder: Optional[str] = None,
                   prepared: Optional[str] = None, image_size: Optional[int] = None,
                   channels: Optional[int] = None) -> int:
  """Trains, evaluates and saves the classifier; prints the held-out accuracy.

  The images are a TFDS dataset (``dataset``, ``data_dir``), IDX files
  (``idx_dir``), a folder of class subfolders (``folder``, decoded at
  ``image_size`` with ``channels`` as a run decodes it) or a labelled prepared
  dataset (``prepared``). A folder or prepared dataset has one split, "train":
  unless ``test_split`` names other images, a random 20% of ``train_split`` is
  held out; such a classifier has no default directory (``workdir`` is needed).

  The directory is checked before the data is loaded and long before training
  ends: a classifier that cannot be written is not trained.

  Args:
    dataset: the TFDS name, or a label (with ``idx_dir``); None: "mnist", or the
      name of ``folder``/``prepared``.
    test_split: None: "test", or the random hold-out of a folder or prepared
      dataset.

  Returns:
    The command's exit code (0).
  """
  check_sources(idx_dir, data_dir, folder, prepared, image_size, channels, workdir)
  images_dir = folder or prepared
  name = dataset or (Path(images_dir).expanduser().absolute().name if images_dir
                     else "mnist")
  directory = (Path(workdir).expanduser().absolute() if workdir else
               classifier.default_dir(classifier.dataset_key(name, idx_dir)))
  paths.check_writable_dir(directory, f"the classifier to {directory}")
  if (directory / classifier.METADATA_FILE).exists() and not overwrite:
    old = classifier.read_metadata(directory)
    raise UserError(f"{directory} already holds a classifier (accuracy "
                    f"{old['accuracy']:.4f}); pass --overwrite to replace it")
  for flag, value in (("--idx_dir", idx_dir), ("--folder", folder),
                      ("--prepared", prepared)):
    if value is not None:
      paths.check_input_dir(value, flag)
  if folder is not None:
    train_ds, test_ds = load_folder_splits(
        folder, train_split, test_split, image_size or folder_lib.DEFAULT_IMAGE_SIZE,
        channels, seed)
  elif prepared is not None:
    train_ds, test_ds = load_prepared_splits(prepared, train_split, test_split, seed)
  else:
    train_ds, test_ds = load_splits(name, train_split, test_split or "test", idx_dir,
                                    data_dir)
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
      "dataset": {"name": name, "source": train_ds.name,
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
  print(f"Held-out accuracy {accuracy:.2%} on {name} {test_ds.split} "
        f"({len(test_ds.images)} images); trained on {train_ds.split} "
        f"({len(train_ds.images)} images) for {steps} steps.\n"
        f"Classifier written to {directory} (params sha256 "
        f"{metadata['params_sha256'][:16]}...)")
  if images_dir is not None:
    print(f"Score a run on these images with: python -m ganjax.eval --workdir RUN "
          f"--classifier {directory} (or train it with "
          f"--config.eval.classifier_dir={directory})")
  return 0
