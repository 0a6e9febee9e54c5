r"""Throughput of a population against the same members trained one after another.

  python benchmarks/population.py [--models modern,seed] [--members 1,2,4,8]
      [--steps 3] [--devices N]

For each model and K it builds the experiment's real trainer on random images
and times its jitted step (``ganjax.run.benchmark.measure``): a K-member
population (``train.population=K``, one vmapped step) and the single run (K of
its steps take K times as long). Prints both side by side as images/s over all
members, and the population's speed-up. ``--devices``: use the first N devices
(default: all); members are laid out on the mesh as ``train.population`` runs
lay them out (``population.member_devices``).

Nothing here assumes a CPU. On a CPU the members share the same cores, so the
gain can only come from larger, better-shaped matrix products. On a GPU, where
a small model leaves most of the device idle, the population fills it.
"""

import argparse
import json
import sys
from pathlib import Path

import jax

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ganjax.run import benchmark  # pylint: disable=wrong-import-position
from ganjax.run import config as config_lib  # pylint: disable=wrong-import-position

#: name: (experiment, batch per member, image shape)
MODELS = {
    "modern": ("experiments/mnist_modern.py", 64, (28, 28, 1)),
    "dcgan": ("experiments/mnist_dcgan.py", 128, (28, 28, 1)),
    "seed": ("experiments/mnist.py", 100, (28, 28, 1)),
}


def _config(experiment: str, members: int):
  config = config_lib.experiment_config(REPO / experiment)
  config.train.population = members
  return config


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--models", default="modern,seed")
  parser.add_argument("--members", default="1,2,4,8")
  parser.add_argument("--steps", type=int, default=3, help="timed steps per case")
  parser.add_argument("--warmup", type=int, default=1)
  parser.add_argument("--devices", type=int, default=None)
  args = parser.parse_args()
  devices = args.devices or jax.device_count()
  print(f"{devices} x {jax.devices()[0].device_kind} ({jax.default_backend()}), "
        f"jax {jax.__version__}\n")
  print("| model | members | batch per member | population images/s | population step s "
        "| sequential images/s | speed-up | compile s |\n|---|---|---|---|---|---|---|---|",
        flush=True)
  for name in args.models.split(","):
    experiment, batch, shape = MODELS[name]
    single = benchmark.measure(_config(experiment, 1), batch, args.steps, args.warmup,
                               shape, num_devices=devices)
    print(json.dumps({"case": name, "members": 1, **single}), file=sys.stderr, flush=True)
    for members in (int(k) for k in args.members.split(",")):
      together = (single if members == 1 else
                  benchmark.measure(_config(experiment, members), batch, args.steps,
                                    args.warmup, shape, num_devices=devices))
      if members > 1:
        print(json.dumps({"case": name, "members": members, **together}), file=sys.stderr,
              flush=True)
      # measure() counts one member's batch; the population trains members x batch.
      population_rate = together["images_per_s"] * members
      print(f"| {name} | {members} | {batch} | {population_rate:.1f} "
            f"| {together['step_s']:.3f} | {single['images_per_s']:.1f} "
            f"| {population_rate / single['images_per_s']:.2f}x "
            f"| {together['compile_s']:.1f} |", flush=True)


if __name__ == "__main__":
  main()
