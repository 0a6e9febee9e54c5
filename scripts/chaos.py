"""Fault injection: SIGKILL a small training run at random moments, resume, compare.

Trains a small config once without interruption, then again while killing the
process with SIGKILL at ``--kills`` seeded random moments of its life, re-running
the same command after each kill. A quarter of the kills land in start-up
(imports, data, restore, compilation); the others are spread over the run's
steps: seeded random target steps, each killed a random fraction of up to two
steps after the run reports it (in a training step, a sample grid or an
asynchronous checkpoint save). Kills follow the run's progress, not the clock,
so they stay inside its life however fast the machine is, and every resumed run
gets further. At the end the two final checkpoints are compared leaf by leaf, bit
for bit, and so are the sample grids. Prints one summary line:

  kills=20 (startup 5, training 15) resumes=19 mismatching_leaves=0 mismatching_grids=0 seconds_lost=...

(``resumes`` counts the runs that got as far as restoring a checkpoint: the
first run starts fresh, and a run killed in start-up may die before its
restore.) Exits with 1 on any mismatch, or when the run finished before all
kills were made (use more ``--steps``).

Run:  python scripts/chaos.py [--kills 20] [--seed 0] [--steps 60]
"""

import argparse
import collections
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ganjax.checkpointing import mismatching_leaves, read_arrays  # noqa: E402

SMALL = ["--config.model.g_features=16", "--config.model.d_features=8",
         "--config.model.noise_dim=16", "--config.train.batch_size=8",
         "--config.log.every_steps=1", "--config.samples.num=16",
         "--config.ckpt.every_steps=5", "--config.samples.every_steps=5"]
# Share of the kills that land in start-up rather than after the first step.
STARTUP_SHARE = 0.25


def command(workdir: Path, data: Path, steps: int) -> list[str]:
  return [sys.executable, "-m", "ganjax.main", "--config", "experiments/mnist.py",
          "--workdir", str(workdir), f"--config.data.idx_dir={data}",
          f"--config.train.steps={steps}", *SMALL]


class Attempt:
  """One run of the command, watched through what it prints."""

  def __init__(self, cmd: list[str]):
    self.started = time.monotonic()
    self.resumed = False
    self.stepping = False  # Printed "First step": start-up and restore are over.
    self.step = -1  # The last step it logged (log.every_steps=1).
    self._ended = False  # Its output is closed.
    self._progress = threading.Condition()
    self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True)
    self._reader = threading.Thread(target=self._read, daemon=True)
    self._reader.start()

  def _read(self) -> None:
    for line in self.proc.stdout:
      with self._progress:
        if line.startswith("Resuming from checkpoint"):
          self.resumed = True
        elif line.startswith("First step"):
          self.stepping = True
        elif line.startswith("step "):  # "step 12: d_fake=..."
          self.step = int(line.split()[1].rstrip(":"))
        self._progress.notify_all()
    with self._progress:
      self._ended = True
      self._progress.notify_all()

  def _wait_until(self, reached) -> bool:
    """Waits until ``reached()``; False when the run's output ended first."""
    with self._progress:
      self._progress.wait_for(lambda: reached() or self._ended)
      return reached()

  def wait_for_first_step(self) -> bool:
    return self._wait_until(lambda: self.stepping)

  def wait_for_step(self, step: int) -> bool:
    """Waits until the run reports ``step`` (or later)."""
    return self._wait_until(lambda: self.step >= step)

  def wait(self) -> int:
    code = self.proc.wait()
    self._reader.join()
    return code


def run_to_end(cmd: list[str]) -> tuple[float, float]:
  """Runs ``cmd`` to completion; returns (seconds to its first step, total seconds)."""
  attempt = Attempt(cmd)
  attempt.wait_for_first_step()
  to_first_step = time.monotonic() - attempt.started
  if attempt.wait() != 0:
    raise SystemExit(f"chaos: {' '.join(cmd)} failed")
  return to_first_step, time.monotonic() - attempt.started


def _kill_at_random_moment(attempt: Attempt, rng: random.Random, startup: float,
                           target_step: int, step_s: float) -> Optional[str]:
  """SIGKILLs ``attempt``; returns the phase it was killed in, or None if it ended."""
  if rng.random() < STARTUP_SHARE:
    phase, deadline = "startup", attempt.started + rng.uniform(0.0, startup)
  else:
    phase, delay = "training", rng.uniform(0.0, 2 * step_s)
    if not attempt.wait_for_step(target_step):
      return None
    deadline = time.monotonic() + delay
  try:
    attempt.proc.wait(timeout=max(deadline - time.monotonic(), 0.0))
    return None  # Finished before its kill: nothing left to interrupt.
  except subprocess.TimeoutExpired:
    attempt.proc.send_signal(signal.SIGKILL)
    attempt.wait()
    return phase


def run_with_kills(cmd: list[str], kills: int, seed: int, steps: int, startup: float,
                   lifetime: float) -> tuple[collections.Counter, int]:
  """Kills the run ``kills`` times at seeded random moments, re-running it each time.

  Returns:
    The kills per phase (``startup``, ``training``) and how many runs resumed.
  """
  rng = random.Random(seed)
  targets = sorted(rng.randrange(1, steps) for _ in range(kills))
  step_s = max(lifetime - startup, 0.1) / steps
  phases, resumes = collections.Counter(), 0
  while sum(phases.values()) < kills:
    attempt = Attempt(cmd)
    phase = _kill_at_random_moment(attempt, rng, startup, targets[phases["training"]],
                                   step_s)
    resumes += attempt.resumed
    if phase is None:
      break
    phases[phase] += 1
  final = Attempt(cmd)
  if final.wait() != 0:
    raise SystemExit("chaos: the final resume failed")
  return phases, resumes + final.resumed


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
  run_to_end(command(root / "warmup", args.data, 1))  # fills the XLA cache
  startup, lifetime = run_to_end(command(reference, args.data, args.steps))
  start = time.monotonic()
  phases, resumes = run_with_kills(command(chaos, args.data, args.steps), args.kills,
                                   args.seed, args.steps, startup, lifetime)
  lost = time.monotonic() - start - lifetime
  leaves, grids = compare(reference, chaos, args.steps)
  kills = sum(phases.values())
  print(f"kills={kills} (startup {phases['startup']}, training {phases['training']}) "
        f"resumes={resumes} mismatching_leaves={leaves} mismatching_grids={grids} "
        f"seconds_lost={lost:.1f}")
  if args.keep:
    print(f"workdirs kept in {root}")
  else:
    shutil.rmtree(root)
  if kills < args.kills:
    print(f"chaos: the run finished after {kills} of {args.kills} kills; "
          "give it more --steps", file=sys.stderr)
  sys.exit(1 if leaves or grids or kills < args.kills else 0)


if __name__ == "__main__":
  main()
