"""Fault injection: kill, interrupt and contend a small training run; resume; compare.

Trains a small config once without interruption, then again through a seeded
schedule of faults, re-running the same command after each, and at the end
compares the two final checkpoints leaf by leaf, bit for bit, and the sample
grids byte by byte. The faults, shuffled together:

- ``--kills`` SIGKILLs. A quarter land in start-up (imports, data, restore,
  compilation); the others follow the run's progress: seeded random target
  steps, each killed a random fraction of up to two steps after the run reports
  it (in a training step, a sample grid or an asynchronous checkpoint save).
  Kills follow the run's progress, not the clock, so they stay inside its life
  however fast the machine is, and every resumed run gets further.
- ``--interrupts`` SIGINTs and SIGTERMs (alternating), half in start-up (a
  random moment between the trainer installing its handlers and it locking the
  workdir: imports, data, model), half in the restore (sent as soon as the
  process has a file under ``checkpoints/`` open, polled through
  ``/proc/<pid>/fd``; retried up to 4 times until one lands inside the read).
  Each must exit 0 (SIGTERM) or 130 (SIGINT) with "Stopped by SIG... before
  training started" and leave every file of the workdir byte-identical, or, if
  it landed in training, stop with "Stopped at step N" and checkpoint N.
- ``--second_trainers``: while a run trains, the same command is started in the
  same workdir. It must exit 2 with "is in use by another trainer" naming the
  first one's pid, and the first must still be alive and then log a later step.
  Hosted by runs that start early enough to outlive the second's start-up.
- ``--other_data`` resumes on other data (an IDX directory holding the first
  half of the digits): exit 2, "trained on other data", workdir byte-identical.
  After the first of them, runs use a copy of the data in another directory
  (moved data) at random, and the final run always does.

Throughout: no process may print a Traceback, and no checkpoint may be moved
aside (``checkpoints/unreadable-*``). "Byte-identical" hashes every file of the
workdir, lock file included, with one tolerance: a refused or interrupted run
that took the lock removes a stale ``.ganjax.lock`` left by a SIGKILLed trainer
(its pid dead); everything else must be unchanged. Signals are sent only once
the trainer has installed its handlers (``SigCgt`` in ``/proc/<pid>/status``,
~0.2 s after exec): before that Python's defaults apply.

Prints one summary line:

  kills=20 (startup 5, training 15) interrupts=6 (startup 3, restore 3, training 0)
  refused_second=2 refused_data=2 resumes=... (moved data ...) moved_aside=0
  violations=0 mismatching_leaves=0 mismatching_grids=0 seconds_lost=...

(``resumes`` counts the runs that got as far as restoring a checkpoint,
interrupted restores included: the first run starts fresh, and a run killed in
start-up may die before its restore.) Exits with 1 on any mismatch or violation
(each is printed on stderr as it happens), or when a fault could not be made
(e.g. the run finished first: use more ``--steps``).

Run:  python scripts/chaos.py [--kills 20] [--interrupts 6] [--second_trainers 2]
                              [--other_data 2] [--seed 0] [--steps 300]
"""

import argparse
import collections
import dataclasses
import gzip
import hashlib
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Optional

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ganjax.run.checkpoints import mismatching_leaves, read_arrays  # noqa: E402

SMALL = ["--config.model.g_features=16", "--config.model.d_features=8",
         "--config.model.noise_dim=16", "--config.train.batch_size=8",
         "--config.log.every_steps=1", "--config.samples.num=16",
         "--config.ckpt.every_steps=5", "--config.samples.every_steps=5"]
# Share of the kills that land in start-up rather than after the first step.
STARTUP_SHARE = 0.25
EXIT_CODES = {signal.SIGTERM: 0, signal.SIGINT: 130}
LOCK = ".ganjax.lock"
# A process that shows no progress for this long is hung.
PATIENCE_S = 900.0
RESTORE_TRIES = 4


