"""Prepared datasets: decoded images in ArrayRecord shards, read by random access.

``python -m ganjax.prepare`` writes a dataset once into a directory::

  DATA/metadata.json                    count, image shape, class names, fingerprint
  DATA/images-00000-of-00004.array_record   one record per example

A record is the example's uint8 pixels (H*W*C bytes, row-major) followed, for
labelled data, by its int32 label (4 bytes, little-endian): fixed-size records
need no decoding, so reading a batch costs one random read per example.

Training reads a prepared dataset through grain's ``ArrayRecordDataSource``:
either whole into host memory when it fits ``data.host_budget_mb`` (then it is
an in-memory dataset like any other), or batch by batch (:class:`StepReader`),
which keeps host memory bounded whatever the dataset's size. Either way the
examples of a step are those of :func:`ganjax.data.pipeline.step_indices`, a pure
function of (seed, step), so both give bit-identical training and a resumed run
reads exactly what an uninterrupted one would.

The fingerprint is the one :func:`ganjax.data.examples.data_identity` computes
for the same examples held in memory, so a run may move between the two paths.
"""

from __future__ import annotations

import array
import concurrent.futures
import dataclasses
import datetime
import hashlib
import json
import logging
import os
import shutil
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import tqdm

from ganjax.data.errors import DataError, describe_cause
from ganjax.data.sources import ImageDataset, parse_split, resolve_split

_LOG = logging.getLogger(__name__)
FORMAT = "ganjax-prepared"
VERSION = 1
METADATA = "metadata.json"
_LABEL_BYTES = 4
# Records per read when a whole dataset or the fingerprint pass reads in order.
_CHUNK = 4096
# Images decoded at a time by prepare_folder, and its decoding threads.
_DECODE_CHUNK = 256
_DECODE_THREADS = min(8, os.cpu_count() or 1)


class NoExamplesError(DataError):
  """:func:`write_prepared` was given no example."""


@dataclasses.dataclass(frozen=True)
class PreparedInfo:
  """What ``metadata.json`` of a prepared dataset records."""
  num_examples: int
  image_shape: tuple[int, int, int]
  num_classes: int | None
  class_names: tuple[str, ...] | None
  shards: tuple[str, ...]
  fingerprint: str
  source: str

  @property
  def labelled(self) -> bool:
    return self.num_classes is not None

  @property
  def record_bytes(self) -> int:
    return int(np.prod(self.image_shape)) + (_LABEL_BYTES if self.labelled else 0)

  def to_json(self) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION,
            "num_examples": self.num_examples, "image_shape": list(self.image_shape),
            "num_classes": self.num_classes,
            "class_names": None if self.class_names is None else list(self.class_names),
            "shards": list(self.shards),
            "fingerprint": self.fingerprint, "source": self.source,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds")}


def is_prepared(directory: str | Path) -> bool:
  return (Path(directory) / METADATA).is_file()


def read_info(directory: str | Path) -> PreparedInfo:
  """The metadata of the prepared dataset in ``directory``.

  Raises:
    DataError: no prepared dataset there, a newer format, or shards missing.
  """
  directory = Path(directory)
  path = directory / METADATA
  if not path.is_file():
    what = "does not exist" if not directory.exists() else f"has no {METADATA}"
    raise DataError(f"{directory} {what}; write a prepared dataset with python -m "
                    "ganjax.prepare --folder IMAGES --out DIR")
  try:
    raw = json.loads(path.read_text())
    if raw.get("format") != FORMAT:
      raise ValueError(f"format {raw.get('format')!r}, not {FORMAT!r}")
    if raw.get("version", 0) > VERSION:
      raise DataError(f"{directory} was prepared by a newer ganjax (format version "
                      f"{raw['version']}, this one reads {VERSION}); upgrade ganjax")
    names, classes = raw["class_names"], raw["num_classes"]
    info = PreparedInfo(
        num_examples=int(raw["num_examples"]),
        image_shape=tuple(int(d) for d in raw["image_shape"]),
        num_classes=None if classes is None else int(classes),
        class_names=None if names is None else tuple(str(n) for n in names),
        shards=tuple(raw["shards"]), fingerprint=str(raw["fingerprint"]),
        source=str(raw.get("source", "")))
  except DataError:
    raise
  except (ValueError, KeyError, TypeError) as e:
    raise DataError(f"{path} is not a ganjax prepared-dataset description "
                    f"({describe_cause(e)})") from e
  missing = [s for s in info.shards if not (directory / s).is_file()]
  if missing:
    raise DataError(f"{directory} lacks {len(missing)} of its {len(info.shards)} shard "
                    f"files (first: {missing[0]}); prepare it again")
  return info


