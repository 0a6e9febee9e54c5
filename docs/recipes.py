r"""Reproduce the recipe comparison in docs/recipes.md: equal wall time, one table.

  python docs/recipes.py run --row modern --seed 0 [--minutes 10] [--root runs/recipes]
  python docs/recipes.py run --row modern --seed 0 --minutes 60 --from_minutes 10
  python docs/recipes.py table [--root runs/recipes]

``run`` trains one row's config on the complete MNIST for ``--minutes`` of wall
time, startup included (imports, data, a cold compile: the persistent XLA cache
is off), by sending the trainer SIGINT when the time is up (it stops at the next
step boundary and checkpoints there); then it scores the newest checkpoint with
``python -m ganjax.eval`` against the 10,000 test digits (10,000 generated
images, the domain classifier trained on the 60,000 training digits) and appends
one JSON line to ``<root>/results.jsonl``. A row that is a run of another row
measured differently (the EMA ablation: the same run, raw weights) reuses that
run's workdir instead of training again. Periodic evaluation is off in every row,
so the budget goes to training. ``--steps N`` trains to step N instead (for a
run whose cost per step equals that of a timed run: another seed, another loss,
another dataset of the same shape, measured while the machine did other work).
``--from_minutes M`` continues a copy of the
row's M-minute run (resumed from its checkpoint; both runs' wall times count).

``table`` prints the markdown table: per row, the mean and (with several seeds)
the spread (min-max) of steps reached, FID, KID, precision, recall, coverage and
classes covered.
"""

import argparse
import dataclasses
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MNIST = str(REPO.parent / "shared" / "data" / "mnist_full")
FASHION = "/usr/share/datasets/fashion-mnist"


@dataclasses.dataclass(frozen=True)
class Row:
  config: str
  overrides: tuple[str, ...] = ()
  data: str = MNIST
  # Measure another row's run with the raw generator weights instead of training.
  raw_weights_of: str = ""


ROWS = {
    "seed": Row("experiments/mnist.py"),
    "dcgan": Row("experiments/mnist_dcgan.py"),
    "modern": Row("experiments/mnist_modern.py"),
    "modern - EMA": Row("experiments/mnist_modern.py", raw_weights_of="modern"),
    "modern - spectral norm": Row("experiments/mnist_modern.py",
                                  ("--config.model.spectral_norm=False",)),
    "modern - R1": Row("experiments/mnist_modern.py", ("--config.loss.r1_weight=0",)),
    "modern - DiffAugment": Row("experiments/mnist_modern.py",
                                ("--config.augment.policy=",)),
    "modern - hinge (non-saturating loss)": Row(
        "experiments/mnist_modern.py", ("--config.loss.adversarial=non_saturating",)),
    "modern, Fashion-MNIST": Row("experiments/mnist_modern.py", data=FASHION),
}
COLUMNS = (("FID", "fid", 2), ("KID", "kid", 3), ("precision", "precision", 3),
           ("recall", "recall", 3), ("coverage", "coverage", 3),
           ("classes", "classes_covered", 1))


def _slug(name: str) -> str:
  return "".join(c if c.isalnum() else "_" for c in name).strip("_")


def workdir(root: Path, row: str, seed: int, minutes: float) -> Path:
  return root / f"{_slug(row)}_{minutes:g}min" / f"seed{seed}"


def train_command(row: Row, work: Path, seed: int, steps: int = 0) -> list[str]:
  return [sys.executable, "-m", "ganjax.main", "--config", str(REPO / row.config),
          "--workdir", str(work), f"--config.data.idx_dir={row.data}",
          f"--config.seed={seed}", "--config.eval.every_steps=0", *row.overrides,
          *([f"--config.train.steps={steps}"] if steps else [])]


def train_for(command: list[str], minutes: float, log: Path) -> float:
  """Runs ``command`` and interrupts it after ``minutes``; returns its wall time."""
  env = dict(os.environ, GANJAX_COMPILATION_CACHE="")
  start = time.monotonic()
  with open(log, "w") as out:
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out,
                               stderr=subprocess.STDOUT)
    try:
      process.wait(timeout=None if math.isinf(minutes) else minutes * 60)
    except subprocess.TimeoutExpired:
      process.send_signal(signal.SIGINT)
      process.wait()
  if process.returncode not in (0, 130):
    raise SystemExit(f"training failed ({process.returncode}); see {log}")
  return time.monotonic() - start