def command(workdir: Path, data: Path, steps: int) -> list[str]:
  return [sys.executable, "-m", "ganjax.main", "--config", "experiments/mnist.py",
          "--workdir", str(workdir), f"--config.data.idx_dir={data}",
          f"--config.train.steps={steps}", *SMALL]


class Attempt:
  """One run of the command, watched through what it prints."""

  running: list["Attempt"] = []  # Killed if the script itself dies.

  def __init__(self, cmd: list[str], moved: bool = False):
    self.moved = moved  # Runs on the moved copy of the data.
    self.started = time.monotonic()
    self.resumed = False
    self.stepping = False  # Printed "First step": start-up and restore are over.
    self.step = -1  # The last step it logged (log.every_steps=1).
    self.out: list[str] = []
    self.err: list[str] = []
    self._ended = False  # Its output is closed.
    self._progress = threading.Condition()
    self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
    Attempt.running.append(self)
    self._readers = [threading.Thread(target=self._read, daemon=True),
                     threading.Thread(target=self._read_err, daemon=True)]
    for reader in self._readers:
      reader.start()

  def _read(self) -> None:
    for line in self.proc.stdout:
      with self._progress:
        self.out.append(line)
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

  def _read_err(self) -> None:
    for line in self.proc.stderr:
      self.err.append(line)

  @property
  def stdout(self) -> str:
    return "".join(self.out)

  @property
  def stderr(self) -> str:
    return "".join(self.err)

  def _wait_until(self, reached: Callable[[], bool]) -> bool:
    """Waits until ``reached()``; False when the run's output ended first."""
    with self._progress:
      if not self._progress.wait_for(lambda: reached() or self._ended, PATIENCE_S):
        raise SystemExit(f"chaos: pid {self.proc.pid} made no progress in "
                         f"{PATIENCE_S:.0f} s")
      return reached()

  def wait_for_first_step(self) -> bool:
    return self._wait_until(lambda: self.stepping)

  def wait_for_work(self) -> bool:
    """Waits until it restores a checkpoint or trains; False when it ended first."""
    return self._wait_until(lambda: self.resumed or self.stepping)

  def wait_for_step(self, step: int) -> bool:
    """Waits until the run reports ``step`` (or later)."""
    return self._wait_until(lambda: self.step >= step)

  def poll_until(self, predicate: Callable[[int], bool], interval: float) -> bool:
    """Polls ``predicate(pid)``; False when the process ended first."""
    deadline = time.monotonic() + PATIENCE_S
    while not predicate(self.proc.pid):
      if self.proc.poll() is not None:
        return False
      if time.monotonic() > deadline:
        raise SystemExit(f"chaos: pid {self.proc.pid}: nothing happened in "
                         f"{PATIENCE_S:.0f} s")
      time.sleep(interval)
    return True

  def signal(self, sig: int) -> bool:
    """Sends ``sig`` unless the process already ended; whether it was sent."""
    if self.proc.poll() is not None:
      return False
    self.proc.send_signal(sig)
    return True

  def wait(self) -> int:
    try:
      code = self.proc.wait(timeout=PATIENCE_S)
    except subprocess.TimeoutExpired:
      raise SystemExit(f"chaos: pid {self.proc.pid} did not end in {PATIENCE_S:.0f} s")
    for reader in self._readers:
      reader.join()
    if self in Attempt.running:
      Attempt.running.remove(self)
    return code


def handlers_installed(pid: int) -> bool:
  """Whether ``pid`` catches SIGTERM: ganjax installed its stop handlers."""
  try:
    with open(f"/proc/{pid}/status") as status:
      for line in status:
        if line.startswith("SigCgt:"):
          return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
  except OSError:
    pass
  return False


def opened_checkpoint_files(pid: int) -> bool:
  """Whether process ``pid`` holds a file of a checkpoint step open right now."""
  try:
    return any("/checkpoints/" in os.readlink(f"/proc/{pid}/fd/{fd}")
               for fd in os.listdir(f"/proc/{pid}/fd"))
  except OSError:
    return False


