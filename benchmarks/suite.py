r"""The benchmark to run on any machine: four models, float32 and bfloat16, one
device and all devices, with FLOP/s and utilisation.

  python benchmarks/suite.py [--models seed,dcgan,modern,dcgan64]
      [--dtypes float32,bfloat16] [--steps 3] [--peak_tflops T]

For each model, dtype and device count (1, and all devices when there are
several) it builds the experiment's real trainer on random images of the
model's shape and times its jitted step (``ganjax.run.benchmark.measure``, what
``python -m ganjax.bench`` prints): images/s, step time, compile time, the
compiled step's GFLOP (XLA's cost analysis), achieved GFLOP/s and the
utilisation of the device's peak (published for GPUs and TPUs, measured once
for CPUs). With several devices the batch per device stays that of one device
(weak scaling), and FLOP/s and utilisation are per device.

Nothing here assumes a CPU: on a GPU or TPU machine it runs unchanged. CPUs
have no bfloat16 matrix units (XLA emulates them slowly), so on a CPU the default
is float32 only. One process, compiled once per case: the defaults take about
3 minutes on a 2-core CPU (float32) and well under 5 on an accelerator.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import jax

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ganjax.run import benchmark  # pylint: disable=wrong-import-position
from ganjax.run import config as config_lib  # pylint: disable=wrong-import-position

#: name: (experiment, batch per device, image shape)
MODELS = {
    "seed": ("experiments/mnist.py", 100, (28, 28, 1)),
    "dcgan": ("experiments/mnist_dcgan.py", 128, (28, 28, 1)),
    "modern": ("experiments/mnist_modern.py", 64, (28, 28, 1)),
    "dcgan64": ("experiments/folder.py", 64, (64, 64, 3)),
}


def _config(experiment: str, dtype: str):
  config = config_lib.experiment_config(REPO / experiment)
  config.model.dtype = dtype
  return config


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--models", default=",".join(MODELS))
  parser.add_argument("--dtypes", default=None,
                      help="default: float32 on CPUs, float32,bfloat16 elsewhere")
  parser.add_argument("--steps", type=int, default=3, help="timed steps per case")
  parser.add_argument("--warmup", type=int, default=1)
  parser.add_argument("--peak_tflops", type=float, default=None)
  args = parser.parse_args()
  dtypes = (args.dtypes or ("float32" if jax.default_backend() == "cpu"
                            else "float32,bfloat16")).split(",")
  counts = sorted({1, jax.device_count()})
  kind = jax.devices()[0].device_kind
  print(f"{jax.device_count()} x {kind} ({jax.default_backend()}), jax {jax.__version__}\n")
  print("| model | dtype | devices | batch | images/s | step s | compile s | GFLOP/step "
        "| GFLOP/s | utilisation |\n|---|---|---|---|---|---|---|---|---|---|", flush=True)
  started, peaks = time.perf_counter(), {}
  for name in args.models.split(","):
    experiment, batch, shape = MODELS[name]
    for dtype in dtypes:
      for count in counts:
        r = benchmark.measure(_config(experiment, dtype), batch * count, args.steps,
                              args.warmup, shape, args.peak_tflops, count)
        gflop = f"{r['step_gflop']:.1f}" if r["step_gflop"] else "-"
        rate = f"{r['gflop_per_s']:.1f}" if r["gflop_per_s"] else "-"
        use = f"{100 * r['utilisation']:.1f}%" if r["utilisation"] else "-"
        print(f"| {name} | {dtype} | {count} | {batch * count} | {r['images_per_s']:.1f} "
              f"| {r['step_s']:.3f} | {r['compile_s']:.1f} | {gflop} | {rate} | {use} |",
              flush=True)
        print(json.dumps({"case": name, **r}), file=sys.stderr, flush=True)
        peaks[dtype] = f"{r['peak_gflop_per_s']:.0f} GFLOP/s ({r['peak_source']})"
  print("\npeak per device: " + "; ".join(f"{d} {p}" for d, p in peaks.items()) +
        f". {time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
  main()
