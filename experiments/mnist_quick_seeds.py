"""The quick MNIST recipe, five seeds at once: FID mean ± spread at a fixed budget.

One command trains seeds 0 to 4 of experiments/mnist_quick.py together, as one
program (a population: config.train.population=5), for 1,000 steps, and scores
every member at the end (periodic evaluation: 2,000 samples each against the
training digits), printing each score's mean ± standard deviation [min, max]:
  python -m ganjax.main --config experiments/mnist_quick_seeds.py \
      --workdir runs/quick_seeds --config.data.idx_dir=../shared/data/mnist_full
The same members under the recipes' protocol (10,000 samples each against the
test digits; per member, then mean ± std [min, max]):
  python -m ganjax.eval --workdir runs/quick_seeds --reference_split test
One member as an ordinary run:
  python -m ganjax.population extract --workdir runs/quick_seeds --member 3 \
      --out runs/quick_seed3
"""

from pathlib import Path

from ganjax.run.config import experiment_config


def get_config():
  config = experiment_config(Path(__file__).with_name("mnist_quick.py"))
  config.train.population = 5
  config.train.steps = 1_000
  config.eval.every_steps = 1_000   # the end: every member scored
  config.samples.every_steps = 250
  return config
