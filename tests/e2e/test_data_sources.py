"""Tests for ganjax.data: IDX reading, split slicing, and the TFDS path."""

from __future__ import annotations

import gzip
import json
import logging
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_user_error, idx_bytes, run_command, write_idx
from PIL import Image

from ganjax.data import (DataError, ImageDataset, dataset_fingerprint, load_dataset,
                         read_idx, sources)

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def make_split(
    directory: Path, prefix: str, n: int, *, labels: bool = True, gz: bool = True
) -> tuple[np.ndarray, np.ndarray]:
  """Writes a small random MNIST-style split; returns (images, labels)."""
  rng = np.random.default_rng(n)
  images = rng.integers(0, 256, (n, 5, 4), dtype=np.uint8)
  label_values = rng.integers(0, 7, n).astype(np.uint8)
  ext = ".gz" if gz else ""
  write_idx(directory / f"{prefix}-images-idx3-ubyte{ext}", images)
  if labels:
    write_idx(directory / f"{prefix}-labels-idx1-ubyte{ext}", label_values)
  return images, label_values


def assert_one_line_error(error: pytest.ExceptionInfo, *fragments: str) -> None:
  """Checks a DataError message is a single line containing ``fragments``."""
  message = str(error.value)
  assert "\n" not in message and message
  for fragment in fragments:
    assert fragment in message, message


# --------------------------------------------------------------------------
# Real data.
# --------------------------------------------------------------------------


def test_real_mnist_test_split(mnist_dir: Path) -> None:
  ds = load_dataset("mnist", "test", idx_dir=str(mnist_dir))
  assert ds.images.shape == (10000, 28, 28, 1) and ds.images.dtype == np.uint8
  assert ds.labels is not None and ds.labels.dtype == np.int32
  assert set(np.unique(ds.labels)) == set(range(10))
  assert ds.num_classes == 10
  assert (ds.name, ds.split) == (f"idx:{mnist_dir}", "test")
  # The digit MNIST's test set famously starts with.
  assert list(ds.labels[:5]) == [7, 2, 1, 0, 4]


def test_real_mnist_train_falls_back_to_test_files(
    mnist_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
  with caplog.at_level(logging.WARNING):
    ds = load_dataset("mnist", "train[:5000]", idx_dir=str(mnist_dir))
  assert ds.split == "test[:5000]"
  assert ds.images.shape == (5000, 28, 28, 1) and ds.num_classes == 10
  warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
  assert len(warnings) == 1
  assert "holds no 'train' split; using its 'test' files (10000 images)" in warnings[0]


def test_real_fashion_mnist_train() -> None:
  if not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file():
    pytest.skip(f"Fashion-MNIST not found at {FASHION_DIR}")
  ds = load_dataset("fashion_mnist", "train", idx_dir=str(FASHION_DIR))
  assert ds.images.shape == (60000, 28, 28, 1) and ds.split == "train"
  assert ds.num_classes == 10 and np.bincount(ds.labels).tolist() == [6000] * 10


# --------------------------------------------------------------------------
# read_idx on synthetic files.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize(
    "array",
    [
        np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
        np.array([-5, 0, 7], dtype=np.int8),
        np.array([[-300, 2], [3, 30000]], dtype=np.int16),
        np.array([1, -2, 2**31 - 1], dtype=np.int32),
        np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2),
        np.array([np.pi, -np.e], dtype=np.float64),
        np.zeros((0, 28, 28), dtype=np.uint8),
    ],
    ids=lambda a: f"{a.dtype}{list(a.shape)}",
)
def test_read_idx_round_trips(tmp_path: Path, array: np.ndarray, suffix: str) -> None:
  result = read_idx(write_idx(tmp_path / f"x-idx-ubyte{suffix}", array))
  assert result.dtype == array.dtype and result.dtype.isnative
  np.testing.assert_array_equal(result, array)
  result[...] = 0  # Must be writable, not a view of immutable bytes.


