"""Loading whole image datasets into host memory, from TFDS or IDX files.

:func:`load_dataset` is the entry point. With ``idx_dir`` it reads
MNIST-format IDX files and never touches TensorFlow; otherwise it goes
through TFDS, which is imported only then because importing TensorFlow takes
seconds and claims accelerators.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import logging
import os
import re
import socket
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ganjax.data import idx
from ganjax.data.errors import DataError, describe_cause

_LOG = logging.getLogger(__name__)
_IDX_DIR_FLAG = "--config.data.idx_dir=DIR"
# Bytes of image data hashed by dataset_fingerprint: enough to tell datasets
# and orderings apart without hashing gigabytes on every checkpoint.
_FINGERPRINT_BYTES = 1 << 20
# Examples per tf.data batch when draining a TFDS split. tfds's own
# batch_size=-1 batches `total_num_examples or sys.maxsize`, which aborts the
# process inside TF 2.21 whenever split sizes are unknown (e.g. under
# tfds.testing.mock_data), so we batch in bounded chunks and concatenate.
_TFDS_BATCH = 4096


@dataclasses.dataclass(frozen=True, eq=False)  # eq on arrays is ambiguous.
class ImageDataset:
  """A labelled or unlabelled image dataset held in host memory.

  Attributes:
    images: uint8 array of shape (N, H, W, C); C is 1 for grayscale.
    labels: int32 array of shape (N,), or None when there are no labels.
    num_classes: Number of label classes, or None without labels.
    name: Where the data came from, e.g. ``"mnist"`` or ``"idx:/abs/dir"``.
    split: The split actually read, e.g. ``"train"`` or ``"test[:5000]"``.
    class_names: The name of each class in label order, when the data names
      them (a folder of class subfolders), else None.
  """

  images: np.ndarray
  labels: np.ndarray | None
  num_classes: int | None
  name: str
  split: str
  class_names: tuple[str, ...] | None = None

  def __post_init__(self) -> None:
    if self.images.dtype != np.uint8 or self.images.ndim != 4:
      raise ValueError(
          f"images must be uint8 (N, H, W, C), got {self.images.dtype} {self.images.shape}"
      )
    if self.labels is not None and (
        self.labels.dtype != np.int32 or self.labels.shape != self.images.shape[:1]
    ):
      raise ValueError(
          f"labels must be int32 of shape ({len(self.images)},), got "
          f"{self.labels.dtype} {self.labels.shape}"
      )
    if self.class_names is not None and len(self.class_names) != self.num_classes:
      raise ValueError(
          f"{len(self.class_names)} class names for {self.num_classes} classes"
      )


def load_dataset(
    name: str,
    split: str,
    idx_dir: str | None = None,
    data_dir: str | None = None,
) -> ImageDataset:
  """Loads one split of an image dataset into memory.

  Args:
    name: TFDS dataset name, e.g. ``"mnist"`` or ``"cifar10"``. Ignored when
      ``idx_dir`` is given.
    split: Split with optional TFDS-style slice: ``"train"``,
      ``"test[:5000]"``, ``"train[90%:]"``.
    idx_dir: Directory of MNIST-format IDX files. When set, TFDS is not used.
    data_dir: TFDS data directory; None means TFDS's default.

  Returns:
    The loaded dataset.

  Raises:
    DataError: If the data cannot be found, downloaded, parsed or sliced.
  """
  if idx_dir is not None:
    return _load_idx_dir(idx_dir, split)
  return _load_tfds(name, split, data_dir)


def dataset_fingerprint(ds: ImageDataset) -> dict[str, Any]:
  """Summarizes a dataset for checkpoint metadata.

  Args:
    ds: The dataset.

  Returns:
    JSON-serializable ``{name, split, num_examples, shape, sha256}`` where
    ``shape`` is the full images shape and ``sha256`` hashes the first MiB
    of image bytes (which also pins the example order).
  """
  head = np.ascontiguousarray(ds.images).reshape(-1)[:_FINGERPRINT_BYTES]
  return {
      "name": ds.name,
      "split": ds.split,
      "num_examples": int(ds.images.shape[0]),
      "shape": [int(d) for d in ds.images.shape],
      "sha256": hashlib.sha256(head.tobytes()).hexdigest(),
  }


# ---------------------------------------------------------------------------
# Split strings. TFDS parses its own; for IDX we accept the same "name[a:b]"
# grammar with the same rounding so a split means the same thing either way.
# ---------------------------------------------------------------------------

# Copied from tensorflow_datasets/core/splits.py so the grammars match.
_SUB_SPEC_RE = re.compile(r"^(?P<name>[\w-]+)(\[(?P<selector>[\d\w%:.-]+)\])?$")
_SLICE_RE = re.compile(r"^((?P<val>-?[\d_.]+)(?P<unit>(?:%|shard))?)?$")


@dataclasses.dataclass(frozen=True)
class SplitSpec:
  """A parsed ``name[start:stop]`` split string.

  Attributes:
    name: Split name, e.g. ``"train"``.
    selector: The bracketed part verbatim (``"[:5000]"``) or ``""``.
    start: Slice start (examples, or percent when ``percent``); None = open.
    stop: Slice stop, likewise.
    percent: Whether start/stop are percentages of the split size.
  """

  name: str
  selector: str = ""
  start: int | float | None = None
  stop: int | float | None = None
  percent: bool = False


def parse_split(split: str) -> SplitSpec:
  """Parses a split string with an optional example or percent slice.

  Accepts the subset of TFDS's syntax that makes sense for a pair of files:
  ``"train"``, ``"train[:5000]"``, ``"test[-1000:]"``, ``"train[10%:90%]"``.
  As in TFDS, one ``%`` makes both bounds percentages.

  Args:
    split: The split string.

  Returns:
    The parsed split.

  Raises:
    DataError: On syntax TFDS would reject, and on shard slices or ``+``
      unions, which IDX directories do not support.
  """
  match = _SUB_SPEC_RE.match(split.strip())
  if match is None:
    raise _bad_split(split)
  name, inner = match["name"], match["selector"]
  if inner is None:
    return SplitSpec(name=name)
  bounds = [_SLICE_RE.match(part) for part in inner.split(":")]
  if len(bounds) != 2 or not all(bounds) or not any(b.group(0) for b in bounds):
    raise _bad_split(split)
  units = {b["unit"] for b in bounds if b["unit"]}
  if "shard" in units:
    raise _bad_split(split, "shard slices need TFDS")
  percent = "%" in units
  try:
    start, stop = (_bound(b["val"], percent) for b in bounds)
  except ValueError:  # e.g. "1.5" as an example index, or "_".
    raise _bad_split(split) from None
  return SplitSpec(name, f"[{inner}]", start, stop, percent)


def resolve_split(spec: SplitSpec, num_examples: int, source: str) -> slice:
  """Turns a parsed split into absolute indices, exactly as TFDS does.

  Percent bounds round to the closest example (Python's ``round``, so
  halves go to even), negative bounds count from the end, and bounds beyond
  the split size are errors rather than being clipped.

  Args:
    spec: The parsed split.
    num_examples: Size of the named split.
    source: Where the split comes from, for error messages.

  Returns:
    A slice with non-negative bounds.

  Raises:
    DataError: If a bound lies outside the split.
  """
  start, stop = spec.start, spec.stop
  if spec.percent:
    start = 0 if start is None else int(round(start * num_examples / 100.0))
    stop = num_examples if stop is None else int(round(stop * num_examples / 100.0))
  else:
    start = 0 if start is None else start
    stop = num_examples if stop is None else stop
  if abs(start) > num_examples or abs(stop) > num_examples:
    raise DataError(
        f"Split '{spec.name}{spec.selector}' reaches past the {num_examples} "
        f"examples of '{spec.name}' in {source}."
    )
  return slice(
      start + num_examples if start < 0 else start,
      stop + num_examples if stop < 0 else stop,
  )


def _bound(value: str | None, percent: bool) -> int | float | None:
  """Converts one slice bound the way TFDS does (float for %, else int)."""
  if value is None:
    return None
  return float(value) if percent else int(value)


def _bad_split(split: str, why: str = "") -> DataError:
  """Builds the DataError for an unparsable split string."""
  detail = f" ({why})" if why else ""
  return DataError(
      f"Split {split!r} is not of the form 'name', 'name[from:to]' or "
      f"'name[from%:to%]'{detail}; e.g. 'train', 'test[:5000]', 'train[90%:]'."
  )


# ---------------------------------------------------------------------------
# IDX directories.
# ---------------------------------------------------------------------------


def _load_idx_dir(idx_dir: str, split: str) -> ImageDataset:
  """Loads a split from a directory of MNIST-format IDX files."""
  directory = Path(os.path.abspath(os.path.expanduser(idx_dir)))
  if not directory.is_dir():
    raise DataError(f"idx_dir {directory} does not exist or is not a directory.")
  spec = parse_split(split)
  if spec.name not in idx.SPLIT_PREFIXES:
    raise DataError(
        f"idx_dir {directory} can only provide the 'train' and 'test' splits, "
        f"not {spec.name!r}."
    )
  used_name, files = _locate_split(directory, spec.name)
  images, labels = _read_split_files(files)
  if used_name != spec.name:
    # Deliberately not an error: the offline MNIST copy ships only the
    # test split, and training on it beats not training at all.
    _LOG.warning(
        "idx_dir %s holds no '%s' split; using its '%s' files (%d images)",
        directory, spec.name, used_name, len(images),
    )
  # Counted before slicing, so every slice of a split agrees on the count.
  num_classes = int(labels.max()) + 1 if labels is not None and labels.size else None
  window = resolve_split(spec, len(images), f"idx_dir {directory}")
  return ImageDataset(
      images=_take(images, window),
      labels=None if labels is None else _take(labels, window),
      num_classes=num_classes,
      name=f"idx:{directory}",
      split=used_name + spec.selector,
  )


def _locate_split(directory: Path, wanted: str) -> tuple[str, idx.SplitFiles]:
  """Finds the wanted split's files, else the other split's; returns (name, files)."""
  for name in [wanted] + [s for s in idx.SPLIT_PREFIXES if s != wanted]:
    files = idx.find_split_files(directory, name)
    if files is not None:
      return name, files
  looked_for = ", ".join(
      f"{idx.image_file_names(s)[0]}[.gz]" for s in idx.SPLIT_PREFIXES
  )
  raise DataError(
      f"idx_dir {directory} holds no MNIST-format image files; looked for "
      f"{looked_for} (also '.idx3-ubyte' and idx4 variants)."
  )


def _read_split_files(files: idx.SplitFiles) -> tuple[np.ndarray, np.ndarray | None]:
  """Reads and validates a split's images and (optional) labels."""
  images = _as_images(files.images, idx.read_idx(files.images))
  if files.labels is None:
    return images, None
  labels = _as_labels(files.labels, idx.read_idx(files.labels))
  if len(labels) != len(images):
    raise DataError(
        f"{files.images} holds {len(images)} images but {files.labels} "
        f"holds {len(labels)} labels."
    )
  return images, labels


