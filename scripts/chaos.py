"""Fault injection: SIGKILL a small training run at random moments, resume, compare.

Trains a small config once without interruption, then again while killing the
process with SIGKILL at ``--kills`` seeded random moments of its life (start-up,
compilation, steps, asynchronous checkpoint saves...), re-running the same command
after each kill. At the end the two final checkpoints are compared leaf by leaf, bit
for bit, and so are the sample grids. Prints one summary line:

  kills=20 resumes=20 mismatching_leaves=0 mismatching_grids=0 seconds_lost=...

Run:  python scripts/chaos.py [--kills 20] [--seed 0] [--steps 60]
"""

import argparse
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ganjax.checkpointing import mismatching_leaves, read_arrays  # noqa: E402

SMALL = ["--config.model.g_features=16", "--config.model.d_features=8",
         "--config.model.noise_dim=16", "--config.train.batch_size=8",
         "--config.log.every_steps=5", "--config.samples.num=16",
         "--config.ckpt.every_steps=5", "--config.samples.every_steps=5"]


def command(workdir: Path, data: Path, steps: int) -> list[str]:
  return [sys.executable, "-m", "ganjax.main", "--config", "experiments/mnist.py",
          "--workdir", str(workdir), f"--config.data.idx_dir={data}",
          f"--config.train.steps={steps}", *SMALL]


def run_to_end(cmd: list[str]) -> float:
  start = time.monotonic()
  subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)
  return time.monotonic() - start


def run_with_kills(cmd: list[str], kills: int, seed: int, lifetime: float,
                   startup: float) -> tuple[int, int]:
  """Kills the run ``kills`` times at seeded random moments; returns (kills, resumes)."""
  rng = random.Random(seed)
  # Each attempt lives long enough on average to advance 1/kills of the run.
  longest = startup + 2 * max(lifetime - startup, 1.0) / kills
  done_kills = resumes = 0
  while done_kills < kills:
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
      proc.wait(timeout=rng.uniform(0.0, longest))
      break  # Finished before its kill: nothing left to interrupt.
    except subprocess.TimeoutExpired:
      proc.send_signal(signal.SIGKILL)
      proc.wait()
      done_kills += 1
      resumes += 1
  run_to_end(cmd)
  return done_kills, resumes


def compare(reference: Path, chaos: Path, steps: int) -> tuple[int, int]:
  leaves = mismatching_leaves(read_arrays(reference / "checkpoints" / str(steps)),
                              read_arrays(chaos / "checkpoints" / str(steps)))
  grids = [p.name for p in (reference / "samples").glob("*.png")
           if p.read_bytes() != (chaos / "samples" / p.name).read_bytes()]
  return len(leaves), len(grids)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--kills", type=int, default=20)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--steps", type=int, default=60)
  parser.add_argument("--data", type=Path, default=REPO.parent / "shared/data/mnist")
  parser.add_argument("--keep", action="store_true", help="keep the two workdirs")
  args = parser.parse_args()
  root = Path(tempfile.mkdtemp(prefix="ganjax-chaos-"))
  reference, chaos = root / "reference", root / "chaos"
  startup = run_to_end(command(root / "warmup", args.data, 1))  # fills the XLA cache
  lifetime = run_to_end(command(reference, args.data, args.steps))
  start = time.monotonic()
  kills, resumes = run_with_kills(command(chaos, args.data, args.steps), args.kills,
                                  args.seed, lifetime, startup)
  lost = time.monotonic() - start - lifetime
  leaves, grids = compare(reference, chaos, args.steps)
  print(f"kills={kills} resumes={resumes} mismatching_leaves={leaves} "
        f"mismatching_grids={grids} seconds_lost={lost:.1f}")
  if args.keep:
    print(f"workdirs kept in {root}")
  else:
    shutil.rmtree(root)
  sys.exit(1 if leaves or grids else 0)


if __name__ == "__main__":
  main()
