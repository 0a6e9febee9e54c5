"""The training and sampling commands end to end.

Train, resume and sample, the mistakes and the host-memory path, on the
synthetic digits (``synthetic_mnist``); real digits are scored in test_evaluation.
"""

import json
import shutil

import numpy as np
import pytest
from conftest import run_command, train_args
from PIL import Image

from ganjax.run.checkpoints import mismatching_leaves, read_arrays


def test_train_resume_and_sample(tmp_path, synthetic_mnist, ganjax_env, synthetic_run):
  # The shared run is this test's first run: 12 steps, checkpoints and grids every 4
  # (and one of the untrained generator).
  first = synthetic_run
  assert sorted(int(p.name) for p in (first / "checkpoints").iterdir()
                if p.name.isdigit()) == [4, 8, 12]
  assert sorted(p.name for p in (first / "samples").iterdir()) == [
      "step_0.png", "step_12.png", "step_4.png", "step_8.png"]
  records = [json.loads(line) for line in (first / "metrics.jsonl").open()]
  assert [r["step"] for r in records] == [4, 8, 12]
  for key in ("d_loss", "g_loss", "d_real", "d_fake", "images_per_s"):
    assert all(np.isfinite(r[key]) for r in records), key
  assert list((first / "tensorboard").glob("events.out.tfevents.*"))
  assert json.loads((first / "config.json").read_text())["train"]["steps"] == 12
  assert not (first / ".ganjax.lock").exists()

  workdir = tmp_path / "run"
  shutil.copytree(first, workdir)
  common = ["--config.ckpt.every_steps=4", "--config.samples.every_steps=4"]
  second = run_command("ganjax.main", train_args(
      workdir, synthetic_mnist, "--config.train.steps=16", *common), ganjax_env)
  assert "Resuming from checkpoint at step 12" in second.stdout + second.stderr
  assert "Finished at step 16" in second.stdout + second.stderr
  assert (workdir / "checkpoints" / "16").is_dir()
  assert [json.loads(l)["step"] for l in (workdir / "metrics.jsonl").open()] == [
      4, 8, 12, 16]

  out = tmp_path / "g.png"
  run_command("ganjax.sample", ["--workdir", str(workdir), "--num", "16", "--out",
                                str(out), "--scale", "1"], ganjax_env)
  grid = np.asarray(Image.open(out))
  assert grid.shape == (4 * 30 + 2, 4 * 30 + 2)  # 4x4 digits of 28 px, 2 px gaps
  assert grid.std() > 0


# One case per place a mistake is caught (flag parsing, value checks, choices) runs
# by default; the value checks' messages are unit-tested (tests/unit/run/test_config.py).
_slow = pytest.mark.slow


@pytest.mark.parametrize("override, message", [
    ("--config.train.stepz=3", "unknown config key"),
    pytest.param("--config.train.steps=abc", "invalid literal", marks=_slow),
    ("--config.train.batch_size=0", "train.batch_size must be a positive integer"),
    ("--config.model.name=nope", "unknown model.name"),
    pytest.param("--config.loss.adversarial=wgan", "unknown loss.adversarial", marks=_slow),
    pytest.param("--config.optim.g.name=lion", "unknown optimizer 'lion'", marks=_slow),
    ("--config.optim.d.learning_rate=-0.1", "learning_rate must be positive"),
])
def test_bad_config_is_one_line_error(tmp_path, synthetic_mnist, ganjax_env, override,
                                      message):
  result = run_command("ganjax.main",
                       train_args(tmp_path / "run", synthetic_mnist, override),
                       ganjax_env, check=False)
  assert result.returncode == 2
  assert message in result.stderr
  assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_dataset_in_host_memory_trains_bit_identically(tmp_path, synthetic_mnist,
                                                       ganjax_env):
  common = ["--config.train.steps=4", "--config.ckpt.every_steps=4",
            "--config.samples.every_steps=4"]
  run_command("ganjax.main", train_args(tmp_path / "device", synthetic_mnist, *common),
              ganjax_env)
  host = run_command("ganjax.main", train_args(
      tmp_path / "host", synthetic_mnist, *common, "--config.data.device_budget_mb=0"),
      ganjax_env)
  assert "stays in host memory" in host.stdout
  assert mismatching_leaves(read_arrays(tmp_path / "host" / "checkpoints" / "4"),
                            read_arrays(tmp_path / "device" / "checkpoints" / "4")) == []


def test_config_mistakes_are_reported_before_any_data_is_loaded(tmp_path, ganjax_env):
  # With the data missing too, the config mistake is what the user hears of first.
  result = run_command("ganjax.main", train_args(
      tmp_path / "run", tmp_path / "no-data", "--config.loss.adversarial=wgan"),
      ganjax_env, check=False)
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1].startswith(
      "ganjax: error: unknown loss.adversarial 'wgan'")


def test_missing_or_corrupt_idx_files(tmp_path, ganjax_env):
  (tmp_path / "idx").mkdir()
  result = run_command("ganjax.main", train_args(tmp_path / "run", tmp_path / "idx"),
                       ganjax_env, check=False)
  assert result.returncode == 2 and "Traceback" not in result.stderr
  (tmp_path / "idx" / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03garbage")
  result = run_command("ganjax.main", train_args(tmp_path / "run", tmp_path / "idx"),
                       ganjax_env, check=False)
  assert result.returncode == 2 and "Traceback" not in result.stderr
  assert "t10k-images-idx3-ubyte" in result.stderr


def test_unwritable_workdir(tmp_path, synthetic_mnist, ganjax_env):
  blocker = tmp_path / "file"
  blocker.write_text("not a directory")
  result = run_command("ganjax.main", train_args(blocker / "run", synthetic_mnist),
                       ganjax_env, check=False)
  assert result.returncode == 2
  assert "cannot write workdir" in result.stderr and "Traceback" not in result.stderr


def test_bench_counts_the_steps_flops_and_utilisation(tmp_path, ganjax_env):
  env = dict(ganjax_env, GANJAX_PEAKS=str(tmp_path / "peaks.json"))
  result = run_command("ganjax.bench", [
      "--config", "experiments/mnist_dcgan.py", "--batch_size", "8", "--steps", "2",
      "--warmup", "0", "--config.model.g_features=8", "--config.model.d_features=8",
      "--config.model.noise_dim=8"], env)
  record = json.loads(result.stdout.strip().splitlines()[-1])
  assert record["step_gflop"] > 0 and record["gflop_per_s"] > 0
  assert 0 < record["utilisation"] < 1
  assert record["peak_source"] == "measured 2048x2048 matmul"
  assert (tmp_path / "peaks.json").is_file()
