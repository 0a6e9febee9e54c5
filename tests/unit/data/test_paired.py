"""Paired data: pair transforms, pix2pix folders, skimage photo patches, examples."""

import ml_collections
import numpy as np
import pytest
from PIL import Image

from ganjax.data import DataError, pairs, photos
from ganjax.data.examples import load_examples
from ganjax.data.paired_folder import load_paired_folder
from ganjax.run.config import default_config


def _digits(num=6, size=28):
  """Bright strokes on black, like MNIST."""
  images = np.zeros((num, size, size, 1), np.uint8)
  for i in range(num):
    images[i, 6 + i:size - 6, 10:14 + i] = 255
  return images


def _colour(num=4, size=16, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (num, size, size, 3), np.uint8)


# ----------------------------------------------------------------------------
# Pair transforms.
# ----------------------------------------------------------------------------


def test_none_makes_no_inputs():
  assert pairs.make_inputs("none", _digits()) is None


def test_unknown_pair_kind():
  with pytest.raises(DataError, match="data.pairs must be one of"):
    pairs.make_inputs("sketch", _digits())


def test_edges_are_thin_outlines():
  images = _digits()
  edges = pairs.make_inputs("edges", images)
  assert edges.shape == images.shape and edges.dtype == np.uint8
  assert set(np.unique(edges)) <= {0, 255}
  # Edges lie around the strokes: on the rectangle's border, not deep inside
  # or far away.
  assert edges[0].any()
  assert not edges[0, :3].any() and not edges[0, :, :5].any()
  np.testing.assert_array_equal(pairs.make_inputs("edges", images), edges)


def test_edges_of_colour_images_use_luma():
  images = _colour()
  edges = pairs.make_inputs("edges", images)
  assert edges.shape == images.shape[:3] + (1,)
  np.testing.assert_array_equal(edges, pairs.edges(pairs.luma(images)))


def test_inpaint_holes_are_squares_fixed_by_seed_and_index():
  images = _colour(num=50, size=20)
  out = pairs.make_inputs("inpaint", images, seed=3, mask_fraction=0.4)
  hole = out != images
  changed = np.any(hole, axis=-1)
  boxes = pairs.hole_boxes(50, 20, 20, seed=3, mask_fraction=0.4)
  for i, (top, left, bottom, right) in enumerate(boxes):
    assert bottom - top == right - left == 8
    assert (out[i, top:bottom, left:right] == pairs.HOLE_VALUE).all()
    outside = np.ones((20, 20), bool)
    outside[top:bottom, left:right] = False
    assert not changed[i][outside].any()
  # Deterministic; example i's hole does not depend on how many examples follow.
  np.testing.assert_array_equal(
      pairs.make_inputs("inpaint", images, seed=3, mask_fraction=0.4), out)
  np.testing.assert_array_equal(
      pairs.make_inputs("inpaint", images[:7], seed=3, mask_fraction=0.4), out[:7])
  other = pairs.make_inputs("inpaint", images, seed=4, mask_fraction=0.4)
  assert not np.array_equal(other, out)
  # Holes move around.
  assert len({tuple(b) for b in boxes}) > 10
  with pytest.raises(DataError, match="mask_fraction"):
    pairs.make_inputs("inpaint", images, mask_fraction=1.5)


def test_lowres_blurs_detail_and_keeps_flat_images():
  flat = np.full((2, 28, 28, 3), 77, np.uint8)
  np.testing.assert_array_equal(pairs.make_inputs("lowres", flat), flat)
  checker = np.indices((28, 28)).sum(0) % 2 * 255
  images = np.repeat(checker.astype(np.uint8)[None, ..., None], 2, axis=0)
  low = pairs.make_inputs("lowres", images)
  assert low.shape == images.shape and low.dtype == np.uint8
  assert low.std() < images.std() / 4  # The 1-pixel checkerboard is gone.
  with pytest.raises(DataError, match="at least 4x4"):
    pairs.make_inputs("lowres", np.zeros((1, 3, 3, 1), np.uint8))


def test_grayscale_is_pil_luma():
  images = _colour()
  gray = pairs.make_inputs("grayscale", images)
  assert gray.shape == images.shape[:3] + (1,)
  expected = np.stack([np.asarray(Image.fromarray(im).convert("L")) for im in images])
  np.testing.assert_array_equal(gray[..., 0], expected)
  with pytest.raises(DataError, match="needs colour"):
    pairs.make_inputs("grayscale", _digits())


# ----------------------------------------------------------------------------
# pix2pix-style paired folders.
# ----------------------------------------------------------------------------


def _write_pair(path, a, b):
  Image.fromarray(np.concatenate([a, b], axis=1)).save(path)


def _pair_folder(root, num=3, size=8, sub=None, channels=3):
  folder = root / sub if sub else root
  folder.mkdir(parents=True, exist_ok=True)
  rng = np.random.default_rng(len(str(folder)))
  shape = (size, size, channels) if channels == 3 else (size, size)
  pairs_written = []
  for i in range(num):
    a = rng.integers(0, 256, shape, np.uint8)
    b = rng.integers(0, 256, shape, np.uint8)
    _write_pair(folder / f"{i:03d}.png", a, b)
    pairs_written.append((a, b))
  return pairs_written


def test_paired_folder_directions(tmp_path):
  written = _pair_folder(tmp_path, num=3)
  (tmp_path / "notes.txt").write_text("not an image")
  dataset, inputs = load_paired_folder(str(tmp_path), "train")
  assert dataset.images.shape == inputs.shape == (3, 8, 8, 3)
  assert dataset.labels is None and dataset.name == f"paired:{tmp_path}"
  for i, (a, b) in enumerate(written):
    np.testing.assert_array_equal(inputs[i], a)
    np.testing.assert_array_equal(dataset.images[i], b)
  dataset, inputs = load_paired_folder(str(tmp_path), "train", direction="BtoA")
  np.testing.assert_array_equal(inputs[0], written[0][1])
  np.testing.assert_array_equal(dataset.images[0], written[0][0])