def _as_images(path: Path, array: np.ndarray) -> np.ndarray:
  """Checks an IDX array holds uint8 images; returns it as (N, H, W, C)."""
  if array.dtype != np.uint8 or array.ndim not in (3, 4):
    raise DataError(
        f"{path} holds {array.dtype} data of shape {array.shape}, not uint8 "
        f"images of shape (N, H, W) or (N, H, W, C)."
    )
  return array[..., np.newaxis] if array.ndim == 3 else array


def _as_labels(path: Path, array: np.ndarray) -> np.ndarray:
  """Checks an IDX array holds class labels; returns them as int32."""
  if array.ndim != 1 or array.dtype.kind not in "iu":
    raise DataError(
        f"{path} holds {array.dtype} data of shape {array.shape}, not one "
        f"integer label per image."
    )
  if array.size and array.min() < 0:
    raise DataError(f"{path} holds negative labels; class labels must be 0 or more.")
  return array.astype(np.int32)


def _take(array: np.ndarray, window: slice) -> np.ndarray:
  """Slices along the first axis, copying so a small slice frees the full array."""
  part = array[window]
  return array if part.shape[0] == array.shape[0] else part.copy()


# ---------------------------------------------------------------------------
# TFDS.
# ---------------------------------------------------------------------------


def _load_tfds(name: str, split: str, data_dir: str | None) -> ImageDataset:
  """Loads a split of a TFDS image dataset, downloading it if needed."""
  stream = stream_tfds(name, split, data_dir)
  parts = list(stream.chunks)
  images = _concat([p[0] for p in parts], (0, *stream.image_shape), np.uint8)
  labels = (None if stream.num_classes is None else
            _concat([p[1] for p in parts], (0,), np.int32))
  return ImageDataset(images=images, labels=labels, num_classes=stream.num_classes,
                      name=name, split=split, class_names=stream.class_names)


