r"""Throughput of a population against the same members trained one after another.

  python benchmarks/population.py [--models modern,seed] [--members 1,2,4,8]
      [--steps 3] [--devices N]

For each model and K it builds the experiment's real trainer on random images
and times its jitted step (``ganjax.run.benchmark.measure``): a K-member
population (``train.population=K``: one vmapped step), the same population
stepped member by member (``population.mode=sequential``: each member by its
single run's compiled step), and the single run (K sequential runs take K
times as long). Prints them side by side as images/s over all members, and
the vmapped population's speed-up over sequential single runs. ``--devices``: use the first N devices
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


def _config(experiment: str, members: int, vectorize: bool = True):
  config = config_lib.experiment_config(REPO / experiment)
  config.train.population = members
  config.population.mode = "vmap" if vectorize else "sequential"
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
  print("| model | members | batch per member | vmap images/s | vmap step s "
        "| member by member images/s | sequential single runs images/s | vmap speed-up "
        "| vmap compile s |\n|---|---|---|---|---|---|---|---|---|", flush=True)
  for name in args.models.split(","):
    experiment, batch, shape = MODELS[name]

    def measure(members: int, vectorize: bool = True) -> dict:
      result = benchmark.measure(_config(experiment, members, vectorize), batch,
                                 args.steps, args.warmup, shape, num_devices=devices)
      print(json.dumps({"case": name, "members": members, "vectorize": vectorize,
                        **result}), file=sys.stderr, flush=True)
      # measure() counts one member's batch; a population trains members x batch.
      return {**result, "images_per_s": result["images_per_s"] * members}

    single = measure(1)
    for members in (int(k) for k in args.members.split(",")):
      vmapped = single if members == 1 else measure(members)
      in_turn = single if members == 1 else measure(members, vectorize=False)
      print(f"| {name} | {members} | {batch} | {vmapped['images_per_s']:.1f} "
            f"| {vmapped['step_s']:.3f} | {in_turn['images_per_s']:.1f} "
            f"| {single['images_per_s']:.1f} "
            f"| {vmapped['images_per_s'] / single['images_per_s']:.2f}x "
            f"| {vmapped['compile_s']:.1f} |", flush=True)

if __name__ == "__main__":
  main()
