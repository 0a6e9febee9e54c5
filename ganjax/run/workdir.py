"""A training run's workdir: what it holds, checks before anything is written, its lock.

A trainer checks the whole workdir before it does any work (:func:`check_writable`)
and takes :class:`WorkdirLock` before it changes anything, so a mistake never
leaves a half-made workdir and two trainers never share one. Read-only commands
(sample, eval, translate) take no lock: they work beside a live run.
"""

import errno
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Optional

from ganjax.utils import paths
from ganjax.utils.errors import UserError

CHECKPOINTS = "checkpoints"
SAMPLES = "samples"
TENSORBOARD = "tensorboard"
METRICS = "metrics.jsonl"
CONFIG = "config.json"
LOCK = ".ganjax.lock"
STATUS = "status.json"

_DIRECTORIES = (CHECKPOINTS, SAMPLES, TENSORBOARD)
_FILES = (METRICS, CONFIG)


def resolve(workdir: Optional[str]) -> Path:
  """The absolute workdir path; an empty or missing one is a mistake.

  Raises:
    UserError: ``workdir`` is empty.
  """
  if workdir is None or not str(workdir).strip():
    raise UserError("--workdir is empty; name the directory of the run")
  return Path(workdir).expanduser().absolute()


def checkpoint_steps(workdir: Path) -> list[int]:
  """Steps of the checkpoint directories in ``workdir`` (or their remains), newest first."""
  directory = workdir / CHECKPOINTS
  if not directory.is_dir():
    return []
  return sorted((int(p.name) for p in directory.iterdir() if p.name.isdigit()),
                reverse=True)


def check_writable(workdir: Path) -> None:
  """Raises UserError if a run could not write everything it needs in ``workdir``.

  Leaves nothing behind: the workdir (or its nearest existing parent) must take
  a file, and what the run writes must not exist as the wrong kind of file.
  """
  if workdir.exists() and not workdir.is_dir():
    raise UserError(f"cannot write workdir {workdir}: it is a file, not a directory")
  for name in _DIRECTORIES:
    if (workdir / name).exists() and not (workdir / name).is_dir():
      raise UserError(f"{workdir / name} is a file; a run keeps its {name} there in a "
                      "directory (move the file away)")
  for name in _FILES:
    if (workdir / name).is_dir():
      raise UserError(f"{workdir / name} is a directory; a run writes its {name} there "
                      "(move the directory away)")
  paths.check_writable_dir(workdir, f"workdir {workdir}")


def write_status(workdir: Path, state: str, step: int, reason: str = "") -> None:
  """Records how the run stands: running, finished, stopped or failed (with why).

  ``python -m ganjax.runs`` reads it; a run whose status says running but whose
  lock is free died without a word (SIGKILL, power loss).
  """
  paths.write_json(workdir / STATUS, {"state": state, "step": step, "reason": reason,
                                      "time": time.time()})


def read_status(workdir: Path) -> dict:
  try:
    status = json.loads((workdir / STATUS).read_text())
    return status if isinstance(status, dict) else {}
  except (OSError, ValueError):
    return {}


def is_locked(workdir: Path) -> bool:
  """Whether a live trainer holds the workdir (checked without changing anything)."""
  try:
    fd = os.open(workdir / LOCK, os.O_RDONLY)
  except OSError:
    return False
  try:
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False
  except OSError:
    return True
  finally:
    os.close(fd)


class WorkdirLock:
  """An exclusive lock on a workdir that the OS releases when its process dies.

  ``flock`` on ``<workdir>/.ganjax.lock``, which names its holder (host, pid);
  the file is removed on release, so a refused or failed run leaves the workdir
  as it found it. A workdir created for the lock is removed again if the run
  wrote nothing else into it.

  Args:
    workdir: the run's directory.
    process_index: each process of a multi-process run locks its own file;
      process 0's is the one a single-process run takes.
  """

  def __init__(self, workdir: Path, process_index: int = 0):
    self.workdir = workdir
    self.path = workdir / (f"{LOCK}.{process_index}" if process_index else LOCK)
    self._fd: Optional[int] = None
    self._created_workdir = False

  def __enter__(self) -> "WorkdirLock":
    self.acquire()
    return self

  def __exit__(self, *exc) -> None:
    self.release()

  def acquire(self) -> None:
    """Raises UserError naming the holder when another live process has the lock."""
    try:
      self.workdir.mkdir(parents=True)
      self._created_workdir = True
    except FileExistsError:  # Also: another process of this run made it just now.
      pass
    except OSError as e:
      raise UserError(f"workdir {self.workdir} cannot be created "
                      f"({e.strerror or e})") from e
    while True:
      try:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
      except OSError as e:
        raise UserError(f"cannot lock workdir {self.workdir} ({e.strerror or e})") from e
      try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except OSError as e:
        holder = _describe_holder(fd)
        os.close(fd)
        if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
          raise UserError(f"workdir {self.workdir} is in use by another trainer "
                          f"({holder}); wait for it to stop, or stop it first") from e
        raise UserError(f"cannot lock workdir {self.workdir} ({e.strerror or e})") from e
      # The previous holder may have removed the file between our open and lock.
      if _same_file(fd, self.path):
        break
      os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                             "since": time.strftime("%Y-%m-%d %H:%M:%S")}).encode())
    self._fd = fd

  def release(self) -> None:
    if self._fd is None:
      return
    try:
      self.path.unlink()
    except OSError:
      pass
    os.close(self._fd)
    self._fd = None
    if self._created_workdir:
      try:
        self.workdir.rmdir()  # Only if the run wrote nothing.
      except OSError:
        pass


def _same_file(fd: int, path: Path) -> bool:
  try:
    return os.path.samestat(os.fstat(fd), os.stat(path))
  except OSError:
    return False


def _describe_holder(fd: int) -> str:
  try:
    holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
    return f"host {holder['host']}, pid {holder['pid']}, since {holder['since']}"
  except (OSError, ValueError, KeyError, TypeError):
    return "holder unknown"
