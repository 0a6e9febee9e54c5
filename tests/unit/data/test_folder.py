"""Folders of images (ganjax.data.folder): which files, which labels, which pixels,
what is skipped and how it is said, and the mistakes that stop a run."""

import logging
from pathlib import Path

import ml_collections
import numpy as np
import pytest
from PIL import Image

from ganjax.data import DataError, folder
from ganjax.data.examples import load_examples
from ganjax.run.config import default_config

WHITE, RED, BLUE = (255, 255, 255), (255, 0, 0), (0, 0, 255)


def _save(path: Path, array: np.ndarray, mode: str | None = None, **options) -> Path:
  """Writes ``array`` as an image file, converted to ``mode`` first if given."""
  path.parent.mkdir(parents=True, exist_ok=True)
  image = Image.fromarray(array)
  (image.convert(mode) if mode else image).save(path, **options)
  return path


def _noise(shape, seed=0, dtype=np.uint8, high=256):
  return np.random.default_rng(seed).integers(0, high, shape).astype(dtype)


def _class_folder(root: Path) -> Path:
  """Three classes of assorted images (sizes, modes, formats), plus the things
  real folders hold: a truncated file, an empty .png, notes, a GIF, hidden files."""
  cats, dogs, owls = root / "cat", root / "dog", root / "owl"
  for i in range(4):
    _save(cats / f"c{i}.png", _noise((40 + 3 * i, 50, 3), i))                 # RGB
    _save(cats / f"c{i}.jpg", _noise((60, 45 + i, 3), 10 + i), quality=90)      # JPEG
  _save(cats / "deep" / "er" / "c9.PNG", _noise((33, 33), 20))                  # L, nested
  for i in range(3):
    _save(dogs / f"d{i}.webp", _noise((48, 64, 3), 30 + i), lossless=True)      # WebP
    _save(dogs / f"d{i}_rgba.png", _noise((32, 32, 4), 40 + i))                 # RGBA
  _save(dogs / "d_la.png", _noise((20, 30, 2), 50))                             # LA
  _save(owls / "o_p.png", _noise((24, 24, 3), 60), "P")                         # P
  _save(owls / "o16.png", _noise((36, 36), 70, np.uint16, 65536))              # I;16
  _save(owls / "o_cmyk.jpg", _noise((30, 30, 3), 80), "CMYK")                   # CMYK
  _save(owls / "o_1.png", _noise((30, 40), 90, high=2).astype(bool))           # 1
  good = (cats / "c0.png").read_bytes()
  (cats / "broken.png").write_bytes(good[:len(good) // 2])                      # truncated
  (dogs / "empty.png").write_bytes(b"")                                         # zero bytes
  (dogs / "fake.jpg").write_text("not a jpeg at all")                           # not an image
  (owls / "anim.gif").write_bytes(b"GIF89a")                                    # other format
  (root / "notes.txt").write_text("where these came from")                      # silent
  (cats / "labels.csv").write_text("c0,cat\n")                                  # silent
  (cats / ".DS_Store").write_bytes(b"\0\0")                                     # hidden
  _save(root / ".thumbnails" / "t.png", _noise((8, 8), 1))                      # hidden folder
  (root / "empty_folder").mkdir()                                               # no images
  return root


@pytest.fixture
def classes(tmp_path):
  return _class_folder(tmp_path / "pets")


# ----------------------------------------------------------------------------
# Scanning.
# ----------------------------------------------------------------------------


def test_class_subfolders_label_the_images_in_sorted_order(classes):
  listing = folder.scan_folder(classes)
  assert listing.class_names == ("cat", "dog", "owl") and listing.num_classes == 3
  relative = [str(p.relative_to(classes)) for p in listing.files]
  assert relative == sorted(relative, key=lambda r: Path(r).parts)
  assert relative[:3] == ["cat/broken.png", "cat/c0.jpg", "cat/c0.png"]
  assert "cat/deep/er/c9.PNG" in relative  # any depth, any case of suffix
  labels = dict(zip(relative, listing.labels))
  assert labels["cat/deep/er/c9.PNG"] == 0 and labels["dog/d0.webp"] == 1
  assert labels["owl/o16.png"] == 2
  assert not any(r.startswith(".") or "/." in r or r.endswith((".txt", ".csv", ".gif"))
                 for r in relative)
  # Only what might have been meant as an image is reported; notes, hidden files
  # and the class-less empty folder are passed over silently.
  assert [(p.relative_to(classes).as_posix(), why) for p, why in listing.ignored] == [
      ("owl/anim.gif", "not a PNG, JPEG or WebP file")]
  assert folder.scan_folder(classes) == folder.scan_folder(str(classes))  # same order


def test_images_directly_in_the_folder_are_unlabelled(tmp_path):
  for name in ("b.png", "a.JPEG", "c.webp"):
    _save(tmp_path / name, _noise((10, 10, 3)),
          **({"lossless": True} if name.endswith("webp") else {}))
  _save(tmp_path / "sub" / "d.png", _noise((10, 10, 3)))  # beside images: no classes
  listing = folder.scan_folder(tmp_path)
  assert listing.labels is None and listing.class_names is None
  assert [p.name for p in listing.files] == ["a.JPEG", "b.png", "c.webp", "d.png"]


# ----------------------------------------------------------------------------
# Decoding.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3])
def test_every_mode_decodes_to_the_size_and_channels_asked_for(classes, channels):
  for path in folder.scan_folder(classes).files:
    if path.name in ("broken.png", "empty.png", "fake.jpg"):
      continue
    image = folder.decode_image(path, 16, channels)
    assert image.shape == (16, 16, channels) and image.dtype == np.uint8, path


def test_the_centred_square_survives_resize_and_crop(tmp_path):
  """A 96x64 image whose centre 64x64 is a pattern and whose sides are red."""
  pattern = _noise((64, 64, 3), 5)
  wide = np.zeros((64, 96, 3), np.uint8)
  wide[:] = RED
  wide[:, 16:80] = pattern
  np.testing.assert_array_equal(folder.decode_image(_save(tmp_path / "w.png", wide), 64, 3),
                                pattern)  # same scale: the crop alone, exactly
  # Twice as large and tall instead of wide, blue above and below: a grid of 8x8
  # blocks of colour, each 16x16 in the file, comes back 8x8, away from their
  # borders exactly (Lanczos reaches 3 output pixels' worth across a border).
  blocks = _noise((8, 8, 3), 6).repeat(8, axis=0).repeat(8, axis=1)
  tall = np.zeros((192, 128, 3), np.uint8)
  tall[:] = BLUE
  tall[32:160] = blocks.repeat(2, axis=0).repeat(2, axis=1)
  halved = folder.decode_image(_save(tmp_path / "t.png", tall), 64, 3).astype(int)
  centres = np.arange(64) % 8 == 3
  error = np.abs(halved - blocks)[centres][:, centres]
  assert error.max() <= 1, error.max()  # the top row of blocks shows no blue either


def test_modes_convert_as_documented(tmp_path):
  # Transparency over white: a fully transparent red pixel becomes white.
  rgba = np.zeros((8, 8, 4), np.uint8)
  rgba[..., 0] = 255
  assert (folder.decode_image(_save(tmp_path / "a.png", rgba), 8, 3) == 255).all()
  half = rgba.copy()
  half[..., 3] = 128
  assert folder.decode_image(_save(tmp_path / "h.png", half), 8, 3)[0, 0].tolist() == [
      255, 127, 127]
  # 16 bits scaled to 8: value / 257.
  sixteen = np.full((8, 8), 257 * 200, np.uint16)
  assert (folder.decode_image(_save(tmp_path / "s.png", sixteen), 8, 1) == 200).all()
  # Colour to gray is luma; gray to colour repeats the gray.
  red = np.zeros((8, 8, 3), np.uint8)
  red[..., 0] = 255
  assert (folder.decode_image(_save(tmp_path / "r.png", red), 8, 1) == 76).all()
  gray = folder.decode_image(_save(tmp_path / "g.png", np.full((8, 8), 90, np.uint8)), 8, 3)
  assert (gray == 90).all()


def test_exif_orientation_is_applied(tmp_path):
  upright = np.zeros((20, 40, 3), np.uint8)  # wide, red on the left
  upright[:, :20] = RED
  exif = Image.Exif()
  exif[0x0112] = 6  # "rotate 90 CW to view": stored rotated, shown as the wide image
  stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)
  path = tmp_path / "rotated.png"
  stored.save(path, exif=exif.tobytes())
  shown = folder.decode_image(path, 20, 3)
  assert shown[:, :3].mean(axis=(0, 1)).round().tolist() == [255, 0, 0]


@pytest.mark.parametrize("content, reason", [
    (b"", "empty file"),
    (b"not an image", "UnidentifiedImageError: cannot identify image file"),
])
def test_a_broken_file_is_an_unreadable_image_error(tmp_path, content, reason):
  path = tmp_path / "x.png"
  path.write_bytes(content)
  with pytest.raises(folder.UnreadableImageError) as error:
    folder.decode_image(path, 8, 3)
  assert error.value.path == path and error.value.reason == reason  # the path said once
  assert str(error.value) == f"cannot read image {path} ({reason})"


def test_a_decompression_bomb_is_an_unreadable_image(tmp_path, monkeypatch):
  path = _save(tmp_path / "big.png", _noise((30, 30, 3)))
  monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 900 pixels: over twice the limit
  with pytest.raises(folder.UnreadableImageError, match="DecompressionBombError"):
    folder.decode_image(path, 8, 3)


# ----------------------------------------------------------------------------
# Loading.
# ----------------------------------------------------------------------------


def test_loading_skips_broken_files_and_says_so_once(classes, caplog):
  with caplog.at_level(logging.WARNING, logger="ganjax"):
    ds = folder.load_image_folder(classes, "train", image_size=16, channels=3)
  listing = folder.scan_folder(classes)
  assert ds.images.shape == (len(listing.files) - 3, 16, 16, 3)
  assert ds.images.dtype == np.uint8 and ds.labels.dtype == np.int32
  assert ds.class_names == ("cat", "dog", "owl") and ds.num_classes == 3
  assert np.bincount(ds.labels).tolist() == [9, 7, 4]  # broken/empty/fake left out
  assert ds.name == f"folder:{classes}" and ds.split == "train"
  warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
  assert len(warnings) == 1 and "\n" not in warnings[0]
  message = warnings[0]
  assert message.startswith(f"skipped 4 file(s) in folder {classes}: "), message
  assert "owl/anim.gif: not a PNG, JPEG or WebP file" in message
  assert "cat/broken.png: " in message and "truncated" in message
  assert "dog/empty.png: empty file" in message and message.endswith("; and 1 more")
  # The kept images are those the files decode to, in order.
  kept = [p for p in listing.files if p.name not in ("broken.png", "empty.png", "fake.jpg")]
  np.testing.assert_array_equal(ds.images[0], folder.decode_image(kept[0], 16, 3))
  np.testing.assert_array_equal(ds.images[-1], folder.decode_image(kept[-1], 16, 3))


def test_channels_follow_the_images_when_unset(tmp_path):
  for i in range(3):
    _save(tmp_path / "gray" / f"{i}.png", _noise((12, 20), i))
  _save(tmp_path / "gray" / "rgb_but_gray.png", np.repeat(_noise((12, 12, 1), 9), 3, -1))
  gray = folder.load_image_folder(tmp_path / "gray", image_size=8)
  assert gray.images.shape == (4, 8, 8, 1) and gray.labels is None
  as_l = folder.load_image_folder(tmp_path / "gray", image_size=8, channels=1)
  np.testing.assert_array_equal(gray.images, as_l.images)
  _save(tmp_path / "gray" / "colour.png", _noise((12, 12, 3), 3))
  assert folder.load_image_folder(tmp_path / "gray", image_size=8).images.shape[-1] == 3


@pytest.mark.parametrize("split, window", [
    ("train[:50%]", slice(0, 5)), ("train[7:]", slice(7, 10)), ("train[-2:]", slice(8, 10)),
])
def test_slices_of_the_sorted_files(tmp_path, split, window):
  for i in range(10):
    _save(tmp_path / f"{i:02d}.png", np.full((4, 4), i * 20, np.uint8))
  ds = folder.load_image_folder(tmp_path, split, image_size=4)
  assert ds.split == split
  assert ds.images[:, 0, 0, 0].tolist() == [i * 20 for i in range(10)][window]


@pytest.mark.parametrize("make, split, fragments", [
    (lambda d: None, "train", ["does not exist or is not a directory"]),
    (lambda d: d.mkdir(), "train", ["holds no PNG, JPEG or WebP images"]),
    (lambda d: (d.mkdir(), (d / "a.bmp").write_bytes(b"BM")), "train",
     ["holds no PNG, JPEG or WebP images", "1 file(s) of other types, e.g. a.bmp"]),
    (lambda d: (d.mkdir(), (d / "a.png").write_bytes(b""), (d / "b.jpg").write_text("x")),
     "train", ["holds no usable image", "none of its 2 image files", "a.png: empty file"]),
    (lambda d: _save(d / "a.png", _noise((4, 4))), "test",
     ["is one split, 'train'", "'train[:90%]'", "not 'test'"]),
    (lambda d: _save(d / "a.png", _noise((4, 4))), "train[:5]",
     ["reaches past the 1 examples"]),
    (lambda d: _save(d / "a.png", _noise((4, 4))), "train[:0]", ["selects no images"]),
])
def test_mistakes_are_one_line_data_errors(tmp_path, make, split, fragments):
  directory = tmp_path / "images"
  make(directory)
  with pytest.raises(DataError) as error:
    folder.load_image_folder(directory, split, image_size=8)
  message = str(error.value)
  assert "\n" not in message
  for fragment in fragments:
    assert fragment in message, message


def test_many_files_show_a_progress_bar_on_stderr(tmp_path, monkeypatch, capsys):
  for i in range(5):
    _save(tmp_path / f"{i}.png", _noise((4, 4), i))
  monkeypatch.setattr(folder, "PROGRESS_ABOVE", 4)
  folder.load_image_folder(tmp_path, image_size=4)
  out, err = capsys.readouterr()
  assert "decoding images" in err and out == ""


# ----------------------------------------------------------------------------
# config.data -> examples.
# ----------------------------------------------------------------------------


def _data(**overrides) -> ml_collections.ConfigDict:
  data = default_config().data
  data.update(overrides)
  return data


def test_config_data_folder_routes_to_the_folder(classes):
  dataset, examples = load_examples(_data(folder=str(classes), split="train[:6]",
                                          channels=1))
  assert examples["image"].shape == (5, 64, 64, 1)  # default size; broken.png skipped
  assert examples["label"].tolist() == [0] * 5 and dataset.class_names[0] == "cat"
  small, _ = load_examples(_data(folder=str(classes), image_size=8, split="train[:6]"))
  assert small.images.shape == (5, 8, 8, 3)


@pytest.mark.parametrize("overrides, message", [
    ({"idx_dir": "/data/mnist"}, "config.data.folder and config.data.idx_dir"),
    ({"paired_dir": "/data/facades"}, "config.data.folder and config.data.paired_dir"),
])
def test_a_folder_and_another_source_is_an_error(tmp_path, overrides, message):
  with pytest.raises(DataError, match=message):
    load_examples(_data(folder=str(tmp_path), **overrides))


def test_the_folder_experiment_without_a_folder_says_how(tmp_path):
  with pytest.raises(DataError, match="--config.data.folder=DIR"):
    load_examples(_data(name=folder.NAME))