def lock_holder(workdir: Path) -> Optional[int]:
  """The pid named by the workdir's lock file, if any."""
  try:
    return int(json.loads((workdir / LOCK).read_text())["pid"])
  except (OSError, ValueError, KeyError, TypeError):
    return None


def alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
    return True
  except ProcessLookupError:
    return False
  except PermissionError:
    return True


def tree_digest(root: Path) -> dict[str, str]:
  """sha256 of every file under ``root`` by relative path (directories as 'dir')."""
  digest = {}
  for path in sorted(root.rglob("*")) if root.exists() else []:
    try:
      digest[str(path.relative_to(root))] = (
          "dir" if path.is_dir() and not path.is_symlink()
          else hashlib.sha256(path.read_bytes()).hexdigest())
    except FileNotFoundError:  # Removed while listed.
      pass
  return digest


def differences(before: dict[str, str], after: dict[str, str]) -> list[str]:
  return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


@dataclasses.dataclass
class Timing:
  """What the uninterrupted run measured, to place faults inside a run's life."""
  startup: float  # Start to "First step".
  lifetime: float  # Start to exit.
  handlers: float  # Start to the stop handlers being installed.
  locked: float  # Start to the workdir lock being taken.
  steps: int

  @property
  def step_s(self) -> float:
    return max(self.lifetime - self.startup, 0.1) / self.steps


def run_to_end(cmd: list[str], workdir: Optional[Path] = None) -> Timing:
  """Runs ``cmd`` to completion and times its start-up."""
  attempt = Attempt(cmd)
  handlers = locked = None
  # Fine polling, this run only: when its handlers are installed and it locks.
  while attempt.proc.poll() is None and locked is None and not attempt.stepping:
    now = time.monotonic() - attempt.started
    if handlers is None and handlers_installed(attempt.proc.pid):
      handlers = now
    if workdir is not None and lock_holder(workdir) == attempt.proc.pid:
      locked = now
    time.sleep(0.005)
  attempt.wait_for_first_step()
  to_first_step = time.monotonic() - attempt.started
  if attempt.wait() != 0:
    raise SystemExit(f"chaos: {' '.join(cmd)} failed:\n{attempt.stderr}")
  return Timing(startup=to_first_step, lifetime=time.monotonic() - attempt.started,
                handlers=handlers or 0.0, locked=locked or to_first_step, steps=0)


@dataclasses.dataclass
class Fault:
  """One attempt of the schedule."""
  kind: str  # "kill", "interrupt" or "other_data".
  phase: str = ""  # kill: startup/training; interrupt: startup/restore.
  fraction: float = 0.0  # Where in its window the fault lands, 0..1.
  target: int = 0  # Training kill: the step it waits for.
  sig: int = signal.SIGKILL
  second: bool = False  # Start a second trainer while this run trains.
  moved: bool = False  # Run on the moved copy of the data.

  @property
  def needs_checkpoint(self) -> bool:
    return self.kind == "other_data" or (self.kind, self.phase) == ("interrupt",
                                                                     "restore")


