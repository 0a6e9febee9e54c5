"""pix2pix colourisation: grayscale -> colour on real photographs.

Data: ``data.name="skimage_photos"``, 32x32 patches of the colour photographs
shipped inside scikit-image (astronaut, chelsea the cat, coffee, rocket; no
download), scaled by 0.5, every 8 pixels. Split "train" is the left 80% of each
photo, "test" the right 20% (held out). ``data.pairs="grayscale"`` makes the
inputs: the luma, one channel; the U-Net outputs three. L1 weight 100 as in
pix2pix. ``model.max_depth=3`` stops the U-Net at a 4x4 bottleneck instead of
1x1: measured on the held-out patches it is better (L1 0.052 against 0.059 at
depth 5) and twice as fast, and since its innermost layers see a spatial map,
it colourises whole images larger than the patches just as well (0.049 on a
640x512 sheet, against 0.098 for depth 5, whose 1x1 bottleneck only ever saw
one patch).

Run:
  python -m ganjax.main --config experiments/pix2pix_colorize.py \
      --workdir runs/pix2pix_colorize
Colourise a grayscale image whose sides are multiples of 8:
  python -m ganjax.translate --workdir runs/pix2pix_colorize --input gray.png \
      --out colour.png
"""

from ganjax.run.config import pix2pix_config


def get_config():
  config = pix2pix_config(features=32, max_depth=3)
  config.data.name = "skimage_photos"
  config.data.split = "train"
  config.data.pairs = "grayscale"
  config.data.patch_size = 32
  config.data.photo_scale = 0.5
  config.train.batch_size = 16
  config.train.steps = 2_000
  return config
