"""The seed's model: the Keras DCGAN tutorial on MNIST (sigmoid output, Adam 8e-4/4e-4).

Run:
  python -m ganjax.main --config experiments/mnist.py --workdir runs/mnist

Offline (no TFDS download), with MNIST-format IDX files:
  python -m ganjax.main --config experiments/mnist.py --workdir runs/mnist \
      --config.data.idx_dir=../shared/data/mnist
"""

from ganjax.run.config import default_config


def get_config():
  return default_config()
