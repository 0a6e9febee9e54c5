"""From ``config.data`` to the arrays the trainer keeps on the devices.

Three kinds of data end up in one ``examples`` dict of equally long arrays:

* unconditional / class-conditional: uint8 ``image`` and, when the data is
  labelled, int32 ``label``;
* image-to-image, from a pair transform (``data.pairs``) of any dataset: the
  dataset's images are the targets (``image``), the transform makes ``input``;
* image-to-image, from a pix2pix-style paired folder (``data.paired_dir``).

Where the images come from: ``data.paired_dir``, else a folder of images
(``data.folder``, :mod:`ganjax.data.folder`), else the builtin
``data.name="skimage_photos"``, else :func:`ganjax.data.load_dataset` (IDX files
with ``data.idx_dir``, otherwise TFDS).
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import numpy as np

from ganjax.data import folder, photos
from ganjax.data.errors import DataError
from ganjax.data.paired_folder import load_paired_folder
from ganjax.data.pairs import make_inputs
from ganjax.data.prepared import PreparedSource
from ganjax.data.sources import ImageDataset, load_dataset


def load_examples(data: Any) -> tuple[ImageDataset, dict[str, np.ndarray]]:
  """The dataset ``config.data`` names and its training arrays.

  Returns:
    The dataset (its ``images`` are the targets, which fix the model's image
    shape) and ``{"image": uint8, "label": int32 (if labelled), "input": uint8
    (paired data)}``.

  Raises:
    DataError: the data cannot be loaded or paired as configured.
  """
  _check_one_source(data)
  if data.paired_dir is not None:
    if data.pairs != "none":
      raise DataError(f"config.data.paired_dir already holds (input, target) pairs; "
                      f"unset config.data.pairs ({data.pairs!r}) or paired_dir")
    dataset, inputs = load_paired_folder(data.paired_dir, data.split,
                                         direction=data.paired_direction,
                                         image_size=data.image_size)
  else:
    if data.get("folder") is not None:
      dataset = load_folder(data, data.split)
    elif data.get("prepared") is not None:
      source = PreparedSource(data.prepared, data.split)
      rows = source.read_all()
      dataset = source.dataset(rows["image"], rows.get("label"))
    elif data.name == photos.NAME:
      dataset = photos.load_photo_patches(data.split, patch_size=data.patch_size,
                                          stride=data.patch_stride,
                                          scale=data.photo_scale)
    else:
      dataset = load_dataset(data.name, data.split, idx_dir=data.idx_dir,
                             data_dir=data.data_dir)
    inputs = make_inputs(data.pairs, dataset.images, seed=data.pair_seed,
                         mask_fraction=data.mask_fraction)
  return dataset, _arrays(dataset, inputs)


def _arrays(dataset: ImageDataset, inputs: np.ndarray | None = None
            ) -> dict[str, np.ndarray]:
  """The training arrays of ``dataset``: ``image``, ``label`` (if labelled) and
  ``input`` (paired data)."""
  examples = {"image": dataset.images}
  if dataset.labels is not None:
    examples["label"] = dataset.labels.astype(np.int32)
  if inputs is not None:
    examples["input"] = inputs
  return examples


def _check_one_source(data: Any) -> None:
  """Raises DataError when ``data`` names its images twice, or a folder experiment
  has no folder."""
  named = [key for key in ("folder", "prepared", "idx_dir", "paired_dir")
           if data.get(key) is not None]
  if not named[:1] and data.name == folder.NAME:
    raise DataError("this experiment trains on a folder of images: name it with "
                    "--config.data.folder=DIR (or --config.data.prepared=DIR once "
                    "prepared with python -m ganjax.prepare)")
  if len(named) > 1 and named[0] in ("folder", "prepared"):
    raise DataError(f"config.data.{named[0]} and config.data.{named[1]} both name the "
                    "training images; set only one of them")
  if data.get("prepared") is not None and data.pairs != "none":
    raise DataError(f"config.data.pairs={data.pairs!r} makes inputs from data held in "
                    "memory, not from a prepared dataset; prepare a pix2pix folder's "
                    "pairs elsewhere or train on the unprepared data")


def load_folder(data: Any, split: str, channels: int | None = None) -> ImageDataset:
  """``split`` of the folder ``config.data`` names, as the run's config decodes it.

  Args:
    data: ``config.data`` with ``folder`` set.
    split: "train" or a slice of it.
    channels: overrides ``data.channels`` (evaluation asks for the channels the
      run was trained on).
  """
  return folder.load_image_folder(
      data.folder, split, image_size=data.get("image_size") or folder.DEFAULT_IMAGE_SIZE,
      channels=data.get("channels") if channels is None else channels)


@dataclasses.dataclass(frozen=True, eq=False)
class TrainingData:
  """What a run trains on.

  Attributes:
    dataset: describes the data; its ``images`` are all of them, or when
      ``stream`` is set, only a random subset of rows.
    examples: the arrays of :func:`load_examples`: all rows, or (streamed) the
      same subset, which serves sample grids and periodic evaluation.
    num_examples: examples trained on.
    identity: :func:`data_identity` (the same for a prepared dataset in memory
      and streamed).
    stream: the prepared dataset each step reads its batch from, or None when
      all examples are in ``examples``.
  """
  dataset: ImageDataset
  examples: dict[str, np.ndarray]
  num_examples: int
  identity: dict[str, Any]
  stream: PreparedSource | None = None


def in_memory(dataset: ImageDataset, examples: dict[str, np.ndarray]) -> TrainingData:
  """Training data already loaded (benchmarks give their own)."""
  return TrainingData(dataset, examples, len(dataset.images),
                      data_identity(dataset, examples))


def load_training_data(data: Any, head_rows: int, seed: int = 0) -> TrainingData:
  """The training data ``config.data`` names: in memory, or streamed when it is a
  prepared dataset larger than ``data.host_budget_mb``.

  Args:
    data: ``config.data``.
    head_rows: rows a streamed dataset keeps in memory (sample grids, evaluation).
    seed: picks those rows at random (a class-sorted dataset's first rows would
      all be of one class).

  Raises:
    DataError: the data cannot be loaded or paired as configured.
  """
  if data.get("prepared") is not None:
    _check_one_source(data)
    source = PreparedSource(data.prepared, data.split)
    if source.megabytes > data.host_budget_mb:
      head = source.sample(max(1, min(head_rows, len(source))), seed)
      return TrainingData(head, _arrays(head), len(source), source.identity(),
                          stream=source)
    dataset, examples = load_examples(data)
    return TrainingData(dataset, examples, len(source), source.identity())
  return in_memory(*load_examples(data))


def data_identity(dataset: ImageDataset, examples: dict[str, np.ndarray]) -> dict[str, Any]:
  """What a run trains on, recorded in its checkpoints: a resume must see the same.

  The fingerprint hashes every byte of every array (images, labels, inputs) in
  their stored order, so moving the files elsewhere keeps it and changing any
  of them changes it. ``source`` and ``split`` are for people, not compared.
  """
  digest = hashlib.sha256()
  for name in sorted(examples):
    array = np.ascontiguousarray(examples[name])
    digest.update(f"{name}:{array.dtype}:{array.shape};".encode())
    digest.update(memoryview(array).cast("B"))
  return {"source": dataset.name, "split": dataset.split,
          "num_examples": int(len(dataset.images)),
          "image_shape": [int(d) for d in dataset.images.shape[1:]],
          "fingerprint": digest.hexdigest()}


def identity_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
  """How the data a run was trained on (``saved``) differs from ``current``.

  Keys ``saved`` lacks (older checkpoints) are not compared.
  """
  differences = []
  if "image_shape" in saved and list(saved["image_shape"]) != current["image_shape"]:
    shape = lambda s: "x".join(map(str, s))
    differences.append(f"image shape {shape(saved['image_shape'])} -> "
                       f"{shape(current['image_shape'])}")
  if "num_examples" in saved and saved["num_examples"] != current["num_examples"]:
    differences.append(f"{saved['num_examples']:,} -> {current['num_examples']:,} examples")
  if "fingerprint" in saved and saved["fingerprint"] != current["fingerprint"]:
    differences.append(f"content fingerprint {saved['fingerprint'][:12]} -> "
                       f"{current['fingerprint'][:12]}")
  return differences
