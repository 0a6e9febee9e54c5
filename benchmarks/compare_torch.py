"""ganjax vs PyTorch on the seed model, side by side in one run.

Runs, as subprocesses, interleaved for ``--rounds`` rounds (ABBA order: ganjax,
torch, torch, ganjax, ganjax, torch, ...; so a load trend on a shared machine
hits both frameworks alike)::

    python -m ganjax.bench --config experiments/mnist.py --batch_size 100 --steps 5
    python benchmarks/torch_seed.py --batch-size 100 --steps 5 --warmup 2

Each prints one JSON line; this script prints a table of every run, the
medians, and ONE final JSON line with both frameworks' images/s and the ratio
ganjax / pytorch (of the medians; ``paired_ratio`` is the median over rounds of
the ratio of the two runs of the same round).

    python benchmarks/compare_torch.py                 # the seed's algorithm
    python benchmarks/compare_torch.py --reuse-fake    # one G forward per step

``--reuse-fake`` passes ``--config.train.reuse_fake=True`` to ganjax and
``--reuse-fake`` to the PyTorch reference. ``--torch-arg``/``--ganjax-arg`` pass
further flags through (repeatable), e.g. ``--torch-arg=--channels-last``.
Needs ``pip install torch==2.13.0`` (not a ganjax dependency).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]


def _commands(args: argparse.Namespace) -> dict[str, list[str]]:
  common = ["--steps", str(args.steps), "--warmup", str(args.warmup)]
  ganjax = [sys.executable, "-m", "ganjax.bench", "--config", args.config,
            "--batch_size", str(args.batch_size), *common]
  torch = [sys.executable, str(_ROOT / "benchmarks" / "torch_seed.py"),
           "--batch-size", str(args.batch_size), *common]
  if args.reuse_fake:
    ganjax.append("--config.train.reuse_fake=True")
    torch.append("--reuse-fake")
  return {"ganjax": ganjax + args.ganjax_arg, "pytorch": torch + args.torch_arg}


def _run(name: str, command: list[str], timeout: float) -> dict:
  """Runs one benchmark; returns its JSON line plus wall time and load."""
  load = os.getloadavg()[0]
  start = time.perf_counter()
  proc = subprocess.run(command, cwd=_ROOT, capture_output=True, text=True,
                        timeout=timeout)
  wall = time.perf_counter() - start
  lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
  if proc.returncode != 0 or not lines:
    tail = "\n".join(proc.stderr.splitlines()[-20:])
    raise RuntimeError(f"{name} failed (exit {proc.returncode}): {' '.join(command)}\n"
                       f"{tail}")
  result = json.loads(lines[-1])
  result.update(wall_s=wall, load1=load)
  return result


def _version(package: str) -> str | None:
  try:
    return metadata.version(package)
  except metadata.PackageNotFoundError:
    return None


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--batch-size", type=int, default=100)
  parser.add_argument("--steps", type=int, default=5, help="timed steps per run")
  parser.add_argument("--warmup", type=int, default=2, help="untimed steps per run")
  parser.add_argument("--config", default="experiments/mnist.py")
  parser.add_argument("--reuse-fake", action="store_true",
                      help="one generator forward shared by the D and G updates")
  parser.add_argument("--torch-arg", action="append", default=[],
                      help="extra flag for torch_seed.py (repeatable)")
  parser.add_argument("--ganjax-arg", action="append", default=[],
                      help="extra flag for ganjax.bench (repeatable)")
  parser.add_argument("--timeout", type=float, default=3600, help="seconds per run")
  args = parser.parse_args(argv)

  commands = _commands(args)
  for name, command in commands.items():
    print(f"# {name}: {' '.join(command)}", file=sys.stderr, flush=True)
  runs: list[tuple[int, str, dict]] = []
  for r in range(args.rounds):
    order = ["ganjax", "pytorch"] if r % 2 == 0 else ["pytorch", "ganjax"]
    for name in order:
      result = _run(name, commands[name], args.timeout)
      runs.append((r, name, result))
      print(f"# round {r + 1}/{args.rounds} {name}: {result['step_s']:.3f} s/step, "
            f"{result['images_per_s']:.2f} images/s (load {result['load1']:.1f})",
            file=sys.stderr, flush=True)

  header = (f"{'round':>5}  {'framework':<8}  {'s/step':>7}  {'images/s':>8}  "
            f"{'compile s':>9}  {'run s':>6}  {'load1':>5}")
  print(header)
  print("-" * len(header))
  for r, name, res in runs:
    compile_s = res.get("compile_s", res.get("first_step_s"))
    print(f"{r + 1:>5}  {name:<8}  {res['step_s']:>7.3f}  {res['images_per_s']:>8.2f}  "
          f"{compile_s:>9.1f}  {res['wall_s']:>6.0f}  {res['load1']:>5.1f}")

  def of(name: str, key: str) -> list[float]:
    return [res[key] for _, n, res in runs if n == name]

  med = {name: statistics.median(of(name, "images_per_s")) for name in commands}
  step = {name: statistics.median(of(name, "step_s")) for name in commands}
  paired = [g / t for g, t in zip(of("ganjax", "images_per_s"),
                                  of("pytorch", "images_per_s"))]
  ratio = med["ganjax"] / med["pytorch"]
  print("-" * len(header))
  for name in commands:
    print(f"{'med':>5}  {name:<8}  {step[name]:>7.3f}  {med[name]:>8.2f}")
  print(f"ratio ganjax/pytorch (images/s, medians): {ratio:.2f}; per round: "
        + ", ".join(f"{p:.2f}" for p in paired))
  torch_runs = [res for _, n, res in runs if n == "pytorch"]
  ganjax_runs = [res for _, n, res in runs if n == "ganjax"]
  summary = {
      "ganjax_images_per_s": med["ganjax"], "pytorch_images_per_s": med["pytorch"],
      "ratio": ratio, "paired_ratio": statistics.median(paired),
      "ganjax_step_s": step["ganjax"], "pytorch_step_s": step["pytorch"],
      "rounds": args.rounds, "batch_size": args.batch_size, "steps": args.steps,
      "warmup": args.warmup, "reuse_fake": args.reuse_fake,
      "ganjax_compile_s": statistics.median(r["compile_s"] for r in ganjax_runs),
      "backend": ganjax_runs[0].get("backend"), "devices": ganjax_runs[0].get("devices"),
      "jax": _version("jax"), "torch": torch_runs[0].get("torch"),
      "torch_threads": torch_runs[0].get("threads"), "cpus": os.cpu_count(),
      "load1": [round(res["load1"], 1) for _, _, res in runs],
      "torch_args": args.torch_arg, "ganjax_args": args.ganjax_arg,
  }
  print(json.dumps(summary), flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
