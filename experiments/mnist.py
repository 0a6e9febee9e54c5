"""The seed's model: the Keras DCGAN tutorial on MNIST (sigmoid output, Adam 8e-4/4e-4).

Run:
  python -m ganjax.main --config experiments/mnist.py --workdir runs/mnist

Offline (no TFDS download), on the complete MNIST as IDX files (trains on the
60,000 training digits; evaluate against the 10,000 test digits):
  python -m ganjax.main --config experiments/mnist.py --workdir runs/mnist \
      --config.data.idx_dir=../shared/data/mnist_full
"""

from ganjax.run.config import default_config


def get_config():
  return default_config()