def _corrupt(tmp_path: Path, case: str) -> Path:
  """Writes a broken IDX file of the given kind; returns its path."""
  good = idx_bytes(np.ones((3, 4, 4), np.uint8))
  path = tmp_path / ("bad.gz" if "gzip" in case else "bad-idx3-ubyte")
  content = {
      "truncated": good[:-5],
      "trailing": good + b"\x00",
      "bad_magic": b"\x12\x34" + good[2:],
      "dtype_code": good[:2] + b"\x42" + good[3:],
      "short_header": good[:9],
      "empty": b"",
      "bad_gzip": b"this is not gzip data at all",
      "cut_gzip": gzip.compress(good)[:-12],
  }[case]
  path.write_bytes(content)
  return path


@pytest.mark.parametrize(
    "case, expected",
    [
        ("truncated", "is truncated"),
        ("trailing", "trailing bytes"),
        ("bad_magic", "not an IDX file"),
        ("dtype_code", "dtype code 0x42"),
        ("short_header", "truncated"),
        ("empty", "not an IDX file"),
        ("bad_gzip", "not a valid gzip file"),
        ("cut_gzip", "not a valid gzip file"),
    ],
)
def test_read_idx_rejects_corrupt_files(tmp_path: Path, case: str, expected: str) -> None:
  path = _corrupt(tmp_path, case)
  with pytest.raises(DataError) as error:
    read_idx(path)
  assert_one_line_error(error, str(path), expected)


def test_read_idx_missing_file(tmp_path: Path) -> None:
  with pytest.raises(DataError) as error:
    read_idx(tmp_path / "nope-idx1-ubyte")
  assert_one_line_error(error, "nope-idx1-ubyte", "does not exist")


# --------------------------------------------------------------------------
# load_dataset on synthetic IDX directories.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_load_idx_dir_reads_exactly(tmp_path: Path, gz: bool) -> None:
  images, labels = make_split(tmp_path, "train", 20, gz=gz)
  ds = load_dataset("ignored", "train", idx_dir=str(tmp_path))
  np.testing.assert_array_equal(ds.images, images[..., None])
  np.testing.assert_array_equal(ds.labels, labels)
  assert ds.num_classes == int(labels.max()) + 1
  assert ds.name == f"idx:{tmp_path}"


def test_load_idx_dir_without_labels(tmp_path: Path) -> None:
  make_split(tmp_path, "t10k", 6, labels=False)
  ds = load_dataset("x", "test", idx_dir=str(tmp_path))
  assert ds.labels is None and ds.num_classes is None and len(ds.images) == 6


def test_load_idx_dir_accepts_dotted_names_and_idx4(tmp_path: Path) -> None:
  rgb = np.random.default_rng(0).integers(0, 256, (4, 3, 3, 3), dtype=np.uint8)
  write_idx(tmp_path / "train-images.idx4-ubyte", rgb)
  write_idx(tmp_path / "train-labels.idx1-ubyte", np.array([0, 1, 2, 1], np.uint8))
  ds = load_dataset("x", "train", idx_dir=str(tmp_path))
  np.testing.assert_array_equal(ds.images, rgb)
  assert ds.num_classes == 3


@pytest.mark.parametrize(
    "split, window",
    [
        ("train[:5]", slice(0, 5)),
        ("train[15:]", slice(15, 20)),
        ("train[-3:]", slice(17, 20)),
        ("train[:90%]", slice(0, 18)),
        ("train[90%:]", slice(18, 20)),
        ("train[2:-2]", slice(2, 18)),
        ("train[:0]", slice(0, 0)),
    ],
)
def test_load_idx_dir_slices(tmp_path: Path, split: str, window: slice) -> None:
  images, labels = make_split(tmp_path, "train", 20)
  ds = load_dataset("x", split, idx_dir=str(tmp_path))
  np.testing.assert_array_equal(ds.images[..., 0], images[window])
  np.testing.assert_array_equal(ds.labels, labels[window])
  assert ds.split == split
  assert ds.num_classes == int(labels.max()) + 1  # From the whole split.


