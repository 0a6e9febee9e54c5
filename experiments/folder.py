"""My folder of images: a DCGAN at 64x64 RGB on any folder of PNG, JPEG or WebP
files.

Run:
  python -m ganjax.main --config experiments/folder.py --workdir runs/my_folder \
      --config.data.folder=/path/to/images

Every image under the folder (at any depth) is decoded once into memory: the
centred square, resized to 64x64 (``--config.data.image_size``), RGB
(``--config.data.channels=1`` for grayscale). Files that cannot be decoded are
skipped and named in one warning. The model is ``dcgan`` (strided transposed convolutions, BatchNorm,
tanh; four stages from a 4x4 map to 64x64) at half the paper's width (32 base
features: 512 at 4x4), Adam 2e-4 with b1 = 0.5, batch 64. Measured on a shared
2-core CPU (``python -m ganjax.bench --config experiments/folder.py --batch_size 64
--image_shape 64,64,3``): about 14 images/s, so the default 20,000 steps take about
a day there; the paper's width (``--config.model.g_features=64
--config.model.d_features=64``) ran at 2 images/s, a job for a GPU.

Class subfolders (``images/cat/*.jpg``, ``images/dog/*.jpg``) label the images;
this model ignores labels. For a class-conditional generator add
``--config.model.name=cgan``; then ``python -m ganjax.sample --workdir
runs/my_folder --label cat --out cats.png``.

A few hundred or thousand images is little data for a GAN: DiffAugment
(``--config.augment.policy=translation,color,cutout``) keeps the discriminator
from memorising them. Periodic evaluation is off: a folder has no default domain
classifier (``--config.eval.classifier_dir`` names one).
"""

from pathlib import Path

from ganjax.run.config import experiment_config


def get_config():
  # The DCGAN paper's model and optimizer (experiments/mnist_dcgan.py) at half width.
  config = experiment_config(Path(__file__).with_name("mnist_dcgan.py"))
  config.data.name = "folder"  # the images are config.data.folder's
  config.data.image_size = 64
  config.data.channels = 3
  config.model.g_features = 32
  config.model.d_features = 32
  config.train.batch_size = 64
  config.train.steps = 20_000
  config.samples.every_steps = 500
  config.eval.every_steps = 0
  return config
