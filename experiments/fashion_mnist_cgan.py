"""Class-conditional DCGAN on Fashion-MNIST (ten kinds of clothing, 60,000 images).

The model and optimizer of ``experiments/mnist_cgan.py`` (loaded from it). The
data comes from the Debian package ``fashion-mnist`` (IDX files in
/usr/share/datasets/fashion-mnist); classes 0-9 are T-shirt/top, trouser,
pullover, dress, coat, sandal, shirt, sneaker, bag, ankle boot.

Run:
  python -m ganjax.main --config experiments/fashion_mnist_cgan.py \
      --workdir runs/fashion_cgan
  python -m ganjax.sample --workdir runs/fashion_cgan --label 7 --num 16 --out sneakers.png
"""

from pathlib import Path

from ganjax.run.config import experiment_config


def get_config():
  config = experiment_config(Path(__file__).with_name("mnist_cgan.py"))
  config.data.idx_dir = "/usr/share/datasets/fashion-mnist"
  config.train.steps = 5_000
  return config
