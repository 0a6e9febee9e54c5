"""Runs survive kills, signals, damaged checkpoints, NaNs, full disks and config edits.

Every test drives the real command in a real process: signals are real signals.
The data is the synthetic digits (``synthetic_mnist``): what matters here is the
run, not what it learns.
"""

import json
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import (REPO, STEPS_12, kill_while_saving, run_command, start_trainer,
                      train_args, wait_for)

from ganjax.run.checkpoints import mismatching_leaves, read_arrays


def _steps(workdir: Path) -> list[int]:
  return sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())


def _metric_steps(workdir: Path) -> list[int]:
  return [json.loads(line)["step"] for line in (workdir / "metrics.jsonl").open()]


def test_sigkill_mid_save_then_resume_is_bit_exact(tmp_path, synthetic_mnist, ganjax_env,
                                                   synthetic_run):
  workdir = tmp_path / "run"
  args = train_args(workdir, synthetic_mnist, *STEPS_12)
  kill_while_saving(args, ganjax_env, workdir, 8)
  checkpoints = workdir / "checkpoints"
  resumed = run_command("ganjax.main", args, ganjax_env)
  assert "Resuming from checkpoint at step" in resumed.stdout
  final, reference = read_arrays(checkpoints / "12"), read_arrays(
      synthetic_run / "checkpoints" / "12")
  assert len(final) > 20
  assert mismatching_leaves(final, reference) == []
  for step in (8, 12):
    name = f"samples/step_{step}.png"
    assert (workdir / name).read_bytes() == (synthetic_run / name).read_bytes()
  assert _metric_steps(workdir) == _metric_steps(synthetic_run)


# The default run stops a trainer with SIGINT in test_nothing_lost (through a pipe).
@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_signal_stops_at_step_boundary_with_checkpoint(tmp_path, synthetic_mnist,
                                                       ganjax_env, sig, code):
  workdir = tmp_path / "run"
  args = train_args(workdir, synthetic_mnist, "--config.train.steps=100000",
                    "--config.ckpt.every_steps=100000")
  proc = start_trainer(args, ganjax_env)
  wait_for(lambda: (workdir / "metrics.jsonl").exists()
            and (workdir / "metrics.jsonl").stat().st_size > 0, proc)
  proc.send_signal(sig)
  out, err = proc.communicate(timeout=120)
  assert proc.returncode == code, err
  stopped_at = int(out.split("Stopped at step ")[1].split(";")[0])
  assert _steps(workdir) == [stopped_at]
  assert "Resume with:" in out and "ganjax.main" in out
  assert _metric_steps(workdir)[-1] == stopped_at  # metrics flushed up to the stop
  resumed = run_command("ganjax.main", train_args(
      workdir, synthetic_mnist, f"--config.train.steps={stopped_at + 1}",
      "--config.ckpt.every_steps=100000"), ganjax_env)
  assert f"Resuming from checkpoint at step {stopped_at}" in resumed.stdout


@pytest.mark.slow
def test_second_ctrl_c_stops_at_once_and_last_checkpoint_restores(tmp_path,
                                                                  synthetic_mnist,
                                                                  ganjax_env):
  workdir = tmp_path / "run"
  args = train_args(workdir, synthetic_mnist, "--config.train.steps=100000",
                    "--config.ckpt.every_steps=4")
  stderr = tmp_path / "stderr.txt"
  with stderr.open("w") as stderr_file:
    proc = start_trainer(args, ganjax_env, stderr=stderr_file)
  wait_for(lambda: (workdir / "checkpoints" / "4").is_dir(), proc)
  proc.send_signal(signal.SIGINT)
  wait_for(lambda: "SIGINT received" in stderr.read_text(), proc, timeout=60)
  proc.send_signal(signal.SIGINT)
  proc.communicate(timeout=60)
  assert proc.returncode == 130
  assert "Second interrupt" in stderr.read_text()
  resumed = run_command("ganjax.main", train_args(
      workdir, synthetic_mnist, f"--config.train.steps={max(_steps(workdir)) + 1}"),
      ganjax_env)
  assert "Resuming from checkpoint at step" in resumed.stdout
  assert "Traceback" not in resumed.stderr


