"""Prepared datasets end to end: ``ganjax.prepare``, then training that streams them.

A streamed run reads each step's batch from the shards; it must train exactly
as the same data held in memory does, and resume exactly after SIGKILL.
"""

import json

import numpy as np
from conftest import (STEPS_12, TINY_SEED, assert_user_error, kill_while_saving,
                      run_command, tree_digest)
from PIL import Image

from ganjax.run.checkpoints import mismatching_leaves, read_arrays


def _prepare(args, env, check=True):
  return run_command("ganjax.prepare", args, env, check=check)


def test_streamed_run_killed_and_resumed_matches_the_in_memory_run(
    tmp_path, synthetic_mnist, ganjax_env, synthetic_run):
  data = tmp_path / "prepared"
  out = _prepare(["--idx_dir", str(synthetic_mnist), "--split", "train", "--out",
                  str(data), "--shard_mb", "0.05"], ganjax_env).stdout
  assert "10 classes" in out and f"--config.data.prepared={data}" in out
  assert len(json.loads((data / "metadata.json").read_text())["shards"]) > 1
  workdir = tmp_path / "run"
  # A budget of 0 MB: the data does not fit in host memory, so every batch is read
  # from the shards.
  args = ["--config", "experiments/mnist.py", "--workdir", str(workdir),
          f"--config.data.prepared={data}", "--config.data.host_budget_mb=0",
          *TINY_SEED, *STEPS_12]
  kill_while_saving(args, ganjax_env, workdir, 8)
  checkpoints = workdir / "checkpoints"
  resumed = run_command("ganjax.main", args, ganjax_env)
  assert "each step reads its batch from" in resumed.stdout
  assert "Resuming from checkpoint at step" in resumed.stdout
  # synthetic_run trained on the same digits read from the IDX files into memory.
  final = read_arrays(checkpoints / "12")
  assert mismatching_leaves(final, read_arrays(synthetic_run / "checkpoints" / "12")) == []
  records = [json.loads(line) for line in (workdir / "metrics.jsonl").open()]
  assert all(0 <= r["input_wait_fraction"] <= 1 for r in records
             if "input_wait_fraction" in r)


def _write_class_folder(root, size=20, per_class=12):
  rng = np.random.default_rng(0)
  for name, colour in (("red", (200, 30, 30)), ("sky", (40, 90, 220))):
    (root / name).mkdir(parents=True)
    for i in range(per_class):
      pixels = np.clip(np.asarray(colour) + rng.integers(-30, 30, (size, size + i, 3)),
                       0, 255).astype(np.uint8)
      Image.fromarray(pixels).save(root / name / f"{i:03d}.{'png' if i % 2 else 'jpg'}")
  (root / "red" / "broken.png").write_bytes(b"\x89PNG not really")


def test_prepare_a_folder_and_train_on_it_streamed(tmp_path, ganjax_env):
  images = tmp_path / "pictures"
  _write_class_folder(images)
  data = tmp_path / "prepared"
  result = _prepare(["--folder", str(images), "--out", str(data), "--image_size", "16"],
                    ganjax_env)
  assert "Prepared 24 images (16x16x3, 2 classes)" in result.stdout
  warnings = [line for line in result.stderr.splitlines() if "skipped 1 file" in line]
  assert len(warnings) == 1 and "broken.png" in warnings[0]
  meta = json.loads((data / "metadata.json").read_text())
  assert meta["class_names"] == ["red", "sky"] and meta["num_examples"] == 24
  workdir = tmp_path / "run"
  run_command("ganjax.main", [
      "--config", "experiments/mnist_cgan.py", "--workdir", str(workdir),
      f"--config.data.prepared={data}", "--config.data.host_budget_mb=0",
      "--config.train.batch_size=4", "--config.train.steps=2",
      "--config.model.g_features=4", "--config.model.d_features=4",
      "--config.model.noise_dim=4", "--config.samples.num=4",
      "--config.eval.every_steps=0"], ganjax_env)
  sampled = run_command("ganjax.sample", ["--workdir", str(workdir), "--label", "sky",
                                          "--num", "4", "--out", str(tmp_path / "s.png")],
                        ganjax_env)
  assert sampled.returncode == 0 and (tmp_path / "s.png").is_file()


def test_prepare_mistakes_are_one_line_and_write_nothing(tmp_path, synthetic_mnist,
                                                         ganjax_env):
  existing = tmp_path / "existing"
  existing.mkdir()
  (existing / "keep.txt").write_text("mine")
  before = tree_digest(tmp_path)
  assert_user_error(_prepare(["--idx_dir", str(synthetic_mnist), "--out", str(existing)],
                             ganjax_env, check=False), "already exists")
  assert_user_error(_prepare(["--out", str(tmp_path / "new")], ganjax_env, check=False),
                    "exactly one of --folder, --idx_dir and --dataset")
  assert_user_error(_prepare(["--folder", str(tmp_path / "missing"), "--out",
                              str(tmp_path / "new")], ganjax_env, check=False),
                    "does not exist")
  assert tree_digest(tmp_path) == before