def idx_origin(info: PreparedInfo) -> str | None:
  """The IDX directory a dataset was prepared from (``ganjax.prepare --idx_dir``
  records its source as ``"idx:<dir> <split>"``), else None."""
  if not info.source.startswith("idx:"):
    return None
  return info.source[len("idx:"):].rsplit(" ", 1)[0] or None


def encode_record(image: np.ndarray, label: int | None) -> bytes:
  """One example as a record (see the module docstring)."""
  pixels = np.ascontiguousarray(image, dtype=np.uint8).tobytes()
  return pixels if label is None else pixels + np.int32(label).astype("<i4").tobytes()


def decode_records(records: list[bytes], info: PreparedInfo) -> dict[str, np.ndarray]:
  """Records to ``{"image": uint8 (n, H, W, C), "label": int32 (n,)}``."""
  size = info.record_bytes
  flat = np.frombuffer(b"".join(records), np.uint8).reshape(len(records), size)
  pixels = int(np.prod(info.image_shape))
  rows = {"image": flat[:, :pixels].reshape((len(records),) + info.image_shape)}
  if info.labelled:
    rows["label"] = flat[:, pixels:].copy().view("<i4").reshape(-1).astype(np.int32)
  return rows


def content_fingerprint(image_chunks: Iterable[np.ndarray], num_examples: int,
                        image_shape: tuple[int, ...], labels: np.ndarray | None) -> str:
  """sha256 of the examples exactly as ``data_identity`` hashes them in memory.

  ``image_chunks`` yields the images in order, in any number of pieces.
  """
  digest = hashlib.sha256()
  shape = (num_examples,) + tuple(image_shape)
  digest.update(f"image:uint8:{shape};".encode())
  for chunk in image_chunks:
    digest.update(memoryview(np.ascontiguousarray(chunk, dtype=np.uint8)).cast("B"))
  if labels is not None:
    labels = np.ascontiguousarray(labels, dtype=np.int32)
    digest.update(f"label:int32:{labels.shape};".encode())
    digest.update(memoryview(labels).cast("B"))
  return digest.hexdigest()


def write_prepared(out: str | Path, examples: Iterable[tuple[np.ndarray, int | None]],
                   image_shape: tuple[int, int, int], num_classes: int | None,
                   class_names: tuple[str, ...] | None, source: str,
                   shard_megabytes: float = 256) -> PreparedInfo:
  """Writes ``examples`` ((image, label) in order) as a prepared dataset at ``out``.

  Labels are kept when ``num_classes`` is set (``class_names``, when known, name
  them in label order).

  The shards are written into a hidden sibling directory that is renamed to
  ``out`` only when complete, so an interrupted prepare leaves nothing at ``out``.

  Raises:
    DataError: ``out`` already exists and is not empty, or no example was given.
  """
  from array_record.python import array_record_module  # pylint: disable=g-import-not-at-top
  out = Path(out).absolute()
  if out.exists() and (not out.is_dir() or any(out.iterdir())):
    raise DataError(f"{out} already exists; choose a new --out (nothing was written)")
  partial = out.parent / f".{out.name}.partial-{os.getpid()}"
  shutil.rmtree(partial, ignore_errors=True)
  partial.mkdir(parents=True)
  labelled = num_classes is not None
  per_shard = max(1, int(shard_megabytes * 2**20) // (int(np.prod(image_shape))
                                                          + _LABEL_BYTES * labelled))
  # Labels kept compactly (4 bytes each): the fingerprint hashes them at the end.
  names, labels, count, writer = [], array.array("i"), 0, None
  try:
    for image, label in examples:
      if image.shape != tuple(image_shape):
        raise ValueError(f"example {count} has shape {image.shape}, not {image_shape}")
      if count % per_shard == 0:
        if writer is not None:
          writer.close()
        names.append(f"images-{len(names):05d}.array_record")
        writer = array_record_module.ArrayRecordWriter(str(partial / names[-1]),
                                                       "group_size:1")
      writer.write(encode_record(image, label if labelled else None))
      if labelled:
        labels.append(label)
      count += 1
    if writer is not None:
      writer.close()
      writer = None
    if count == 0:
      raise NoExamplesError("no examples to prepare (nothing was written)")
    # The shard names say how many there are, as sharded files usually do.
    final = [f"images-{i:05d}-of-{len(names):05d}.array_record" for i in range(len(names))]
    for old, new in zip(names, final):
      (partial / old).rename(partial / new)
    info = PreparedInfo(count, tuple(image_shape), num_classes, class_names,
                        tuple(final), "", source)
    label_array = np.frombuffer(labels, np.int32) if labelled else None
    fingerprint = content_fingerprint(
        (rows["image"] for rows in _chunks_in_order(partial, info)), count, image_shape,
        label_array)
    info = dataclasses.replace(info, fingerprint=fingerprint)
    (partial / METADATA).write_text(json.dumps(info.to_json(), indent=1) + "\n")
    if out.exists():
      out.rmdir()
    partial.rename(out)
    return info
  finally:
    if writer is not None:
      writer.close()
    shutil.rmtree(partial, ignore_errors=True)