def _truncate_data(step_dir: Path) -> None:
  biggest = max((p for p in step_dir.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
  biggest.write_bytes(biggest.read_bytes()[: biggest.stat().st_size // 2])


def _flip_bits(step_dir: Path) -> None:
  biggest = max((p for p in step_dir.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
  data = bytearray(biggest.read_bytes())
  middle = len(data) // 2
  data[middle:middle + 64] = bytes(b ^ 0xFF for b in data[middle:middle + 64])
  biggest.write_bytes(bytes(data))


DAMAGE = {
    "truncated data file": _truncate_data,
    "bit flips in data": _flip_bits,
    "deleted data files": lambda d: shutil.rmtree(d / "state" / "ocdbt.process_0"),
    "garbage meta item": lambda d: (d / "meta" / "metadata").write_text("{not json"),
    "deleted state directory": lambda d: shutil.rmtree(d / "state"),
}


#: The damage kind the default run covers (caught by the fingerprint); the others are slow.
FAST_DAMAGE = ("bit flips in data",)


@pytest.mark.parametrize("damage", [
    d if d in FAST_DAMAGE else pytest.param(d, marks=pytest.mark.slow)
    for d in sorted(DAMAGE)])
def test_damaged_newest_checkpoint_falls_back(tmp_path, synthetic_mnist, ganjax_env,
                                              synthetic_run, damage):
  workdir = tmp_path / "run"
  shutil.copytree(synthetic_run, workdir)
  DAMAGE[damage](workdir / "checkpoints" / "12")
  (workdir / "checkpoints" / "16.orbax-checkpoint-tmp-1234").mkdir()  # a dead save
  result = run_command("ganjax.main", train_args(workdir, synthetic_mnist, *STEPS_12),
                       ganjax_env)
  assert "Traceback" not in result.stderr
  assert "skipped checkpoint 12" in result.stderr
  assert "Resuming from checkpoint at step 8" in result.stdout
  assert _steps(workdir) == [4, 8, 12]  # nothing good was deleted
  assert list((workdir / "checkpoints").glob("unreadable-12-*"))  # moved aside
  assert mismatching_leaves(read_arrays(workdir / "checkpoints" / "12"),
                            read_arrays(synthetic_run / "checkpoints" / "12")) == []


def test_nan_rolls_back_and_training_recovers(tmp_path, synthetic_mnist, ganjax_env):
  workdir = tmp_path / "run"
  result = run_command("ganjax.main", train_args(
      workdir, synthetic_mnist, *STEPS_12, "--config.debug.nan_at_step=6"), ganjax_env)
  assert "rolled back to step 4" in result.stdout
  assert _steps(workdir) == [4, 8, 12]
  assert all(np.isfinite(a).all() for a in read_arrays(workdir / "checkpoints" / "12")
             .values() if a.dtype.kind == "f")
  assert _metric_steps(workdir) == [4, 8, 12]


@pytest.mark.slow
def test_persistent_nan_stops_after_max_rollbacks(tmp_path, synthetic_mnist, ganjax_env):
  workdir = tmp_path / "run"
  result = run_command("ganjax.main", train_args(
      workdir, synthetic_mnist, *STEPS_12, "--config.debug.nan_at_step=6",
      "--config.debug.nan_times=100", "--config.train.max_rollbacks=2"), ganjax_env,
      check=False)
  assert result.returncode == 3
  assert "after 2 rollbacks" in result.stderr and "Traceback" not in result.stderr
  assert _steps(workdir) == [4]  # no NaN was ever checkpointed


def _limit_file_size() -> None:
  # Small files (metrics, PNGs, TensorBoard events, orbax metadata: < 60 kB) still
  # fit; checkpoint data does not: its largest array alone (D's last convolution,
  # 5x5x32x64 floats) is 205 kB, however orbax splits the data into files.
  signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
  resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))


def _stop_on_a_full_disk(tmp_path, data, env, reference) -> tuple[Path, list[str]]:
  """Continues a copy of ``reference`` from step 4 on a disk too full for step 8's
  checkpoint: the run stops with one line and keeps checkpoint 4.

  Returns the workdir and the arguments that resume it.
  """
  workdir = tmp_path / "run"
  shutil.copytree(reference, workdir)
  shutil.rmtree(workdir / "checkpoints" / "12")
  shutil.rmtree(workdir / "checkpoints" / "8")
  args = train_args(workdir, data, *STEPS_12)
  full = subprocess.run([sys.executable, "-m", "ganjax.main", *args], cwd=REPO,
                        env=env, capture_output=True, text=True, timeout=600,
                        preexec_fn=_limit_file_size)
  assert full.returncode == 2, full.stderr
  last_line = full.stderr.strip().splitlines()[-1]
  assert last_line.startswith("ganjax: error: could not write checkpoint 8")
  assert "File too large" in last_line
  assert "Traceback" not in full.stderr
  assert _steps(workdir) == [4]
  return workdir, args


def test_disk_full_during_save_stops_cleanly(tmp_path, synthetic_mnist, ganjax_env,
                                            synthetic_run):
  _stop_on_a_full_disk(tmp_path, synthetic_mnist, ganjax_env, synthetic_run)


# A resume from an earlier checkpoint is bit-exact in the default run (SIGKILL above).
@pytest.mark.slow
def test_a_run_stopped_by_a_full_disk_resumes_bit_exactly(tmp_path, synthetic_mnist,
                                                          ganjax_env, synthetic_run):
  workdir, args = _stop_on_a_full_disk(tmp_path, synthetic_mnist, ganjax_env,
                                       synthetic_run)
  resumed = run_command("ganjax.main", args, ganjax_env)
  assert "Resuming from checkpoint at step 4" in resumed.stdout
  assert mismatching_leaves(read_arrays(workdir / "checkpoints" / "12"),
                            read_arrays(synthetic_run / "checkpoints" / "12")) == []


def test_incompatible_config_is_refused(tmp_path, synthetic_mnist, ganjax_env,
                                        synthetic_run):
  """Safe changes (more steps, other intervals) are resumed in test_nothing_lost."""
  workdir = tmp_path / "run"
  shutil.copytree(synthetic_run, workdir)
  refused = run_command("ganjax.main", train_args(
      workdir, synthetic_mnist, *STEPS_12, "--config.model.g_features=32",
      "--config.optim.d.learning_rate=0.1"), ganjax_env, check=False)
  assert refused.returncode == 2
  assert "model.g_features" in refused.stderr
  assert "optim.d.learning_rate" in refused.stderr
  assert "Traceback" not in refused.stderr
  assert _steps(workdir) == [4, 8, 12]
