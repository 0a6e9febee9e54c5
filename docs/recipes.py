r"""Reproduce the recipe comparison in docs/recipes.md: equal wall time, one table.

  python docs/recipes.py run --row modern --seed 0 [--minutes 10] [--root runs/recipes]
  (or in two parts: ``train`` now, ``score`` when the machine may be shared)
  python docs/recipes.py run --row modern --seed 0 --minutes 60 --from_minutes 10
  python docs/recipes.py table [--root runs/recipes]
  python docs/recipes.py grids --rows seed modern [--out docs/recipes_grids.png]

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
MNIST = "../shared/data/mnist_full"  # relative to the repository (the commands run there)
FASHION = "/usr/share/datasets/fashion-mnist"


@dataclasses.dataclass(frozen=True)
class Row:
  config: str
  overrides: tuple[str, ...] = ()
  data: str = MNIST
  # Measure another row's run with the raw generator weights instead of training.
  raw_weights_of: str = ""


MODERN = "experiments/mnist_modern.py"
FIRST_MODERN = ("--config.loss.r1_weight=0.1", "--config.loss.r1_every=4",
                "--config.augment.policy=translation,cutout",
                "--config.optim.g.learning_rate=2e-4",
                "--config.optim.d.learning_rate=2e-4")
TWO_TIME_SCALES = ("--config.optim.g.learning_rate=2e-4",
                   "--config.optim.d.learning_rate=8e-4")
ROWS = {
    "seed": Row("experiments/mnist.py"),
    "dcgan": Row("experiments/mnist_dcgan.py"),
    "modern": Row(MODERN),
    "modern - EMA": Row(MODERN, raw_weights_of="modern"),
    "modern - spectral norm": Row(MODERN, ("--config.model.spectral_norm=False",)),
    "modern - hinge (non-saturating loss)": Row(
        MODERN, ("--config.loss.adversarial=non_saturating",)),
    "modern - high learning rates (both at 2e-4)": Row(
        MODERN, ("--config.optim.g.learning_rate=2e-4",
                 "--config.optim.d.learning_rate=2e-4")),
    "modern + R1 (0.1, lazy every 4)": Row(
        MODERN, ("--config.loss.r1_weight=0.1", "--config.loss.r1_every=4")),
    "modern + DiffAugment (translation, cutout)": Row(
        MODERN, ("--config.augment.policy=translation,cutout",)),
    "first modern recipe (+R1, +DiffAugment, both at 2e-4)": Row(MODERN, FIRST_MODERN),
    "modern, Fashion-MNIST": Row(MODERN, data=FASHION),
    # The recipe measured first (two time scales), kept for comparison.
    "two time scales (G 2e-4, D 8e-4)": Row(MODERN, TWO_TIME_SCALES),
    "two time scales - EMA": Row(MODERN, raw_weights_of="two time scales (G 2e-4, D 8e-4)"),
    "two time scales, Fashion-MNIST": Row(MODERN, TWO_TIME_SCALES, data=FASHION),
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


TRAINING_RECORD = "recipe_training.json"


def train(args: argparse.Namespace) -> None:
  """Trains one row and seed; records its wall time and command in the workdir."""
  row = ROWS[args.row]
  if row.raw_weights_of:
    raise SystemExit(f"{args.row!r} measures the run of {row.raw_weights_of!r}: score it")
  work = workdir(Path(args.root), args.row, args.seed, args.minutes)
  if (work / "checkpoints").exists():
    raise SystemExit(f"{work} exists: this row and seed were trained already")
  wall = 0.0
  if args.from_minutes:  # Resume a copy of the shorter run: its time counts.
    shorter = workdir(Path(args.root), args.row, args.seed, args.from_minutes)
    wall = json.loads((shorter / TRAINING_RECORD).read_text())["wall_s"]
    shutil.copytree(shorter, work)
  work.mkdir(parents=True, exist_ok=True)
  minutes = math.inf if args.steps else args.minutes - args.from_minutes
  command = train_command(row, work, args.seed, args.steps)
  took = train_for(command, minutes, work.with_suffix(".log"))
  # A run trained to a step count while the machine was shared has no wall time
  # that means anything; nor has its continuation.
  wall = None if wall is None or args.steps else round(wall + took, 1)
  record = {"wall_s": wall, "budget": "steps" if args.steps else "wall time",
            "from_minutes": args.from_minutes,
            "command": "python " + " ".join(command[1:]).replace(f"{REPO}/", "")}
  (work / TRAINING_RECORD).write_text(json.dumps(record) + "\n")


def score(args: argparse.Namespace) -> None:
  """Scores a trained row and seed with ganjax.eval; appends it to results.jsonl."""
  row = ROWS[args.row]
  root = Path(args.root)
  work = workdir(root, row.raw_weights_of or args.row, args.seed, args.minutes)
  training = json.loads((work / TRAINING_RECORD).read_text())
  document = evaluate(work, raw_weights=bool(row.raw_weights_of))
  result = {"row": args.row, "seed": args.seed, "minutes": args.minutes,
            "steps": document["step"], **training,
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
  print("| recipe | budget | seeds | steps | " + " | ".join(c for c, _, _ in COLUMNS) + " |")
  print("|---|---|---|---|" + "---|" * len(COLUMNS))
  for name in ROWS:
    for minutes in sorted({r["minutes"] for r in results if r["row"] == name}):
      rows = [r for r in results if r["row"] == name and r["minutes"] == minutes]
      cells = [_cell([r["scores"][key] for r in rows], digits) for _, key, digits in COLUMNS]
      steps = _cell([r["steps"] for r in rows], 0)
      timed = [r for r in rows if r.get("budget", "wall time") == "wall time"]
      budget = (f"{minutes:g} min" if len(timed) == len(rows) else
                f"{minutes:g} min, seed 0; others its steps" if timed else
                f"the steps of a {minutes:g}-min run")
      print(f"| {name} | {budget} | {len(rows)} | {steps} | " + " | ".join(cells) + " |")


def grids(args: argparse.Namespace) -> None:
  """Writes one PNG with a sample grid of each named row's seed-0 run, side by side
  (same noise seed, 8x8 images, a caption above each)."""
  from PIL import Image, ImageDraw
  root = Path(args.root)
  panels = []
  for name in args.rows:
    work = workdir(root, ROWS[name].raw_weights_of or name, 0, args.minutes)
    out = root / f"grid_{_slug(name)}.png"
    command = [sys.executable, "-m", "ganjax.sample", "--workdir", str(work), "--num",
               "64", "--seed", "0", "--scale", "2", "--out", str(out)]
    if ROWS[name].raw_weights_of:
      command.append("--raw_weights")
    subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    steps = max(workdir_steps(work))
    panels.append((f"{name}: step {steps:,}", Image.open(out).convert("L")))
  caption = 24
  width = sum(image.width for _, image in panels) + 16 * (len(panels) - 1)
  height = max(image.height for _, image in panels) + caption
  sheet = Image.new("L", (width, height), 255)
  draw = ImageDraw.Draw(sheet)
  x = 0
  for text, image in panels:
    draw.text((x + 4, 4), text, fill=0)
    sheet.paste(image, (x, caption))
    x += image.width + 16
  sheet.save(args.out)
  print(f"Wrote {args.out}")


def workdir_steps(work: Path) -> list[int]:
  return [int(p.name) for p in (work / "checkpoints").iterdir() if p.name.isdigit()]


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  commands = parser.add_subparsers(dest="command", required=True)
  for name, help_text in (("run", "train and score one row and seed"),
                          ("train", "train one row and seed (score it later)"),
                          ("score", "score a trained row and seed")):
    sub = commands.add_parser(name, help=help_text)
    sub.add_argument("--row", choices=list(ROWS), required=True)
    sub.add_argument("--seed", type=int, default=0)
    sub.add_argument("--minutes", type=float, default=10.0)
    sub.add_argument("--root", default=str(REPO / "runs" / "recipes"))
    if name != "score":
      sub.add_argument("--steps", type=int, default=0,
                       help="train to this step instead of for --minutes (the steps "
                       "another run of the same cost reached in --minutes alone)")
      sub.add_argument("--from_minutes", type=float, default=0.0,
                       help="continue (a copy of) this row's run of that many minutes")
  table_parser = commands.add_parser("table", help="print the markdown table")
  table_parser.add_argument("--root", default=str(REPO / "runs" / "recipes"))
  grids_parser = commands.add_parser("grids", help="sample grids of rows side by side")
  grids_parser.add_argument("--rows", nargs="+", choices=list(ROWS), required=True)
  grids_parser.add_argument("--minutes", type=float, default=10.0)
  grids_parser.add_argument("--root", default=str(REPO / "runs" / "recipes"))
  grids_parser.add_argument("--out", default=str(REPO / "docs" / "recipes_grids.png"))
  args = parser.parse_args()
  if args.command == "grids":
    grids(args)
  if args.command in ("run", "train") and not ROWS[args.row].raw_weights_of:
    train(args)
  if args.command in ("run", "score"):
    score(args)
  if args.command == "table":
    table(args)


if __name__ == "__main__":
  main()