@dataclasses.dataclass(frozen=True)
class TfdsStream:
  """A split of a TFDS image dataset, read a few thousand examples at a time.

  Attributes:
    image_shape: (H, W, C) of every image.
    num_classes: classes of the ``label`` feature, or None without one.
    class_names: the label feature's class names, in label order.
    chunks: (uint8 images, int32 labels or None) in the split's order.
  """
  image_shape: tuple[int, int, int]
  num_classes: int | None
  class_names: tuple[str, ...] | None
  chunks: Iterator[tuple[np.ndarray, np.ndarray | None]]


def stream_tfds(name: str, split: str, data_dir: str | None = None) -> TfdsStream:
  """Opens a split of a TFDS image dataset (downloading it if needed) to read in
  chunks, so a split larger than memory can be written elsewhere (``ganjax.prepare``).

  Raises:
    DataError: as :func:`load_dataset`; errors while reading surface from ``chunks``.
  """
  tfds = _import_tfds()
  _check_tfds_split_syntax(tfds, split)
  builder = _tfds_builder(tfds, name, data_dir)
  image_feature, label_feature = _tfds_features(tfds, builder, name)
  _ensure_prepared(tfds, builder, name)
  labelled = label_feature is not None
  names = tuple(label_feature.names) if labelled and label_feature.names else None
  return TfdsStream(
      image_shape=tuple(int(d) for d in image_feature.shape),
      num_classes=int(label_feature.num_classes) if labelled else None,
      class_names=names,
      chunks=_read_tfds_split(tfds, builder, name, split, with_labels=labelled))


