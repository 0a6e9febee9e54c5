"""No path of a resume throws work away: interrupts, other data, other runs, locks.

Real commands in real processes, real signals, on the synthetic digits
(``synthetic_mnist``); every refusal leaves the workdir's files byte-identical
(``tree_digest``).
"""

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import (SYNTHETIC_EXAMPLES, assert_user_error, run_command, start_trainer,
                      synthetic_digits, train_args, tree_digest, wait_for,
                      write_mnist_files)

from ganjax.run.checkpoints import mismatching_leaves, read_arrays


def _steps(workdir: Path) -> list[int]:
  return sorted(int(p.name) for p in (workdir / "checkpoints").iterdir()
                if p.name.isdigit())


def _has_metrics(workdir: Path) -> bool:
  metrics = workdir / "metrics.jsonl"
  return metrics.exists() and metrics.stat().st_size > 0


def _opened_checkpoint_files(pid: int) -> bool:
  """Whether process ``pid`` holds a file of a checkpoint step open right now."""
  try:
    return any("/checkpoints/" in os.readlink(f"/proc/{pid}/fd/{fd}")
               for fd in os.listdir(f"/proc/{pid}/fd"))
  except OSError:
    return False


def _half_of_the_data(tmp_path: Path) -> Path:
  """Other data: the first half of the same synthetic digits."""
  images, labels = synthetic_digits(SYNTHETIC_EXAMPLES)
  half = SYNTHETIC_EXAMPLES // 2
  return write_mnist_files(tmp_path / "half", images[:half], labels[:half])


def _assert_refused_untouched(workdir: Path, args: list[str], env: dict,
                              *fragments: str) -> None:
  """The trainer refuses with one line naming ``fragments`` and changes no file."""
  before = tree_digest(workdir)
  assert_user_error(run_command("ganjax.main", args, env, check=False), *fragments)
  assert tree_digest(workdir) == before


def _copy(run: Path, tmp_path: Path) -> Path:
  workdir = tmp_path / "run"
  shutil.copytree(run, workdir)
  return workdir


@pytest.mark.parametrize("sig, code", [
    (signal.SIGINT, 130), pytest.param(signal.SIGTERM, 0, marks=pytest.mark.slow)])
def test_signal_during_restore_keeps_every_checkpoint(tmp_path, synthetic_mnist,
                                                      ganjax_env, synthetic_run, sig, code):
  before = tree_digest(synthetic_run)
  for attempt in range(5):  # The signal must land while the checkpoint is being read.
    # A signal that lands after the restore is an ordinary stop that saves, so
    # each attempt starts from its own copy of the untouched run.
    workdir = _copy(synthetic_run, tmp_path / f"attempt{attempt}")
    args = train_args(workdir, synthetic_mnist, "--config.train.steps=100")
    proc = start_trainer(args, ganjax_env)
    wait_for(lambda: _opened_checkpoint_files(proc.pid), proc, poll=0.001)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    if "stopping once the checkpoint is read" in err:
      break
  else:
    pytest.fail("no signal landed inside the restore in 5 tries")
  assert proc.returncode == code, err
  assert "skipped checkpoint" not in err and "Traceback" not in err
  assert f"Stopped by {sig.name} before training started" in err
  assert tree_digest(workdir) == before  # nothing moved aside, nothing written


def test_sigterm_during_startup_is_a_clean_stop(tmp_path, synthetic_mnist, ganjax_env,
                                                synthetic_run):
  workdir = _copy(synthetic_run, tmp_path)
  before = tree_digest(workdir)
  proc = start_trainer(train_args(workdir, synthetic_mnist, "--config.train.steps=100"),
                       ganjax_env)
  time.sleep(1.0)  # Importing JAX and TensorFlow.
  proc.send_signal(signal.SIGTERM)
  out, err = proc.communicate(timeout=120)
  assert proc.returncode == 0, err
  assert "Stopped by SIGTERM before training started" in err
  assert "Traceback" not in err
  assert tree_digest(workdir) == before


def test_other_data_is_refused_moved_data_and_safe_changes_resume(
    tmp_path, synthetic_mnist, ganjax_env, synthetic_run):
  workdir = _copy(synthetic_run, tmp_path)
  half = _half_of_the_data(tmp_path)  # other data
  _assert_refused_untouched(workdir, train_args(workdir, half, "--config.train.steps=16"),
                            ganjax_env, "trained on other data", "1,000 -> 500 examples",
                            "content fingerprint", "--config.init_from=")

  # The same files elsewhere: the contents match, the run resumes (and drops
  # what someone wrote into its metrics file, saying so), also with the changes
  # a resume may make: more steps, other logging and checkpoint intervals.
  moved = tmp_path / "moved-data"
  shutil.copytree(synthetic_mnist, moved)
  with (workdir / "metrics.jsonl").open("a") as metrics:
    metrics.write("an editor's note\n[1, 2]\n")
  resumed = run_command("ganjax.main", train_args(
      workdir, moved, "--config.train.steps=14", "--config.log.every_steps=2",
      "--config.ckpt.every_steps=7"), ganjax_env)
  assert "Resuming from checkpoint at step 12" in resumed.stdout
  assert "dropped 2 unreadable line(s) of metrics.jsonl" in resumed.stderr
  assert 14 in _steps(workdir)


