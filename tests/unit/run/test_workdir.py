"""A run's workdir (ganjax.run.workdir): the checks before anything is written, and
the lock that keeps two trainers out of one workdir."""

import os

import pytest

from ganjax.run import workdir as workdir_lib
from ganjax.utils.errors import UserError


def _names(directory) -> list[str]:
  return sorted(p.name for p in directory.iterdir())


def test_lock_refuses_a_second_holder_and_names_the_first(tmp_path):
  workdir = tmp_path / "run"
  with workdir_lib.WorkdirLock(workdir):
    assert workdir.is_dir()
    with pytest.raises(UserError, match=f"in use by another trainer .*pid {os.getpid()}"):
      workdir_lib.WorkdirLock(workdir).acquire()
  assert not workdir.exists()  # created for the lock, nothing else written: removed
  (workdir / "samples").mkdir(parents=True)
  with workdir_lib.WorkdirLock(workdir):
    pass
  assert _names(workdir) == ["samples"]  # the lock file goes with its holder


def test_a_released_lock_can_be_taken_again(tmp_path):
  workdir = tmp_path / "run"
  (workdir / "checkpoints").mkdir(parents=True)
  first = workdir_lib.WorkdirLock(workdir)
  first.acquire()
  first.release()
  first.release()  # twice is harmless
  with workdir_lib.WorkdirLock(workdir):
    assert (workdir / workdir_lib.LOCK).exists()
  assert _names(workdir) == ["checkpoints"]


def test_a_lock_file_left_by_a_dead_process_does_not_block(tmp_path):
  """A killed trainer leaves its lock file behind, but the OS dropped its lock."""
  workdir = tmp_path / "run"
  workdir.mkdir()
  (workdir / workdir_lib.LOCK).write_text('{"host": "gone", "pid": 1, "since": "then"}')
  with workdir_lib.WorkdirLock(workdir):
    assert f'"pid": {os.getpid()}' in (workdir / workdir_lib.LOCK).read_text()
  assert _names(workdir) == []


def test_each_process_of_a_run_locks_its_own_file(tmp_path):
  workdir = tmp_path / "run"
  with workdir_lib.WorkdirLock(workdir), workdir_lib.WorkdirLock(workdir, process_index=1):
    assert _names(workdir) == [workdir_lib.LOCK, f"{workdir_lib.LOCK}.1"]


def test_workdir_checks_write_nothing(tmp_path):
  with pytest.raises(UserError, match="--workdir is empty"):
    workdir_lib.resolve("  ")
  workdir = tmp_path / "run"
  workdir.mkdir()
  (workdir / "samples").write_text("")
  with pytest.raises(UserError, match="samples is a file"):
    workdir_lib.check_writable(workdir)
  blocker = tmp_path / "file"
  blocker.write_text("")
  with pytest.raises(UserError, match="is a file"):
    workdir_lib.check_writable(blocker / "run")
  workdir_lib.check_writable(tmp_path / "new" / "run")
  assert not (tmp_path / "new").exists()


def test_checkpoint_steps_are_newest_first_and_ignore_other_names(tmp_path):
  assert workdir_lib.checkpoint_steps(tmp_path) == []
  for name in ("4", "12", "8", "unreadable-16-20260101-000000", "20.orbax-checkpoint-tmp-1"):
    (tmp_path / "checkpoints" / name).mkdir(parents=True)
  assert workdir_lib.checkpoint_steps(tmp_path) == [12, 8, 4]