def test_load_idx_dir_falls_back_to_train_for_test(tmp_path: Path) -> None:
  make_split(tmp_path, "train", 10)
  assert load_dataset("x", "test[50%:]", idx_dir=str(tmp_path)).split == "train[50%:]"


@pytest.mark.parametrize(
    "split, expected",
    [
        ("train[:5", "not of the form"),
        ("train[a:b]", "not of the form"),
        ("train[1.5:]", "not of the form"),
        ("train[:]", "not of the form"),
        ("train[5]", "not of the form"),
        ("train[1shard:]", "shard"),
        ("train+test", "not of the form"),
        ("validation", "only provide the 'train' and 'test' splits"),
        ("train[:21]", "reaches past the 20 examples"),
        ("train[-21:]", "reaches past the 20 examples"),
    ],
)
def test_load_idx_dir_rejects_bad_splits(tmp_path: Path, split: str, expected: str) -> None:
  make_split(tmp_path, "train", 20)
  with pytest.raises(DataError) as error:
    load_dataset("x", split, idx_dir=str(tmp_path))
  assert_one_line_error(error, expected)


def test_load_idx_dir_count_mismatch(tmp_path: Path) -> None:
  make_split(tmp_path, "train", 5)
  write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
  with pytest.raises(DataError) as error:
    load_dataset("x", "train", idx_dir=str(tmp_path))
  assert_one_line_error(
      error, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "5 images", "4 labels"
  )


def test_load_idx_dir_corrupt_images_name_the_file(tmp_path: Path) -> None:
  (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"garbage")
  with pytest.raises(DataError) as error:
    load_dataset("x", "train", idx_dir=str(tmp_path))
  assert_one_line_error(error, "train-images-idx3-ubyte.gz", "gzip")


def test_load_idx_dir_rejects_non_image_arrays(tmp_path: Path) -> None:
  write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 3, 3), np.float32))
  with pytest.raises(DataError) as error:
    load_dataset("x", "train", idx_dir=str(tmp_path))
  assert_one_line_error(error, "train-images-idx3-ubyte", "not uint8 images")


def test_load_idx_dir_missing_directory(tmp_path: Path) -> None:
  with pytest.raises(DataError) as error:
    load_dataset("x", "train", idx_dir=str(tmp_path / "absent"))
  assert_one_line_error(error, str(tmp_path / "absent"), "does not exist")


def test_load_idx_dir_without_idx_files(tmp_path: Path) -> None:
  with pytest.raises(DataError) as error:
    load_dataset("x", "train", idx_dir=str(tmp_path))
  assert_one_line_error(
      error, str(tmp_path), "train-images-idx3-ubyte[.gz]", "t10k-images-idx3-ubyte[.gz]"
  )


# --------------------------------------------------------------------------
# Split semantics match TFDS.
# --------------------------------------------------------------------------

_SPECS = [
    "train", "train[:90%]", "train[90%:]", "train[-10%:]", "train[33.3%:66.7%]",
    "train[12.5%:]", "train[:50%]", "train[-5:]", "train[3:7]", "train[:-2]",
    "train[5%:10]", "train[1_0:]", "train[0:0]", "train[150%:]", "train[-1001:]",
]


@pytest.mark.parametrize("num_examples", [1, 7, 8, 40, 100, 1001])
def test_split_resolution_matches_tfds(num_examples: int) -> None:
  tfds = pytest.importorskip("tensorflow_datasets")
  infos = {"train": tfds.core.SplitInfo(name="train", shard_lengths=[num_examples], num_bytes=0)}
  for spec in _SPECS:
    try:
      (expected,) = tfds.core.ReadInstruction.from_spec(spec).to_absolute(infos)
    except ValueError:
      with pytest.raises(DataError):
        sources.resolve_split(sources.parse_split(spec), num_examples, "here")
      continue
    got = sources.resolve_split(sources.parse_split(spec), num_examples, "here")
    want = range(num_examples)[slice(expected.from_, expected.to)]
    assert range(num_examples)[got] == want, (spec, num_examples)


