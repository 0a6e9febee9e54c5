"""pix2pix on a paired-image folder: facades (label maps -> photos), maps,
edges2shoes, or your own pairs.

The folder follows the pix2pix convention: every file holds the two images side
by side (A | B), with ``train/``, ``val/``, ``test/`` subfolders (or just the
files, for training). The CMP facades files put the photo on the left (A) and
the label map on the right (B), so translating labels -> photo is "BtoA".
Images are resized to ``data.image_size`` (64 here so that a CPU trains in
reasonable time; the paper uses 256: set --config.data.image_size=256 on a GPU,
which makes the U-Net 8 levels deep).

Get the data (pix2pix's download script names the archive facades.tar.gz) and
unpack it to data/facades, then:
  python -m ganjax.main --config experiments/pix2pix_facades.py \
      --workdir runs/facades --config.data.paired_dir=data/facades
  python -m ganjax.export_pairs --config experiments/pix2pix_facades.py \
      --config.data.paired_dir=data/facades --config.data.split=val \
      --num 4 --columns 4 --input labels.png --target photos.png
  python -m ganjax.translate --workdir runs/facades --input labels.png \
      --target photos.png --out facades.png
"""

from ganjax.run.config import pix2pix_config


def get_config():
  config = pix2pix_config(features=64)
  config.data.paired_dir = "data/facades"
  config.data.paired_direction = "BtoA"
  config.data.image_size = 64
  config.data.split = "train"
  config.train.batch_size = 4      # 400 training pairs
  config.train.steps = 20_000      # 200 epochs, as in the paper
  config.samples.num = 12
  return config