def evaluate(work: Path, raw_weights: bool) -> dict:
  command = [sys.executable, "-m", "ganjax.eval", "--workdir", str(work),
             "--reference_split", "test", "--num", "10000"]
  if raw_weights:
    command.append("--raw_weights")
  subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
  records = sorted((work / "eval").glob("*-raw.json" if raw_weights else "[0-9]*.json"),
                   key=lambda path: int(path.name.split(".")[0].split("-")[0]))
  records = [path for path in records if raw_weights or "-raw" not in path.name]
  return json.loads(records[-1].read_text())


def _results(root: Path) -> list[dict]:
  return [json.loads(line) for line in open(root / "results.jsonl")]


def run(args: argparse.Namespace) -> None:
  row = ROWS[args.row]
  root = Path(args.root)
  source = args.row if not row.raw_weights_of else row.raw_weights_of
  work = workdir(root, source, args.seed, args.minutes)
  wall = None
  if not row.raw_weights_of:
    if (work / "checkpoints").exists():
      raise SystemExit(f"{work} exists: this row and seed were run already")
    wall = 0.0
    if args.from_minutes:  # Resume a copy of the shorter run: its time counts.
      shorter = workdir(root, args.row, args.seed, args.from_minutes)
      wall = next(r["wall_s"] for r in _results(root) if r["row"] == args.row
                  and r["seed"] == args.seed and r["minutes"] == args.from_minutes)
      shutil.copytree(shorter, work)
    work.mkdir(parents=True, exist_ok=True)
    minutes = math.inf if args.steps else args.minutes - args.from_minutes
    wall += train_for(train_command(row, work, args.seed, args.steps), minutes,
                      work.with_suffix(".log"))
  document = evaluate(work, raw_weights=bool(row.raw_weights_of))
  result = {"row": args.row, "seed": args.seed, "minutes": args.minutes,
            "steps": document["step"], "wall_s": None if wall is None else round(wall, 1),
            "budget": "steps" if args.steps else "wall time",
            "command": "python " + " ".join(
                train_command(row, work, args.seed, args.steps)[1:]).replace(
                f"{REPO}/", ""),
            "generator_weights": document["model"]["generator_weights"],
            "scores": {key: document["scores"][key] for _, key, _ in COLUMNS}}
  with open(root / "results.jsonl", "a") as out:
    out.write(json.dumps(result) + "\n")
  print(json.dumps(result))


def _cell(values: list[float], digits: int) -> str:
  mean = statistics.fmean(values)
  if len(values) == 1:
    return f"{mean:.{digits}f}"
  return f"{mean:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def table(args: argparse.Namespace) -> None:
  results = _results(Path(args.root))
  print("| recipe | minutes | seeds | steps | " + " | ".join(c for c, _, _ in COLUMNS)
        + " |")
  print("|---|---|---|---|" + "---|" * len(COLUMNS))
  for name in ROWS:
    for minutes in sorted({r["minutes"] for r in results if r["row"] == name}):
      rows = [r for r in results if r["row"] == name and r["minutes"] == minutes]
      cells = [_cell([r["scores"][key] for r in rows], digits) for _, key, digits in COLUMNS]
      steps = _cell([r["steps"] for r in rows], 0)
      print(f"| {name} | {minutes:g} | {len(rows)} | {steps} | " + " | ".join(cells) + " |")


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  commands = parser.add_subparsers(dest="command", required=True)
  run_parser = commands.add_parser("run", help="train and score one row and seed")
  run_parser.add_argument("--row", choices=list(ROWS), required=True)
  run_parser.add_argument("--seed", type=int, default=0)
  run_parser.add_argument("--minutes", type=float, default=10.0)
  run_parser.add_argument("--steps", type=int, default=0,
                          help="train to this step instead of for --minutes (the steps "
                          "another run of the same cost reached in --minutes alone)")
  run_parser.add_argument("--from_minutes", type=float, default=0.0,
                          help="continue (a copy of) this row's run of that many minutes")
  run_parser.add_argument("--root", default=str(REPO / "runs" / "recipes"))
  table_parser = commands.add_parser("table", help="print the markdown table")
  table_parser.add_argument("--root", default=str(REPO / "runs" / "recipes"))
  args = parser.parse_args()
  run(args) if args.command == "run" else table(args)


if __name__ == "__main__":
  main()