def _import_tfds() -> Any:
  """Imports TFDS with TensorFlow barred from GPUs and its start-up notices
  (oneDNN, CUDA probing) and TFDS's download bars silenced: ganjax reports what
  matters in its own words."""
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  try:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise DataError(
        f"reading a TFDS dataset needs TensorFlow and tensorflow-datasets "
        f"({describe_cause(e)}); pip install tensorflow-cpu tensorflow-datasets, or "
        f"train on IDX files ({_IDX_DIR_FLAG}), a folder (--config.data.folder=DIR) "
        "or a prepared dataset (--config.data.prepared=DIR), which need neither"
    ) from e
  try:
    # TF would otherwise reserve most of every GPU's memory for itself,
    # leaving none for JAX; it is only used here to decode examples.
    tf.config.set_visible_devices([], "GPU")
  except (RuntimeError, ValueError):
    pass  # TF was initialized earlier by someone else; nothing we can change.
  tfds.disable_progress_bar()
  return tfds


def _check_tfds_split_syntax(tfds: Any, split: str) -> None:
  """Rejects malformed split strings before anything is downloaded."""
  try:
    tfds.core.ReadInstruction.from_spec(split)
  except (ValueError, NotImplementedError) as e:
    raise DataError(
        f"Split {split!r} is not valid TFDS split syntax ({describe_cause(e)})."
    ) from e


def _tfds_builder(tfds: Any, name: str, data_dir: str | None) -> Any:
  """Returns the TFDS builder for ``name``."""
  try:
    with _quiet_tfds(banner=False):
      return tfds.builder(name, data_dir=data_dir)
  except tfds.core.DatasetNotFoundError:
    raise DataError(
        f"'{name}' is not a TFDS dataset (tfds.list_builders() lists them); to "
        f"read MNIST-format IDX files instead pass {_IDX_DIR_FLAG}."
    ) from None
  except (ValueError, AssertionError) as e:  # Bad config or version suffix.
    raise DataError(f"Cannot open TFDS dataset '{name}' ({describe_cause(e)}).") from e


def _tfds_features(tfds: Any, builder: Any, name: str) -> tuple[Any, Any]:
  """Returns the ('image' feature, 'label' ClassLabel feature or None).

  Raises:
    DataError: Without a fixed-shape uint8 'image' feature, which is what
      batching the whole split into one array requires.
  """
  features = builder.info.features
  image = features["image"] if "image" in features.keys() else None
  if not isinstance(image, tfds.features.Image):
    raise DataError(
        f"TFDS dataset '{name}' has no 'image' feature "
        f"(features: {', '.join(features.keys())})."
    )
  if None in image.shape or np.dtype(image.np_dtype) != np.uint8:
    raise DataError(
        f"TFDS dataset '{name}' has images of shape {image.shape} and dtype "
        f"{np.dtype(image.np_dtype)}; only fixed-size uint8 images are supported."
    )
  label = features["label"] if "label" in features.keys() else None
  # Only class labels have a meaning a conditional GAN can use.
  return image, label if isinstance(label, tfds.features.ClassLabel) else None


def _ensure_prepared(tfds: Any, builder: Any, name: str) -> None:
  """Downloads and prepares the dataset unless a prepared copy exists."""
  with _quiet_tfds(banner=False):
    if builder.is_prepared():
      return
    unresolvable = _unresolvable_download_hosts(builder)
    root = builder.data_dir_root
  try:
    # TFDS retries each URL 10 times with exponential backoff (~200 s in
    # total) even when DNS says the host does not exist. Retrying cannot
    # help then, so try once and report at once.
    print(f"Downloading and preparing TFDS dataset '{name}' into {root} (first use "
          "only)...", flush=True)
    # TFDS's own banner and warnings about the folder it is filling say less.
    with _tfds_download_retries(0 if unresolvable else None), _quiet_tfds():
      builder.download_and_prepare()
  except _tfds_prepare_errors(tfds) as e:
    reason = f"cannot resolve {', '.join(unresolvable)}" if unresolvable else describe_cause(e)
    raise DataError(
        f"TFDS could not download/prepare '{name}' into {root} "
        f"({reason}); to train offline pass {_IDX_DIR_FLAG}, a directory of "
        f"MNIST-format IDX files."
    ) from e


