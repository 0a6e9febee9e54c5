"""Class-conditional DCGAN on MNIST: ask for a digit, get that digit.

The generator takes (noise, label): the label embedding is concatenated to the
noise and drives conditional BatchNorm in every layer; the discriminator takes
(image, label) with a projection head (``model.d_conditioning="projection"``;
``"concat"`` feeds the label as extra input channels instead). Sample grids show
one row per class. Adam 2e-4, b1 = 0.5 (DCGAN).

Run (offline, on the complete MNIST as IDX files: 60,000 training digits):
  python -m ganjax.main --config experiments/mnist_cgan.py --workdir runs/mnist_cgan \
      --config.data.idx_dir=../shared/data/mnist_full

Then:
  python -m ganjax.sample --workdir runs/mnist_cgan --label 7 --num 16 --out sevens.png
  python -m ganjax.sample --workdir runs/mnist_cgan --num 8 --out classes.png
  python -m ganjax.classifier --dataset mnist --idx_dir ../shared/data/mnist_full
  python -m ganjax.label_accuracy --workdir runs/mnist_cgan
"""

import ml_collections

from ganjax.run.config import default_config


def get_config():
  config = default_config()
  config.model = ml_collections.ConfigDict(dict(
      name="cgan", noise_dim=64, g_features=32, d_features=32, embed_dim=32,
      g_conditioning="cbn", d_conditioning="projection", spectral_norm=False,
      dtype="float32"))
  adam = dict(name="adam", learning_rate=2e-4, b1=0.5, b2=0.999, eps=1e-8)
  # A copy each: with one shared dict, setting optim.d would set optim.g too.
  config.optim = ml_collections.ConfigDict(dict(g=dict(adam), d=dict(adam)))
  config.train.batch_size = 64
  config.train.steps = 3_000
  config.samples.num = 80       # 8 per class: a 10 x 8 grid
  return config