@pytest.mark.parametrize(
    "spec", ["train[:5", "train[a:b]", "train[::]", "train[5]", "train[1.5:]", "", "train[:]", "x y"]
)
def test_split_syntax_errors_match_tfds(spec: str) -> None:
  tfds = pytest.importorskip("tensorflow_datasets")
  with pytest.raises(ValueError):
    tfds.core.ReadInstruction.from_spec(spec)
  with pytest.raises(DataError):
    sources.parse_split(spec)


# --------------------------------------------------------------------------
# TFDS.
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, shape, num_classes",
    [("mnist", (28, 28, 1), 10), ("cifar10", (32, 32, 3), 10)],
)
def test_tfds_mock(tmp_path: Path, name: str, shape: tuple[int, ...], num_classes: int) -> None:
  tfds = pytest.importorskip("tensorflow_datasets")
  with tfds.testing.mock_data(num_examples=12):
    ds = load_dataset(name, "train[:50%]", data_dir=str(tmp_path))
  assert ds.images.shape == (12, *shape) and ds.images.dtype == np.uint8
  assert ds.labels is not None and ds.labels.dtype == np.int32 and ds.labels.shape == (12,)
  assert ds.labels.min() >= 0 and ds.labels.max() < num_classes
  assert (ds.num_classes, ds.name, ds.split) == (num_classes, name, "train[:50%]")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
  """Makes every DNS lookup fail, as on an offline machine, wherever this runs."""
  pytest.importorskip("tensorflow_datasets")

  def fail(*args, **kwargs):
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

  monkeypatch.setattr(socket, "getaddrinfo", fail)
  # TFDS also looks for a prepared copy on GCS through TensorFlow's own
  # C++ client, which the socket patch does not reach.
  monkeypatch.setattr("tensorflow_datasets.core.utils.gcs_utils.exists", lambda path: False)
  for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
    monkeypatch.delenv(var, raising=False)


@pytest.mark.usefixtures("no_network")
def test_tfds_download_failure_is_fast_and_points_to_idx_dir(tmp_path: Path, capfd) -> None:
  from tensorflow_datasets.core.download import downloader

  sources._import_tfds()  # Keep TensorFlow's import time out of the timing.
  capfd.readouterr()
  start = time.monotonic()
  with pytest.raises(DataError) as error:
    load_dataset("mnist", "train", data_dir=str(tmp_path / "tfds"))
  elapsed = time.monotonic() - start
  # One line of ganjax's own before the error; TFDS's banner and warnings are quiet.
  out, err = capfd.readouterr()
  assert out.splitlines() == [f"Downloading and preparing TFDS dataset 'mnist' into "
                              f"{tmp_path / 'tfds'} (first use only)..."], out
  assert "dataset_info" not in err and "Downloading and preparing dataset" not in out + err
  assert_one_line_error(error, "could not download/prepare 'mnist'", "--config.data.idx_dir=DIR")
  # TFDS's own retries take ~200 s offline; ours must fail at once.
  assert elapsed < 10, f"took {elapsed:.1f}s"
  assert downloader.MAX_RETRIES == 10  # The temporary override was undone.


@pytest.mark.parametrize(
    "name, split, expected",
    [
        ("no_such_dataset_xyz", "train", "is not a TFDS dataset"),
        ("imdb_reviews", "train", "has no 'image' feature"),
        ("mnist", "train[:5", "not valid TFDS split syntax"),
    ],
)
def test_tfds_user_errors(tmp_path: Path, name: str, split: str, expected: str) -> None:
  pytest.importorskip("tensorflow_datasets")
  with pytest.raises(DataError) as error:
    load_dataset(name, split, data_dir=str(tmp_path))
  assert_one_line_error(error, expected)