@pytest.mark.slow
def test_init_from_starts_a_new_run_from_another_runs_weights(tmp_path, synthetic_mnist,
                                                              ganjax_env, synthetic_run):
  half = _half_of_the_data(tmp_path)
  tuned = run_command("ganjax.main", train_args(
      tmp_path / "tuned", half, "--config.train.steps=1",
      f"--config.init_from={synthetic_run}"),
      ganjax_env)
  assert f"Starting from the weights of {synthetic_run} at step 12" in tuned.stdout
  start = read_arrays(synthetic_run / "checkpoints" / "12")
  after_one_step = read_arrays(tmp_path / "tuned" / "checkpoints" / "1")
  assert after_one_step["g/step"] == 1  # a new run: fresh step and optimizer
  assert mismatching_leaves(  # weights moved on from the trained run's, by one step
      {k: v for k, v in start.items() if "/params/" in k},
      {k: v for k, v in after_one_step.items() if "/params/" in k})


def test_incompatible_checkpoint_is_refused_not_moved(tmp_path, synthetic_mnist,
                                                      ganjax_env, synthetic_run):
  """A checkpoint from another model (or a future ganjax) is intact: refuse, keep it."""
  workdir = _copy(synthetic_run, tmp_path)
  # Its config says g_features=32 but its arrays are g_features=16's: as if a
  # ganjax version with other state had written it.
  for step in (4, 8, 12):
    meta = workdir / "checkpoints" / str(step) / "meta" / "metadata"
    document = json.loads(meta.read_text())
    document["config"]["model"]["g_features"] = 32
    meta.write_text(json.dumps(document))
  config = json.loads((workdir / "config.json").read_text())
  config["model"]["g_features"] = 32
  (workdir / "config.json").write_text(json.dumps(config))
  args = train_args(workdir, synthetic_mnist, "--config.train.steps=16",
                    "--config.model.g_features=32")
  _assert_refused_untouched(workdir, args, ganjax_env, "checkpoint 12 does not fit this run",
                            "nothing was changed")

  # A checkpoint from a newer ganjax (a higher schema version) is refused too.
  meta = workdir / "checkpoints" / "12" / "meta" / "metadata"
  meta.write_text(json.dumps({**json.loads(meta.read_text()), "schema": 99}))
  _assert_refused_untouched(workdir, args, ganjax_env, "written by a newer ganjax",
                            "schema 99")


def test_second_trainer_is_refused_while_the_first_goes_on(tmp_path, synthetic_mnist,
                                                           ganjax_env):
  workdir = tmp_path / "run"
  args = train_args(workdir, synthetic_mnist, "--config.train.steps=100000",
                    "--config.ckpt.every_steps=4")
  first = start_trainer(args, ganjax_env)
  wait_for(lambda: (workdir / "checkpoints" / "4").is_dir(), first)
  second = run_command("ganjax.main", args, ganjax_env, check=False)
  assert_user_error(second, "in use by another trainer", f"pid {first.pid}")
  # Read-only commands work beside the live run.
  run_command("ganjax.sample", ["--workdir", str(workdir), "--num", "4", "--out",
                                str(tmp_path / "live.png")], ganjax_env)
  assert first.poll() is None  # untouched, still training
  first.send_signal(signal.SIGTERM)  # as a scheduler preempts a job
  out, err = first.communicate(timeout=120)
  assert first.returncode == 0, err
  assert "Traceback" not in err and "Resume with:" in out
  stopped_at = int(out.split("Stopped at step ")[1].split(";")[0])
  assert max(_steps(workdir)) == stopped_at  # a checkpoint at the stop step
  assert not (workdir / ".ganjax.lock").exists()
  resumed = run_command("ganjax.main", train_args(
      workdir, synthetic_mnist, f"--config.train.steps={stopped_at + 1}",
      "--config.ckpt.every_steps=4"), ganjax_env)
  assert f"Resuming from checkpoint at step {stopped_at}" in resumed.stdout


def test_ctrl_c_with_output_through_a_dead_pipe_still_saves(tmp_path, synthetic_mnist,
                                                          ganjax_env):
  """``ganjax.main ... | tee log``, then Ctrl-C: tee dies first, the run still saves."""
  workdir = tmp_path / "run"
  args = train_args(workdir, synthetic_mnist, "--config.train.steps=100000",
                    "--config.ckpt.every_steps=100000", "--config.log.every_steps=1")
  proc = start_trainer(args, ganjax_env, stderr=subprocess.STDOUT)
  wait_for(lambda: _has_metrics(workdir), proc)
  proc.stdout.close()  # The reader is gone: every later write hits a broken pipe.
  proc.send_signal(signal.SIGINT)
  assert proc.wait(timeout=120) == 130
  steps = _steps(workdir)
  assert len(steps) == 1 and steps[0] >= 1  # the checkpoint at the stop step


def test_a_batch_larger_than_the_data_leaves_no_workdir(tmp_path, synthetic_mnist,
                                                        ganjax_env):
  workdir = tmp_path / "run"
  too_big = run_command("ganjax.main", train_args(
      workdir, synthetic_mnist, "--config.train.batch_size=20000"), ganjax_env, check=False)
  assert_user_error(too_big, "fewer than one batch", "train.batch_size=20000")
  assert not workdir.exists()  # nothing was left behind


@pytest.mark.slow
def test_a_killed_first_run_does_not_lock_its_config(tmp_path, synthetic_mnist, ganjax_env):
  """Killed before its first checkpoint, a run's config.json is not binding."""
  workdir = tmp_path / "run"
  proc = start_trainer(train_args(workdir, synthetic_mnist, "--config.train.steps=100000",
                                  "--config.ckpt.every_steps=100000"), ganjax_env)
  wait_for(lambda: _has_metrics(workdir), proc)
  proc.kill()
  proc.wait()
  assert _steps(workdir) == []
  corrected = run_command("ganjax.main", train_args(
      workdir, synthetic_mnist, "--config.train.steps=2", "--config.seed=1",
      "--config.ckpt.every_steps=2"), ganjax_env)
  assert "Finished at step 2" in corrected.stdout
  assert json.loads((workdir / "config.json").read_text())["seed"] == 1
