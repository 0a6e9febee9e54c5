"""From ``config.data`` to the arrays the trainer keeps on the devices.

Three kinds of data end up in one ``examples`` dict of equally long arrays:

* unconditional / class-conditional: uint8 ``image`` and, when the data is
  labelled, int32 ``label``;
* image-to-image, from a pair transform (``data.pairs``) of any dataset: the
  dataset's images are the targets (``image``), the transform makes ``input``;
* image-to-image, from a pix2pix-style paired folder (``data.paired_dir``).

Where the images come from: ``data.paired_dir``, else the builtin
``data.name="skimage_photos"``, else :func:`ganjax.data.load_dataset` (IDX files
with ``data.idx_dir``, otherwise TFDS).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ganjax.data import photos
from ganjax.data.errors import DataError
from ganjax.data.pairs import make_inputs
from ganjax.data.paired_folder import load_paired_folder
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
  if data.paired_dir is not None:
    if data.pairs != "none":
      raise DataError(f"config.data.paired_dir already holds (input, target) pairs; "
                      f"unset config.data.pairs ({data.pairs!r}) or paired_dir")
    dataset, inputs = load_paired_folder(data.paired_dir, data.split,
                                         direction=data.paired_direction,
                                         image_size=data.image_size)
  else:
    if data.name == photos.NAME:
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
