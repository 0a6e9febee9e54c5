"""The DCGAN paper's architecture on MNIST: strided transposed convolutions, BatchNorm,
tanh output, Adam 2e-4 with b1 = 0.5 for both networks.

Run:
  python -m ganjax.main --config experiments/mnist_dcgan.py --workdir runs/mnist_dcgan
Offline, on the complete MNIST as IDX files (60,000 training digits):
  python -m ganjax.main --config experiments/mnist_dcgan.py --workdir runs/mnist_dcgan \
      --config.data.idx_dir=../shared/data/mnist_full
"""

import ml_collections

from ganjax.run.config import default_config


def get_config():
  config = default_config()
  config.model = ml_collections.ConfigDict(dict(
      name="dcgan", noise_dim=100, g_features=64, d_features=64, spectral_norm=False,
      dtype="float32"))
  adam = dict(name="adam", learning_rate=2e-4, b1=0.5, b2=0.999, eps=1e-8)
  # A copy each: with one shared dict, setting optim.d would set optim.g too.
  config.optim = ml_collections.ConfigDict(dict(g=dict(adam), d=dict(adam)))
  config.train.batch_size = 128
  config.train.steps = 14_040   # 30 epochs of 60,000 images at batch 128
  return config
