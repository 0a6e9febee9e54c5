"""Checkpoints written by earlier ganjax versions keep working (tests/data/earlier_versions)."""

import json
import shutil

from conftest import REPO, assert_user_error, run_command, tree_digest

SCHEMA_1_RUN = REPO / "tests" / "data" / "earlier_versions" / "dcgan_schema1"
#: The settings the stored run was trained with (its README names the command).
SCHEMA_1_OVERRIDES = ["--config.train.batch_size=4", "--config.model.g_features=2",
                      "--config.model.d_features=2", "--config.model.noise_dim=4",
                      "--config.ckpt.every_steps=2", "--config.samples.every_steps=100"]


def test_a_schema_1_checkpoint_samples_and_resumes(tmp_path, mnist_dir, ganjax_env):
  run = tmp_path / "run"
  shutil.copytree(SCHEMA_1_RUN, run)
  result = run_command("ganjax.sample", ["--workdir", str(run), "--num", "4", "--out",
                                         str(tmp_path / "s.png")], ganjax_env)
  assert result.returncode == 0, result.stderr
  assert "from step 2" in result.stdout
  result = run_command("ganjax.main", [
      "--config", str(REPO / "experiments" / "mnist_dcgan.py"), "--workdir", str(run),
      f"--config.data.idx_dir={mnist_dir}", "--config.train.steps=4",
      *SCHEMA_1_OVERRIDES], ganjax_env)
  assert result.returncode == 0, result.stderr
  assert "Resuming from checkpoint at step 2" in result.stdout
  assert (run / "checkpoints" / "4").is_dir()


def test_a_newer_schema_is_refused_in_one_line_and_nothing_moves(tmp_path, ganjax_env):
  run = tmp_path / "run"
  shutil.copytree(SCHEMA_1_RUN, run)
  meta = run / "checkpoints" / "2" / "meta" / "metadata"
  meta.write_text(json.dumps({**json.loads(meta.read_text()), "schema": 99}))
  before = tree_digest(run)
  result = run_command("ganjax.sample", ["--workdir", str(run), "--out",
                                         str(tmp_path / "s.png")], ganjax_env, check=False)
  assert_user_error(result, "checkpoint schema 99", "upgrade ganjax")
  assert tree_digest(run) == before