@contextlib.contextmanager
def _quiet_tfds(banner: bool = True) -> Iterator[None]:
  """Silences TFDS's absl warnings (about the folders it is about to fill) and,
  with ``banner``, what it prints to stdout."""
  from absl import logging as absl_logging
  verbosity = absl_logging.get_verbosity()
  absl_logging.set_verbosity(absl_logging.ERROR)
  try:
    with contextlib.redirect_stdout(io.StringIO()) if banner else contextlib.nullcontext():
      yield
  finally:
    absl_logging.set_verbosity(verbosity)


def _tfds_prepare_errors(tfds: Any) -> tuple[type[BaseException], ...]:
  """Exceptions meaning "TFDS could not download/prepare", as seen in practice."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorflow_datasets.core.download import (  # pylint: disable=g-import-not-at-top
      download_manager, extractor)

  return (
      OSError,  # Includes requests' ConnectionError: the offline case.
      tf.errors.OpError,  # gfile failures while writing the prepared files.
      tfds.download.DownloadError,  # HTTP error statuses.
      download_manager.NonMatchingChecksumError,
      extractor.ExtractError,
      AssertionError,  # TFDS's way to say "manual download required".
  )


def _unresolvable_download_hosts(builder: Any) -> list[str]:
  """Returns the builder's download hosts if DNS resolves none of them, else [].

  An empty list means "go ahead": some host resolves, the builder declares
  no URLs, or a proxy (which resolves names itself) is configured.
  """
  if urllib.request.getproxies():
    return []
  urls = builder.url_infos or {}
  hosts = sorted({urllib.parse.urlsplit(url).hostname or "" for url in urls} - {""})
  return [] if any(_resolves(host) for host in hosts) else hosts


def _resolves(host: str) -> bool:
  """Whether DNS knows ``host``."""
  try:
    socket.getaddrinfo(host, None)
  except (OSError, UnicodeError):
    return False
  return True


@contextlib.contextmanager
def _tfds_download_retries(retries: int | None) -> Iterator[None]:
  """Temporarily sets how often TFDS retries a failed HTTP request.

  TFDS has no public setting for this, so the module constant it reads on
  every request is swapped and restored. None, or a TFDS version without the
  constant, leaves TFDS's behaviour unchanged.
  """
  from tensorflow_datasets.core.download import \
      downloader  # pylint: disable=g-import-not-at-top

  if retries is None or not hasattr(downloader, "MAX_RETRIES"):
    yield
    return
  saved = downloader.MAX_RETRIES
  downloader.MAX_RETRIES = retries
  try:
    yield
  finally:
    downloader.MAX_RETRIES = saved


def _read_tfds_split(tfds: Any, builder: Any, name: str, split: str, *,
                     with_labels: bool) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
  """Reads a prepared split as chunks of (uint8 images, int32 labels or None)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  keys = ("image", "label") if with_labels else ("image",)
  try:
    ds = builder.as_dataset(split=split, batch_size=_TFDS_BATCH)
    # Dropping other features here avoids copying them into numpy.
    ds = ds.map(lambda example: {k: example[k] for k in keys})
    for batch in tfds.as_numpy(ds):
      yield (np.asarray(batch["image"], np.uint8),
             np.asarray(batch["label"], np.int32) if with_labels else None)
  except ValueError as e:  # Unknown split name or slice out of range.
    raise DataError(
        f"Cannot read split {split!r} of TFDS dataset '{name}' ({describe_cause(e)})."
    ) from e
  except tf.errors.OpError as e:
    raise DataError(
        f"The prepared TFDS files of '{name}' under {builder.data_dir} are "
        f"unreadable ({describe_cause(e)}); delete that directory to re-prepare."
    ) from e


def _concat(parts: list[np.ndarray], empty_shape: tuple[int, ...], dtype: type) -> np.ndarray:
  """Concatenates batches as ``dtype``; an empty split gives an empty array."""
  if not parts:
    return np.zeros(empty_shape, dtype)
  return np.concatenate(parts).astype(dtype, copy=False)