# --------------------------------------------------------------------------
# Dataset object, fingerprint, import cost.
# --------------------------------------------------------------------------


def test_fingerprint_is_stable_and_content_sensitive() -> None:
  images = np.zeros((3, 2, 2, 1), np.uint8)
  ds = ImageDataset(images, None, None, "idx:/d", "train")
  fp = dataset_fingerprint(ds)
  assert fp == dataset_fingerprint(ImageDataset(images.copy(), None, None, "idx:/d", "train"))
  assert fp["num_examples"] == 3 and fp["shape"] == [3, 2, 2, 1]
  json.dumps(fp)
  images[0, 0, 0, 0] = 1
  assert dataset_fingerprint(ds)["sha256"] != fp["sha256"]


def test_image_dataset_validates_arrays() -> None:
  with pytest.raises(ValueError, match="uint8"):
    ImageDataset(np.zeros((2, 3, 3), np.uint8), None, None, "n", "s")
  with pytest.raises(ValueError, match="int32"):
    ImageDataset(np.zeros((2, 3, 3, 1), np.uint8), np.zeros(3, np.int32), 1, "n", "s")


def test_import_does_not_load_tensorflow_or_jax() -> None:
  heavy = ("tensorflow", "tensorflow_datasets", "jax", "flax")
  code = f"import sys, ganjax.data; print(sorted(m for m in {heavy!r} if m in sys.modules))"
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
  assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------
# A folder of images, end to end.
# --------------------------------------------------------------------------


def test_train_on_a_class_folder_and_sample_a_class_by_name(tmp_path: Path,
                                                            ganjax_env) -> None:
  images = tmp_path / "shapes"
  rng = np.random.default_rng(0)
  for name, colour in (("circle", (255, 0, 0)), ("square", (0, 0, 255))):
    (images / name).mkdir(parents=True)
    for i in range(6):
      pixels = rng.integers(200, 256, (12 + i, 10, 3), dtype=np.uint8)
      pixels[3:7, 3:7] = colour
      Image.fromarray(pixels).save(images / name / f"{i}.png")
  (images / "square" / "broken.png").write_bytes(b"\x89PNG\r\n")
  (images / "README.txt").write_text("two kinds of shape")
  workdir = tmp_path / "run"
  trained = run_command("ganjax.main", [
      "--config", "experiments/folder.py", "--workdir", str(workdir),
      f"--config.data.folder={images}", "--config.model.name=cgan",
      "--config.data.image_size=8", "--config.model.g_features=8",
      "--config.model.d_features=8", "--config.model.noise_dim=8",
      "--config.train.batch_size=4", "--config.train.steps=2",
      "--config.ckpt.every_steps=2", "--config.samples.every_steps=2",
      "--config.samples.num=4", "--config.log.every_steps=2"], ganjax_env)
  assert f"cgan on folder:{images} train (12 images 8x8x3, 2 classes)" in trained.stdout
  warnings = [line for line in trained.stderr.splitlines() if "warning" in line]
  assert warnings == [f"ganjax: warning: skipped 1 file(s) in folder {images}: square/"
                      "broken.png: UnidentifiedImageError: cannot identify image file"
                      ], trained.stderr
  out = tmp_path / "x.png"
  result = run_command("ganjax.sample", ["--workdir", str(workdir), "--label", "square",
                                         "--num", "4", "--out", str(out)], ganjax_env)
  assert "Wrote 4 samples of class square (1) from step 2" in result.stdout
  assert Image.open(out).size == (44, 44)  # 2x2 of 8x8, padding 2, scale 2: (2*10+2)*2
  unknown = run_command("ganjax.sample", ["--workdir", str(workdir), "--label", "cat",
                                          "--out", str(tmp_path / "y.png")], ganjax_env,
                        check=False)
  assert_user_error(unknown, "--label 'cat' is not a class of the run",
                    "its classes are circle, square")
  assert not (tmp_path / "y.png").exists()