def test_paired_folder_splits_slices_and_grayscale(tmp_path):
  _pair_folder(tmp_path, num=4, sub="train", channels=1)
  _pair_folder(tmp_path, num=2, sub="val", channels=1)
  dataset, inputs = load_paired_folder(str(tmp_path), "train[:3]")
  assert dataset.images.shape == (3, 8, 8, 1) and inputs.shape == (3, 8, 8, 1)
  dataset, _ = load_paired_folder(str(tmp_path), "val")
  assert len(dataset.images) == 2
  with pytest.raises(DataError, match="no 'test' subfolder"):
    load_paired_folder(str(tmp_path), "test")


def test_paired_folder_resizes_to_image_size(tmp_path):
  _pair_folder(tmp_path, num=2, size=10)
  _write_pair(tmp_path / "big.jpg", np.zeros((20, 20, 3), np.uint8),
              np.full((20, 20, 3), 200, np.uint8))
  with pytest.raises(DataError, match="set config.data.image_size"):
    load_paired_folder(str(tmp_path))
  dataset, inputs = load_paired_folder(str(tmp_path), image_size=16)
  assert dataset.images.shape == inputs.shape == (3, 16, 16, 3)
  # Sorted by name: 000, 001, big.
  assert abs(int(dataset.images[2].mean()) - 200) <= 2


@pytest.mark.parametrize("setup, message", [
    (lambda d: None, "holds no image files"),
    (lambda d: Image.new("RGB", (9, 4)).save(d / "odd.png"), "odd width"),
    (lambda d: (d / "broken.png").write_bytes(b"\x89PNG not really"), "cannot read image"),
])
def test_paired_folder_errors(tmp_path, setup, message):
  folder = tmp_path / "pairs"
  folder.mkdir()
  setup(folder)
  with pytest.raises(DataError, match=message) as error:
    load_paired_folder(str(folder))
  assert "\n" not in str(error.value)


def test_paired_folder_bad_arguments(tmp_path):
  with pytest.raises(DataError, match="does not exist"):
    load_paired_folder(str(tmp_path / "missing"))
  _pair_folder(tmp_path)
  with pytest.raises(DataError, match="AtoB"):
    load_paired_folder(str(tmp_path), direction="left")


# ----------------------------------------------------------------------------
# skimage photographs.
# ----------------------------------------------------------------------------


def test_photo_patches_train_and_held_out_test():
  train = photos.load_photo_patches("train", patch_size=32, stride=16, scale=0.5)
  test = photos.load_photo_patches("test", patch_size=32, stride=16, scale=0.5)
  assert train.images.shape[1:] == test.images.shape[1:] == (32, 32, 3)
  assert train.num_classes == len(photos.PHOTOS)
  assert set(train.labels) == set(test.labels) == set(range(len(photos.PHOTOS)))
  assert len(train.images) > 3 * len(test.images) > 0
  # No test patch overlaps the training region: every test patch starts right of
  # the boundary of its photo.
  astronaut = photos.photo("astronaut", 0.5)
  boundary = round(astronaut.shape[1] * (1 - photos.TEST_FRACTION))
  np.testing.assert_array_equal(test.images[0], astronaut[:32, boundary:boundary + 32])
  np.testing.assert_array_equal(train.images[0], astronaut[:32, :32])
  # Real colour photographs, not gray.
  assert np.abs(train.images[..., 0].astype(int) - train.images[..., 2]).mean() > 10
  again = photos.load_photo_patches("train[:10]", patch_size=32, stride=16, scale=0.5)
  np.testing.assert_array_equal(again.images, train.images[:10])


def test_photo_patch_errors():
  with pytest.raises(DataError, match="'train' and 'test'"):
    photos.load_photo_patches("validation")
  with pytest.raises(DataError, match="no 600x600 patch fits"):
    photos.load_photo_patches("test", patch_size=600)


# ----------------------------------------------------------------------------
# config.data -> examples.
# ----------------------------------------------------------------------------


def _data(**overrides) -> ml_collections.ConfigDict:
  data = default_config().data
  data.update(overrides)
  return data


def test_examples_from_a_pair_transform(synthetic_mnist):
  dataset, examples = load_examples(_data(idx_dir=str(synthetic_mnist), split="test[:20]",
                                          pairs="inpaint"))
  assert set(examples) == {"image", "label", "input"}
  assert examples["image"].shape == examples["input"].shape == (20, 28, 28, 1)
  assert examples["label"].dtype == np.int32
  assert dataset.images is examples["image"]


def test_examples_from_skimage_photos_grayscale():
  dataset, examples = load_examples(_data(name="skimage_photos", split="test",
                                          pairs="grayscale", patch_size=16))
  assert examples["image"].shape[1:] == (16, 16, 3)
  assert examples["input"].shape[1:] == (16, 16, 1)
  assert dataset.name == "skimage_photos"


def test_examples_from_a_paired_folder(tmp_path):
  _pair_folder(tmp_path, num=3)
  dataset, examples = load_examples(_data(paired_dir=str(tmp_path)))
  assert set(examples) == {"image", "input"} and dataset.num_classes is None
  with pytest.raises(DataError, match="unset config.data.pairs"):
    load_examples(_data(paired_dir=str(tmp_path), pairs="edges"))