def _chunks_in_order(directory: Path, info: PreparedInfo) -> Iterator[dict[str, np.ndarray]]:
  source = _data_source(directory, info)
  for start in range(0, info.num_examples, _CHUNK):
    keys = list(range(start, min(start + _CHUNK, info.num_examples)))
    yield decode_records(source.__getitems__(keys), info)


def _data_source(directory: Path, info: PreparedInfo) -> Any:
  import grain  # pylint: disable=g-import-not-at-top
  return grain.sources.ArrayRecordDataSource([str(directory / s) for s in info.shards])


class PreparedSource:
  """Random access to the examples of a split of a prepared dataset.

  A split selects a contiguous window of the prepared examples ("train" is all of
  them; TFDS-style slices such as "train[:90%]" select part), so a held-out part
  needs no second preparation.
  """

  def __init__(self, directory: str | Path, split: str = "train"):
    self.directory = Path(directory).absolute()
    self.info = read_info(self.directory)
    spec = parse_split(split)
    if spec.name != "train":
      raise DataError(f"a prepared dataset has one split, 'train' (slices like "
                      f"'train[:90%]' select part of it), not {split!r}")
    window = resolve_split(spec, self.info.num_examples, str(self.directory))
    self._offset = window.start
    self._count = window.stop - window.start
    self.split = split
    self._source = _data_source(self.directory, self.info)

  def __len__(self) -> int:
    return self._count

  @property
  def megabytes(self) -> float:
    """Size of the split's arrays in memory."""
    return self._count * self.info.record_bytes / 2**20

  @property
  def image_shape(self) -> tuple[int, int, int]:
    return self.info.image_shape

  @property
  def name(self) -> str:
    return f"prepared:{self.directory}"

  def read_rows(self, indices: np.ndarray) -> dict[str, np.ndarray]:
    """Rows ``indices`` (0-based within the split) as uint8 images (and labels)."""
    keys = [self._offset + int(i) for i in np.asarray(indices).reshape(-1)]
    return decode_records(self._source.__getitems__(keys), self.info)

  def read_all(self) -> dict[str, np.ndarray]:
    """The whole split in host memory."""
    parts = [self.read_rows(np.arange(start, min(start + _CHUNK, self._count)))
             for start in range(0, self._count, _CHUNK)]
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}

  def sample(self, num: int, seed: int) -> ImageDataset:
    """``num`` examples of the split drawn at random without replacement (all of
    them when ``num`` >= its length), as an :class:`ImageDataset` in the split's
    order.

    The subset depends only on ``seed`` and the split's length, and only it is
    read (in chunks into one array), so memory follows ``num``, not the
    dataset; a class-sorted dataset yields every class in proportion.
    """
    if num < 1:
      raise ValueError(f"num must be positive, not {num}")
    if num >= self._count:
      rows = np.arange(self._count)
    else:
      rows = np.sort(np.random.default_rng(seed).choice(self._count, num, replace=False))
    images = np.empty((len(rows),) + self.info.image_shape, np.uint8)
    labels = np.empty((len(rows),), np.int32) if self.info.labelled else None
    for start in range(0, len(rows), _CHUNK):
      part = self.read_rows(rows[start:start + _CHUNK])
      images[start:start + len(part["image"])] = part["image"]
      if labels is not None:
        labels[start:start + len(part["label"])] = part["label"]
    return self.dataset(images, labels)

  def dataset(self, images: np.ndarray, labels: np.ndarray | None) -> ImageDataset:
    """An :class:`ImageDataset` describing this split, holding ``images`` (all of
    them, or a subset: :meth:`sample`, the rows a streamed run keeps)."""
    return ImageDataset(images=images, labels=labels, num_classes=self.info.num_classes,
                        name=self.name, split=self.split,
                        class_names=self.info.class_names)

  def identity(self) -> dict[str, Any]:
    """What ``data_identity`` gives for this split held in memory, without reading it.

    The stored fingerprint covers the whole prepared dataset; a slice's is
    derived from it and the window, which identifies it as well.
    """
    fingerprint = self.info.fingerprint
    if self._count != self.info.num_examples:
      fingerprint = hashlib.sha256(
          f"{fingerprint}[{self._offset}:{self._offset + self._count}]".encode()).hexdigest()
    return {"source": self.name, "split": self.split, "num_examples": self._count,
            "image_shape": list(self.info.image_shape), "fingerprint": fingerprint}



