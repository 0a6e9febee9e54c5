"""Quick start: the 10-minute recipe of experiments/mnist_modern.py, sized to show
legible digits within minutes on a laptop CPU.

Grids at step 0, every 100 steps and at the end go to <workdir>/samples; the run
stops at 3,000 steps, about 10 minutes on a 2-core CPU (digits become legible
after about 5; docs/recipes.md). Continue it as long as you like:
  python -m ganjax.main --workdir runs/quick --config.train.steps=20000

Run:
  python -m ganjax.main --config experiments/mnist_quick.py --workdir runs/quick
Offline, on the complete MNIST as IDX files (60,000 training digits):
  python -m ganjax.main --config experiments/mnist_quick.py --workdir runs/quick \
      --config.data.idx_dir=../shared/data/mnist_full
"""

from pathlib import Path

from ganjax.run.config import experiment_config


def get_config():
  config = experiment_config(Path(__file__).with_name("mnist_modern.py"))
  config.train.steps = 3_000
  config.samples.every_steps = 100
  config.ckpt.every_steps = 500
  config.log.every_steps = 100
  config.eval.every_steps = 0   # python -m ganjax.eval measures the result
  return config
