"""A new user's first hour: the README's first command, resuming from the workdir
alone, seeing the config, listing runs, taking samples elsewhere."""

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, assert_user_error, run_command, tree_digest
from PIL import Image

from ganjax.run import exports

#: The README's first command, at a size a test affords (real MNIST -> synthetic digits).
QUICK = ["--config", "experiments/mnist_quick.py", "--config.train.steps=5",
         "--config.samples.every_steps=3", "--config.log.every_steps=1",
         "--config.ckpt.every_steps=3", "--config.train.batch_size=8",
         "--config.eval.every_steps=0"]


def test_quick_start_grids_summary_report_resume_and_listing(tmp_path, synthetic_mnist,
                                                             ganjax_env):
  workdir = tmp_path / "runs" / "quick"
  first = run_command("ganjax.main", [*QUICK, "--workdir", str(workdir),
                                      f"--config.data.idx_dir={synthetic_mnist}"],
                      ganjax_env)
  out = first.stdout
  # The start block, the measured speed and the end report.
  assert "ganjax: dcgan on idx:" in out and "(1,000 images 28x28x1, 10 classes)" in out
  assert "parameters, discriminator" in out and "to step 5 (0.0 epochs)" in out
  assert "Speed " in out and "images/s" in out
  assert "Trained 5 steps in" in out and "last losses: d_loss=" in out
  assert f"newest grid: {workdir / 'samples' / 'step_5.png'}" in out
  # Grids of the untrained generator, at the interval and at the end.
  assert sorted(p.name for p in (workdir / "samples").iterdir()) == [
      "step_0.png", "step_3.png", "step_5.png"]
  assert json.loads((workdir / "status.json").read_text())["state"] == "finished"

  # Resume from the workdir alone; an override still applies.
  second = run_command("ganjax.main", ["--workdir", str(workdir),
                                       "--config.train.steps=7"], ganjax_env)
  assert "Resuming from checkpoint at step 5" in second.stdout
  assert "Finished at step 7" in second.stdout
  assert json.loads((workdir / "config.json").read_text())["train"]["steps"] == 7
  # An override that would change the run is refused as with --config.
  refused = run_command("ganjax.main", ["--workdir", str(workdir),
                                        "--config.train.batch_size=4"], ganjax_env,
                        check=False)
  assert_user_error(refused, "train.batch_size")

  listing = run_command("ganjax.runs", [str(tmp_path / "runs")], ganjax_env)
  row = listing.stdout.splitlines()[1].split()
  assert row[:2] == ["quick", "dcgan"] and "7/7" in row and "finished" in row


def test_print_config_shows_overrides_and_meanings_and_writes_nothing(tmp_path,
                                                                      ganjax_env):
  before = tree_digest(tmp_path)
  result = run_command("ganjax.main", ["--config", "experiments/mnist.py",
                                       "--config.train.steps=123", "--print_config",
                                       "--workdir", str(tmp_path / "run")], ganjax_env)
  lines = result.stdout.splitlines()
  steps = next(line for line in lines if line.startswith("train.steps = "))
  assert steps.startswith("train.steps = 123") and "#" in steps
  assert any(line.startswith("model.name = 'seed'") for line in lines)
  assert tree_digest(tmp_path) == before


@pytest.mark.parametrize("module", ["ganjax.main", "ganjax.sample", "ganjax.runs"])
def test_help_exits_zero(module, ganjax_env):
  result = subprocess.run([sys.executable, "-m", module, "--help"], cwd=REPO,
                          env=ganjax_env, capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr
  assert "--workdir" in result.stdout or "runs" in result.stdout


def test_no_config_and_no_run_is_one_line(tmp_path, ganjax_env):
  result = run_command("ganjax.main", ["--workdir", str(tmp_path / "new")], ganjax_env,
                       check=False)
  assert_user_error(result, "--config is required", "holds no run to resume")
  assert not (tmp_path / "new").exists()


def test_exports_png_folder_npz_and_progress_gif(tmp_path, synthetic_run):
  folder = tmp_path / "fakes"
  assert exports.export_images(str(synthetic_run), str(folder) + "/", 300, None, 0) == 0
  files = sorted(folder.iterdir())
  assert [p.name for p in files[:2]] == ["000000.png", "000001.png"] and len(files) == 300
  assert np.asarray(Image.open(files[0])).shape == (28, 28)

  npz = tmp_path / "fakes.npz"
  assert exports.export_images(str(synthetic_run), str(npz), 300, None, 0) == 0
  arrays = np.load(npz)
  assert arrays["images"].shape == (300, 28, 28, 1) and arrays["images"].dtype == np.uint8
  # The same seed makes the same images in both formats.
  np.testing.assert_array_equal(arrays["images"][0, ..., 0], np.asarray(Image.open(files[0])))

  with pytest.raises(exports.UserError, match="already holds PNG images"):
    exports.export_images(str(synthetic_run), str(folder) + "/", 3, None, 0)

  gif = tmp_path / "progress.gif"
  assert exports.progress_animation(str(synthetic_run), str(gif), 250, 1) == 0
  grids = sorted((synthetic_run / "samples").glob("step_*.png"))
  animation = Image.open(gif)
  assert animation.n_frames >= len(grids)  # Identical final frames may be merged.
  assert animation.size == Image.open(grids[0]).size