def prepare_folder(directory: str | Path, out: str | Path, image_size: int, channels: int,
                   shard_megabytes: float = 256) -> PreparedInfo:
  """Decodes the images of a folder (as ``data.folder`` reads it) into a prepared
  dataset at ``out``, holding only a few hundred images in memory at a time.

  Files that cannot be decoded are skipped and reported once, at the end, in one
  warning line, as ``data.folder`` does.

  Raises:
    DataError: no such folder, no image in it or none that decodes, or ``out``
      exists (nothing is written then).
  """
  from ganjax.data import folder  # pylint: disable=g-import-not-at-top
  if channels not in (1, 3):
    raise DataError(f"--channels must be 1 (grayscale) or 3 (RGB), not {channels!r}")
  listing = folder.scan_folder(directory)
  if not listing.files:
    raise DataError(f"folder {listing.directory} holds no PNG, JPEG or WebP images "
                    "(looked in every subfolder)")
  failures: list[tuple[Path, str]] = []
  labels = listing.labels or (None,) * len(listing.files)

  def decode(path: Path) -> np.ndarray | str:
    try:
      return folder.decode_image(path, image_size, channels)
    except folder.UnreadableImageError as e:
      return e.reason

  def decoded(bar: tqdm.tqdm) -> Iterator[tuple[np.ndarray, int | None]]:
    # Decoded in parallel (Pillow releases the GIL), a chunk at a time, in order.
    with concurrent.futures.ThreadPoolExecutor(max_workers=_DECODE_THREADS) as pool:
      for start in range(0, len(listing.files), _DECODE_CHUNK):
        files = listing.files[start:start + _DECODE_CHUNK]
        for path, label, image in zip(files, labels[start:], pool.map(decode, files)):
          bar.update(1)
          if isinstance(image, str):
            failures.append((path, image))
          else:
            yield image, label

  with tqdm.tqdm(total=len(listing.files), unit="img", desc="preparing",
                 file=sys.stderr) as bar:
    try:
      info = write_prepared(out, decoded(bar), (image_size, image_size, channels),
                            listing.num_classes, listing.class_names,
                            source=f"folder:{listing.directory}",
                            shard_megabytes=shard_megabytes)
    except NoExamplesError as e:
      raise DataError(f"folder {listing.directory} holds no usable image: none of its "
                      f"{len(listing.files)} image files could be decoded") from e
  skipped = list(listing.ignored) + failures
  if skipped:
    _LOG.warning("skipped %d file(s) in folder %s: %s", len(skipped), listing.directory,
                 folder.describe_skipped(skipped, listing.directory))
  return info


def prepare_tfds(name: str, split: str, data_dir: str | None, out: str | Path,
                 shard_megabytes: float = 256) -> PreparedInfo:
  """Writes a split of a TFDS image dataset as a prepared dataset at ``out``, a few
  thousand examples at a time: a split larger than memory is never held whole.

  Raises:
    DataError: as :func:`ganjax.data.load_dataset`, or ``out`` exists.
  """
  from ganjax.data.sources import stream_tfds  # pylint: disable=g-import-not-at-top
  stream = stream_tfds(name, split, data_dir)

  def examples(bar: tqdm.tqdm) -> Iterator[tuple[np.ndarray, int | None]]:
    for images, labels in stream.chunks:
      bar.update(len(images))
      yield from zip(images, labels.tolist() if labels is not None
                     else [None] * len(images))

  with tqdm.tqdm(unit="img", desc="preparing", file=sys.stderr) as bar:
    return write_prepared(out, examples(bar), stream.image_shape, stream.num_classes,
                          stream.class_names, source=f"tfds:{name} {split}",
                          shard_megabytes=shard_megabytes)


def prepare_dataset(dataset: ImageDataset, out: str | Path,
                    shard_megabytes: float = 256) -> PreparedInfo:
  """Writes a dataset held in memory (e.g. IDX files) as a prepared dataset at
  ``out``, with a progress bar."""
  images, labels = dataset.images, dataset.labels
  pairs = zip(images, labels.tolist() if labels is not None else [None] * len(images))
  with tqdm.tqdm(total=len(images), unit="img", desc="preparing", file=sys.stderr) as bar:
    def counted(it: Iterator) -> Iterator:
      for pair in it:
        bar.update(1)
        yield pair
    return write_prepared(out, counted(pairs), tuple(images.shape[1:]),
                          dataset.num_classes if labels is not None else None,
                          dataset.class_names, source=f"{dataset.name} {dataset.split}",
                          shard_megabytes=shard_megabytes)
