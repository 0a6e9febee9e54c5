"""The one image-grid writer (ganjax.utils.images): where each image lands, how
pixel values map to bytes, and the size guard."""

import numpy as np
import pytest
from PIL import Image

from ganjax.utils import images
from ganjax.utils.errors import UserError


def test_to_uint8_maps_the_pixel_range_and_clips():
  values = np.array([-2.0, -1.0, 0.0, 1.0, 3.0])
  np.testing.assert_array_equal(images.to_uint8(values, (-1.0, 1.0)),
                                [0, 0, 128, 255, 255])
  np.testing.assert_array_equal(images.to_uint8(np.array([0.0, 0.5, 1.0]), (0.0, 1.0)),
                                [0, 128, 255])


def test_the_grid_places_images_row_by_row_with_padding():
  tiles = np.stack([np.full((2, 3, 1), 10 * (i + 1), np.uint8) for i in range(5)])
  grid = images.make_grid(tiles, padding=1)
  assert grid.shape == (2 * 3 + 1, 3 * 4 + 1, 1)  # 3 columns, 2 rows for 5 images
  assert grid.shape[:2] == images.grid_shape(5, (2, 3, 1), padding=1)
  assert grid[1, 1, 0] == 10 and grid[1, 5, 0] == 20 and grid[4, 1, 0] == 40
  assert grid[4, 9, 0] == 0  # the sixth cell stays black
  assert grid[0].max() == 0 and grid[:, 0].max() == 0  # the padding


def test_save_grid_writes_the_png_it_returns_enlarged(tmp_path):
  tiles = np.linspace(-1, 1, 4 * 28 * 28).reshape(4, 28, 28, 1)
  grid = images.save_grid(tmp_path / "samples" / "step_4.png", tiles, (-1.0, 1.0),
                          scale=2)
  written = np.asarray(Image.open(tmp_path / "samples" / "step_4.png"))
  assert written.shape == tuple(2 * n for n in grid.shape[:2])
  assert written.shape == images.grid_shape(4, (28, 28, 1), scale=2)
  np.testing.assert_array_equal(written[::2, ::2], grid[..., 0])


def test_a_grid_too_large_is_refused_before_it_is_made():
  images.check_size(images.grid_shape(64, (28, 28, 1), scale=8), "--num 64")
  with pytest.raises(UserError, match="--scale 100000 would make a .* megapixels"):
    images.check_size(images.grid_shape(16, (28, 28, 1), scale=100_000), "--scale 100000")