def schedule(rng: random.Random, kills: int, interrupts: int, second_trainers: int,
             other_data: int, steps: int, host_margin: int) -> list[Fault]:
  """The seeded, shuffled faults; training kills get sorted random target steps."""
  in_startup = round(kills * STARTUP_SHARE)
  faults = [Fault("kill", "startup" if i < in_startup else "training", rng.random())
            for i in range(kills)]
  faults += [Fault("interrupt", ("startup", "restore")[i % 2], rng.random(),
                   sig=(signal.SIGINT, signal.SIGTERM)[i // 2 % 2])
             for i in range(interrupts)]
  faults += [Fault("other_data") for _ in range(other_data)]
  rng.shuffle(faults)
  training = [f for f in faults if f.kind == "kill" and f.phase == "training"]
  for fault, target in zip(training, sorted(rng.randrange(1, steps) for _ in training)):
    fault.target = target
  # A host resumes from at most its target step and must outlive a second start-up
  # (``host_margin`` steps); it trains on meanwhile, so the hosts come early.
  hosts = [f for f in training if f.target <= (steps - host_margin) // 2]
  for fault in rng.sample(hosts, min(second_trainers, len(hosts))):
    fault.second = True
  refused = False
  for fault in faults:
    fault.moved = refused and rng.random() < 0.5
    refused = refused or fault.kind == "other_data"
  return faults


class Chaos:
  """Runs the schedule against one workdir and keeps the score."""

  def __init__(self, workdir: Path, data: Path, moved: Path, half: Path, steps: int,
               timing: Timing, host_margin: int, rng: random.Random):
    self.workdir, self.data, self.moved, self.half = workdir, data, moved, half
    self.steps, self.timing, self.host_margin, self.rng = steps, timing, host_margin, rng
    self.counts = collections.Counter()
    self.violations: list[str] = []
    self.shortfalls: list[str] = []
    self.finished = False
    self.verbose = False
    self._unreadable: set[str] = set()
    self._since = time.monotonic()

  # Bookkeeping.

  def _cmd(self, moved: bool) -> list[str]:
    return command(self.workdir, self.moved if moved else self.data, self.steps)

  def _start(self, moved: bool) -> Attempt:
    return Attempt(self._cmd(moved), moved)

  def violation(self, what: str, attempt: Optional[Attempt] = None) -> None:
    self.violations.append(what)
    detail = ""
    if attempt is not None:
      tail = (attempt.stderr.strip().splitlines() or ["(empty)"])[-6:]
      detail = "\n  stderr: " + "\n          ".join(tail)
    print(f"chaos: violation: {what}{detail}", file=sys.stderr, flush=True)

  def latest_checkpoint(self) -> int:
    """The newest checkpoint's step (where the next run resumes), -1 if none."""
    directory = self.workdir / "checkpoints"
    return max((int(p.name) for p in directory.iterdir() if p.name.isdigit()),
               default=-1) if directory.is_dir() else -1

  def has_checkpoint(self) -> bool:
    return self.latest_checkpoint() >= 0

  def _retarget(self, faults: list[Fault]) -> None:
    """Spreads training kills whose target the run has passed over what is left.

    A run that hosted a second trainer trained on during its start-up, past the
    targets of the next kills; killing those right after their first step would
    pile them up at one step.
    """
    floor = self.latest_checkpoint()
    kills = [f for f in faults if f.kind == "kill" and f.phase == "training"]
    if kills and kills[0].target <= floor and floor + 1 < self.steps:
      targets = sorted(self.rng.randrange(floor + 1, self.steps) for _ in kills)
      for fault, target in zip(kills, targets):
        fault.target = target

  def _finished(self, attempt: Attempt, label: str) -> None:
    """An attempt ended before its fault: the run is complete, or it failed."""
    code = attempt.wait()
    if code == 0 and ("Finished at step" in attempt.stdout
                      or "Already at step" in attempt.stdout):
      self.finished = True
    else:
      self.violation(f"{label}: exited {code} on its own", attempt)

  def check(self, attempt: Attempt, label: str) -> None:
    """What must hold after every process: no traceback, nothing moved aside."""
    if self.verbose:
      print(f"[{time.monotonic() - self._since:6.1f} s] {label}: exit "
            f"{attempt.proc.returncode}, last step {attempt.step}"
            f"{', resumed' if attempt.resumed else ''}"
            f"{', moved data' if attempt.moved else ''}", file=sys.stderr, flush=True)
    self.counts["resumes"] += attempt.resumed
    self.counts["moved_resumes"] += attempt.resumed and attempt.moved
    if "Traceback" in attempt.stderr:
      self.violation(f"{label}: printed a Traceback", attempt)
    if "skipped checkpoint" in attempt.stderr:
      self.violation(f"{label}: skipped a checkpoint", attempt)
    directory = self.workdir / "checkpoints"
    unreadable = {p.name for p in directory.glob("unreadable-*")} if directory.is_dir() \
        else set()
    new = unreadable - self._unreadable
    if new:
      self._unreadable |= new
      self.counts["moved_aside"] += len(new)
      self.violation(f"{label}: moved aside {', '.join(sorted(new))}", attempt)

  def unchanged(self, before: dict[str, str], lock_pid: Optional[int], label: str,
                attempt: Attempt) -> bool:
    """Whether the workdir is byte-identical to ``before`` (stale lock tolerated)."""
    after = tree_digest(self.workdir)
    changed = differences(before, after)
    stale_lock = (changed == [LOCK] and LOCK not in after and lock_pid is not None
                  and lock_pid != attempt.proc.pid and not alive(lock_pid))
    if stale_lock:
      self.counts["stale_locks_removed"] += 1
    elif changed:
      self.violation(f"{label}: changed the workdir: {', '.join(changed[:5])}"
                     f"{' ...' if len(changed) > 5 else ''}", attempt)
      return False
    return True

  # The faults.

  def run(self, faults: list[Fault]) -> None:
    pending = list(faults)
    while pending and not self.finished:
      index = 0
      if pending[0].needs_checkpoint and not self.has_checkpoint():
        # Nothing to restore or refuse yet: the next fault that needs none first.
        index = next((i for i, f in enumerate(pending) if not f.needs_checkpoint), 0)
      self._retarget(pending)
      fault = pending.pop(index)
      getattr(self, f"_{fault.kind}")(fault)
    if pending:
      self.shortfalls.append(f"the run finished with {len(pending)} fault(s) not made; "
                             "give it more --steps")
    final = self._start(moved=True)
    code = final.wait()
    self.check(final, "final run")
    if code != 0:
      self.violation(f"final run exited {code}", final)

  def _kill(self, fault: Fault) -> None:
    attempt = self._start(fault.moved)
    label = f"{fault.phase} kill"
    if fault.phase == "startup":
      deadline = attempt.started + fault.fraction * self.timing.startup
    else:
      if fault.second and self.latest_checkpoint() > self.steps - self.host_margin:
        self.shortfalls.append("a run meant to host a second trainer started too late; "
                               "give it more --steps")
      elif fault.second:
        self._second_trainer(attempt, fault)
      if not attempt.wait_for_step(fault.target):
        self._finished(attempt, label)
        self.check(attempt, label)
        return
      deadline = time.monotonic() + fault.fraction * 2 * self.timing.step_s
    try:
      attempt.proc.wait(timeout=max(deadline - time.monotonic(), 0.0))
      self._finished(attempt, label)  # Ended before its kill.
    except subprocess.TimeoutExpired:
      attempt.proc.send_signal(signal.SIGKILL)
      attempt.wait()
      self.counts[f"kills_{fault.phase}"] += 1
    self.check(attempt, label)

  def _second_trainer(self, host: Attempt, fault: Fault) -> None:
    """Starts the command again beside ``host``; it must be refused, ``host`` go on."""
    if not host.wait_for_first_step():
      return  # The caller sees it ended.
    second = self._start(fault.moved)
    overlapped = second.wait_for_work() and host.proc.poll() is None
    if overlapped:
      self.violation("a second trainer restored or trained beside a live one", second)
    code = second.wait()
    host_alive, at = host.proc.poll() is None, host.step
    self.check(second, "second trainer")
    if overlapped:
      return
    refused = (code == 2 and "is in use by another trainer" in second.stderr
               and f"pid {host.proc.pid}," in second.stderr)
    if not refused:
      if not host_alive and host.proc.returncode == 0:
        self.shortfalls.append("a first trainer finished before the second reached the "
                               "lock; give it more --steps")
      else:
        self.violation(f"second trainer beside a live one exited {code}", second)
      return
    if not host_alive:
      self.violation(f"the first trainer died (exit {host.proc.returncode}) while the "
                     "second was refused", host)
    elif host.wait_for_step(at + 1):
      self.counts["refused_second"] += 1
    elif host.proc.wait() == 0:
      self.shortfalls.append(f"a first trainer finished at step {at} right after the "
                             "second was refused; give it more --steps")
    else:
      self.violation(f"the first trainer did not go on after step {at}", host)

  def _interrupt(self, fault: Fault) -> None:
    name = signal.Signals(fault.sig).name
    for _ in range(RESTORE_TRIES if fault.phase == "restore" else 1):
      before, lock_pid = tree_digest(self.workdir), lock_holder(self.workdir)
      attempt = self._start(fault.moved)
      if fault.phase == "startup":
        window = max(self.timing.locked - self.timing.handlers, 0.1)
        attempt.poll_until(handlers_installed, 0.002)
        deadline = time.monotonic() + fault.fraction * window
        attempt.poll_until(lambda _: time.monotonic() >= deadline, 0.005)
      else:
        attempt.poll_until(opened_checkpoint_files, 0.001)
      if not attempt.signal(fault.sig):
        self._finished(attempt, f"{name} attempt")
        self.check(attempt, f"{name} attempt")
        return
      code = attempt.wait()
      err = attempt.stderr
      if "stopping once the checkpoint is read" in err:
        where = "restore"
      elif "stopping before training starts" in err:
        where = "startup"
      elif "finishing this step and saving" in err:
        where = "training"
      else:
        where = "unknown"
      label = f"{name} in {where} (aimed at {fault.phase})"
      self.check(attempt, label)
      if code != EXIT_CODES[fault.sig]:
        self.violation(f"{label}: exit {code}, expected {EXIT_CODES[fault.sig]}", attempt)
      elif where in ("startup", "restore"):
        if f"Stopped by {name} before training started" not in err:
          self.violation(f"{label}: no 'Stopped by {name}' line", attempt)
        elif self.unchanged(before, lock_pid, label, attempt):
          self.counts[f"interrupts_{where}"] += 1
      elif where == "training":
        stopped = [line for line in attempt.out if line.startswith("Stopped at step ")]
        step = stopped[0].split()[3].rstrip(";") if stopped else None
        if step is None or not (self.workdir / "checkpoints" / step).is_dir():
          self.violation(f"{label}: no 'Stopped at step N' with checkpoint N", attempt)
        else:
          self.counts["interrupts_training"] += 1
      else:
        self.violation(f"{label}: no sign of the signal", attempt)
      if where == fault.phase or fault.phase == "startup":
        return

  def _other_data(self, fault: Fault) -> None:
    del fault
    before, lock_pid = tree_digest(self.workdir), lock_holder(self.workdir)
    attempt = Attempt(command(self.workdir, self.half, self.steps))
    code = attempt.wait()
    label = "resume on other data"
    self.check(attempt, label)
    if code != 2 or "trained on other data" not in attempt.stderr:
      self.violation(f"{label}: exit {code}, not refused as other data", attempt)
    elif self.unchanged(before, lock_pid, label, attempt):
      self.counts["refused_data"] += 1


def half_of(data: Path, directory: Path) -> Path:
  """An IDX directory with the first half of ``data``'s test digits (other data)."""
  directory.mkdir()
  for name, header, row in (("t10k-images-idx3-ubyte", 16, 784),
                            ("t10k-labels-idx1-ubyte", 8, 1)):
    path = data / name
    raw = path.read_bytes() if path.exists() else gzip.open(f"{path}.gz").read()
    count = int.from_bytes(raw[4:8], "big") // 2
    head = bytearray(raw[:header])
    head[4:8] = count.to_bytes(4, "big")
    (directory / name).write_bytes(bytes(head) + raw[header:header + count * row])
  return directory


def compare(reference: Path, chaos: Path, steps: int) -> tuple[int, int]:
  expected = read_arrays(reference / "checkpoints" / str(steps))
  final = chaos / "checkpoints" / str(steps)
  if final.is_dir():
    leaves = mismatching_leaves(expected, read_arrays(final))
  else:
    print(f"chaos: the run has no checkpoint {steps}", file=sys.stderr)
    leaves = list(expected)
  grids = [p.name for p in (reference / "samples").glob("*.png")
           if not (chaos / "samples" / p.name).exists()
           or p.read_bytes() != (chaos / "samples" / p.name).read_bytes()]
  return len(leaves), len(grids)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--kills", type=int, default=20)
  parser.add_argument("--interrupts", type=int, default=6,
                      help="SIGINT/SIGTERM, half in start-up, half in the restore")
  parser.add_argument("--second_trainers", type=int, default=2)
  parser.add_argument("--other_data", type=int, default=2)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--steps", type=int, default=300)
  parser.add_argument("--data", type=Path, default=REPO.parent / "shared/data/mnist")
  parser.add_argument("--keep", action="store_true", help="keep the workdirs")
  parser.add_argument("--verbose", action="store_true", help="one line per process")
  args = parser.parse_args()
  root = Path(tempfile.mkdtemp(prefix="ganjax-chaos-"))
  try:
    reference, chaos = root / "reference", root / "chaos"
    moved = root / "moved-data"
    shutil.copytree(args.data, moved)
    half = half_of(args.data, root / "half-data")
    run_to_end(command(root / "warmup", args.data, 1))  # fills the XLA cache
    timing = run_to_end(command(reference, args.data, args.steps), reference)
    timing.steps = args.steps
    # A host must outlive a second trainer's start-up (to its lock), twice over.
    margin = math.ceil(2 * timing.locked / timing.step_s)
    rng = random.Random(args.seed)
    faults = schedule(rng, args.kills, args.interrupts, args.second_trainers,
                      args.other_data, args.steps, margin)
    run = Chaos(chaos, args.data, moved, half, args.steps, timing, margin, rng)
    run.verbose = args.verbose
    if args.verbose:
      print(f"chaos: {timing}, host margin {margin} steps", file=sys.stderr)
    start = time.monotonic()
    run.run(faults)
    lost = time.monotonic() - start - timing.lifetime
    leaves, grids = compare(reference, chaos, args.steps)
  finally:
    for attempt in list(Attempt.running):
      if attempt.proc.poll() is None:
        attempt.proc.kill()
    if args.keep:
      print(f"workdirs kept in {root}")
    else:
      shutil.rmtree(root, ignore_errors=True)
  c = run.counts
  kills = c["kills_startup"] + c["kills_training"]
  interrupts = c["interrupts_startup"] + c["interrupts_restore"] + c["interrupts_training"]
  print(f"kills={kills} (startup {c['kills_startup']}, training {c['kills_training']}) "
        f"interrupts={interrupts} (startup {c['interrupts_startup']}, restore "
        f"{c['interrupts_restore']}, training {c['interrupts_training']}) "
        f"refused_second={c['refused_second']} refused_data={c['refused_data']} "
        f"resumes={c['resumes']} (moved data {c['moved_resumes']}) "
        f"moved_aside={c['moved_aside']} violations={len(run.violations)} "
        f"mismatching_leaves={leaves} mismatching_grids={grids} seconds_lost={lost:.1f}")
  wanted = {"kills": (kills, args.kills), "interrupts": (interrupts, args.interrupts),
            "restore interrupts": (c["interrupts_restore"], args.interrupts // 2),
            "refused second trainers": (c["refused_second"], args.second_trainers),
            "refused other-data resumes": (c["refused_data"], args.other_data)}
  for what, (made, asked) in wanted.items():
    if made < asked:
      run.shortfalls.append(f"{made} of {asked} {what} made")
  if args.verbose:
    print(f"chaos: {c['stale_locks_removed']} stale lock file(s) of killed trainers "
          "removed by refused or interrupted runs", file=sys.stderr)
  for shortfall in dict.fromkeys(run.shortfalls):
    print(f"chaos: {shortfall}", file=sys.stderr)
  sys.exit(1 if leaves or grids or run.violations or c["moved_aside"] or run.shortfalls
           else 0)


if __name__ == "__main__":
  main()
