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

import hashlib
from typing import Any

import numpy as np

from ganjax.data import folder, photos
from ganjax.data.errors import DataError
from ganjax.data.paired_folder import load_paired_folder
from ganjax.data.pairs import make_inputs
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
    elif data.name == photos.NAME:
      dataset = photos.load_photo_patches(data.split, patch_size=data.patch_size,
                                          stride=data.patch_stride,
                                          scale=data.photo_scale)
    else:
      dataset = load_dataset(data.name, data.split, idx_dir=data.idx_dir,
                             data_dir=data.data_dir)
    inputs = make_inputs(data.pairs, dataset.images, seed=data.pair_seed,
                         mask_fraction=data.mask_fraction)
  examples = {"image": dataset.images}
  if dataset.labels is not None:
    examples["label"] = dataset.labels.astype(np.int32)
  if inputs is not None:
    examples["input"] = inputs
  return dataset, examples


def _check_one_source(data: Any) -> None:
  """Raises DataError when ``data`` names its images twice, or a folder experiment
  has no folder."""
  if data.get("folder") is None:
    if data.name == folder.NAME:
      raise DataError("this experiment trains on a folder of images: name it with "
                      "--config.data.folder=DIR")
    return
  for key in ("idx_dir", "paired_dir"):
    if data.get(key) is not None:
      raise DataError(f"config.data.folder and config.data.{key} both name the training "
                      f"images; set only one of them")


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
