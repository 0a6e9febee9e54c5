"""A modern recipe on MNIST: DCGAN-sized networks with the post-2017 toolbox.

Spectrally normalised discriminator, hinge loss, lazy R1 on reals, DiffAugment
(translation and cutout) at D's entry, and an exponential moving average of the
generator for samples and evaluation. Its settings are a first choice, not yet
tuned against the seed and DCGAN recipes by measurement (see the README).

Run (offline, on the complete MNIST: 60,000 training digits):
  python -m ganjax.main --config experiments/mnist_modern.py --workdir runs/mnist_modern \
      --config.data.idx_dir=../shared/data/mnist_full
Measure against the 10,000 test digits:
  python -m ganjax.classifier --dataset mnist --idx_dir ../shared/data/mnist_full
  python -m ganjax.eval --workdir runs/mnist_modern --reference_split test
"""

import ml_collections

from ganjax.run.config import default_config


def get_config():
  config = default_config()
  config.model = ml_collections.ConfigDict(dict(
      name="dcgan", noise_dim=64, g_features=32, d_features=32, spectral_norm=True,
      dtype="float32"))
  adam = dict(name="adam", learning_rate=2e-4, b1=0.5, b2=0.999, eps=1e-8)
  config.optim = ml_collections.ConfigDict(dict(g=adam, d=adam))
  config.loss.adversarial = "hinge"
  config.loss.r1_weight = 0.1
  config.loss.r1_every = 4
  config.augment.policy = "translation,cutout"
  config.ema.half_life_images = 10_000
  config.train.batch_size = 64
  config.train.steps = 20_000
  config.samples.every_steps = 250
  return config
