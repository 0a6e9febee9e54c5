"""Every mistake a user can make with the trainer: one line, exit 2, nothing touched.

Each case runs the real command on a workdir holding a run's files and checks
the exit code, the one ``ganjax: error:`` line, no traceback, and that every
file in the workdir is byte-identical afterwards (or, for a new workdir, that
none was created).
"""

import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, assert_user_error, run_command, train_args, tree_digest


def _workdir_with_files(root: Path) -> Path:
  """A workdir as a run leaves it before its first checkpoint."""
  workdir = root / "run"
  (workdir / "samples").mkdir(parents=True)
  (workdir / "config.json").write_text('{"seed": 0}')
  (workdir / "metrics.jsonl").write_text('{"step": 4, "d_loss": 0.5}\n')
  (workdir / "samples" / "step_4.png").write_bytes(b"\x89PNG not really")
  return workdir


def _no_get_config(root: Path) -> str:
  (root / "plain.py").write_text("x = 1\n")
  return str(root / "plain.py")


# (arguments after the standard ones, or a function of tmp_path giving them; what the
# error line must name)
CASES = {
    "negative seed": (["--config.seed=-1"], "config.seed must be an integer from 0"),
    "seed too large": (["--config.seed=4294967296"], "config.seed"),
    "no noise": (["--config.model.noise_dim=0"], "model.noise_dim must be an integer >= 1"),
    "dropout of 1.5": (["--config.model.dropout_rate=1.5"], "model.dropout_rate must be in"),
    "negative budget": (["--config.data.device_budget_mb=-1"], "data.device_budget_mb"),
    "zero eval batch": (["--config.eval.batch_size=0"], "eval.batch_size"),
    "stray argument": (["resume"], "unexpected arguments: resume"),
    "init_from without a run": (["--config.init_from=/nonexistent/run"],
                                "config.init_from=/nonexistent/run holds no ganjax"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_config_and_flag_mistakes(tmp_path, synthetic_mnist, ganjax_env, case):
  extra, message = CASES[case]
  workdir = _workdir_with_files(tmp_path)
  before = tree_digest(workdir)
  result = run_command("ganjax.main", train_args(workdir, synthetic_mnist, *extra),
                       ganjax_env, check=False)
  assert_user_error(result, message)
  assert tree_digest(workdir) == before


def test_config_file_without_get_config(tmp_path, synthetic_mnist, ganjax_env):
  workdir = _workdir_with_files(tmp_path)
  before = tree_digest(workdir)
  result = run_command("ganjax.main", train_args(
      workdir, synthetic_mnist, config=_no_get_config(tmp_path)), ganjax_env, check=False)
  assert_user_error(result, "defines no get_config()")
  assert tree_digest(workdir) == before


@pytest.mark.parametrize("workdir_name, make, message", [
    ("", None, "--workdir is empty"),
    ("run", lambda w: (w / "checkpoints").write_text("x"), "checkpoints is a file"),
    ("run", lambda w: (w / "tensorboard").write_text("x"), "tensorboard is a file"),
    ("run", lambda w: (w / "metrics.jsonl").unlink() or (w / "metrics.jsonl").mkdir(),
     "metrics.jsonl is a directory"),
])
def test_workdir_mistakes(tmp_path, synthetic_mnist, ganjax_env, workdir_name, make,
                          message):
  workdir = _workdir_with_files(tmp_path)
  if make is not None:
    make(workdir)
  before = tree_digest(tmp_path)
  args = train_args(workdir, synthetic_mnist)
  args[args.index("--workdir") + 1] = str(workdir) if workdir_name else ""
  result = run_command("ganjax.main", args, ganjax_env, check=False)
  assert_user_error(result, message)
  assert tree_digest(tmp_path) == before


def _limit_file_size_to(limit: int):
  def limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
  return limit_file_size


def test_disk_full_while_writing_a_sample_grid(tmp_path, synthetic_mnist, ganjax_env):
  """The grid (the first file over 3 kB) fails: one line, no stray temporary file."""
  workdir = tmp_path / "run"
  args = train_args(workdir, synthetic_mnist, "--config.train.steps=4",
                    "--config.samples.every_steps=1", "--config.ckpt.every_steps=4")
  full = subprocess.run([sys.executable, "-m", "ganjax.main", *args], cwd=REPO,
                        env=ganjax_env, capture_output=True, text=True, timeout=600,
                        preexec_fn=_limit_file_size_to(3000))
  line = assert_user_error(full, "step_0.png")
  assert "File too large" in line
  samples = workdir / "samples"
  assert not samples.exists() or [p.name for p in samples.iterdir()] == []
  assert not (workdir / "checkpoints").exists() or not any(
      p.name.isdigit() for p in (workdir / "checkpoints").iterdir())
