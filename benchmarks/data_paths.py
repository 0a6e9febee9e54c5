r"""Training speed and input wait on the three data paths, on the same data.

  python benchmarks/data_paths.py [--config experiments/mnist_modern.py] [--steps 200]
      [--idx_dir ../shared/data/mnist_full] [--prepared DIR]

Trains the experiment with ``python -m ganjax.main`` (a fresh workdir each time)
three ways on the same training digits, and prints one row per path:

* ``device``: the dataset on the devices, each step gathers its batch inside the
  jitted step (the default for data up to ``data.device_budget_mb``);
* ``host``: the dataset in host memory, each step sends its batch
  (``--config.data.device_budget_mb=0``);
* ``streamed``: a prepared dataset read step by step from its ArrayRecord shards
  through grain (``--config.data.prepared=DIR --config.data.host_budget_mb=0``).

Columns: images/s and ``input_wait_fraction`` (the share of the loop's time spent
obtaining batches), both the means the trainer logged after its first logging
window (compilation excluded), and the process's peak resident memory. The
prepared dataset is written once with ``python -m ganjax.prepare`` unless
``--prepared`` names one.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _train(config: str, workdir: Path, steps: int, data_flags: list[str]) -> dict:
  log_every = max(1, steps // 10)
  command = [sys.executable, "-m", "ganjax.main", "--config", config, "--workdir",
             str(workdir), f"--config.train.steps={steps}",
             f"--config.log.every_steps={log_every}", "--config.eval.every_steps=0",
             f"--config.samples.every_steps={steps * 10}",
             f"--config.ckpt.every_steps={steps * 10}", *data_flags]
  process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL,
                             env=dict(os.environ, GANJAX_COMPILATION_CACHE=""))
  _, status, usage = os.wait4(process.pid, 0)  # This child's own peak memory.
  process.returncode = os.waitstatus_to_exitcode(status)
  if process.returncode != 0:
    raise SystemExit(f"{' '.join(command)} exited {process.returncode}")
  records = [json.loads(line) for line in (workdir / "metrics.jsonl").open()]
  timed = [r for r in records[1:] if "images_per_s" in r]
  return {"images_per_s": statistics.mean(r["images_per_s"] for r in timed),
          "input_wait_fraction": statistics.mean(r["input_wait_fraction"] for r in timed),
          "peak_rss_mb": usage.ru_maxrss / 1024}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--config", default="experiments/mnist_modern.py")
  parser.add_argument("--steps", type=int, default=200)
  parser.add_argument("--idx_dir", default=str(REPO.parent / "shared/data/mnist_full"))
  parser.add_argument("--prepared", help="a prepared dataset of the same digits")
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as scratch:
    scratch = Path(scratch)
    prepared = args.prepared
    if prepared is None:
      prepared = str(scratch / "prepared")
      subprocess.run([sys.executable, "-m", "ganjax.prepare", "--idx_dir", args.idx_dir,
                      "--split", "train", "--out", prepared], cwd=REPO, check=True,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    paths = {
        "device": [f"--config.data.idx_dir={args.idx_dir}"],
        "host": [f"--config.data.idx_dir={args.idx_dir}",
                 "--config.data.device_budget_mb=0"],
        "streamed": [f"--config.data.prepared={prepared}",
                     "--config.data.host_budget_mb=0"],
    }
    print(f"{args.config}, {args.steps} steps\n")
    print("| path | images/s | input wait | peak RSS |\n|---|---|---|---|")
    results = {}
    for name, flags in paths.items():
      results[name] = _train(args.config, scratch / name, args.steps, flags)
      r = results[name]
      print(f"| {name} | {r['images_per_s']:.1f} | {100 * r['input_wait_fraction']:.2f}% "
            f"| {r['peak_rss_mb']:,.0f} MB |", flush=True)
    print(json.dumps({"config": args.config, "steps": args.steps, **results}))


if __name__ == "__main__":
  main()
