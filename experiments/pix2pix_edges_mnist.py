"""pix2pix on MNIST: Canny edge maps -> handwritten digits.

The inputs are made from the digits by ``data.pairs="edges"`` (thin outlines);
the U-Net learns to fill strokes in, the PatchGAN (7x7 patches of logits on
28x28 digits) judges (outline, digit) pairs, and the L1 term (weight 100, as in
the paper) keeps outputs on the target. The shared MNIST copy has the 10,000
test digits: train on the first 9,000, hold out the last 1,000.

Run:
  python -m ganjax.main --config experiments/pix2pix_edges_mnist.py \
      --workdir runs/pix2pix_edges --config.data.idx_dir=../shared/data/mnist
Translate a drawing (white lines on black, sides a multiple of 4):
  python -m ganjax.translate --workdir runs/pix2pix_edges --input edges.png \
      --out digit.png
Other pair transforms work the same way: --config.data.pairs=inpaint | lowres.
"""

from ganjax.run.config import pix2pix_config


def get_config():
  config = pix2pix_config(features=32)
  config.data.split = "test[:9000]"
  config.data.pairs = "edges"
  config.train.batch_size = 32
  config.train.steps = 2_000
  return config
