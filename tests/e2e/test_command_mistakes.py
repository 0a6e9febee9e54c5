"""Every user mistake in the auxiliary commands: one line, exit 2, nothing touched.

The commands run for real (subprocesses) on bad flags and files; each must stop
with exit code 2 and one ``ganjax: error:`` line naming the problem, without a
traceback, and leave the run's workdir and the output directory byte-identical.
Most cases fail before the run is restored, so they cost a process start each.
The in-process tests below cover the writers' clean-up on real write failures
(a file-size limit, as disk full would be).
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, assert_user_error, run_command, tree_digest
from PIL import Image

from ganjax.utils import images, paths
from ganjax.utils.errors import UserError


@pytest.fixture
def moved_data_run(synthetic_run, tmp_path) -> Path:
  """A copy of the run whose config.json names its data by a relative path that
  does not exist from the directory the command runs in."""
  workdir = tmp_path / "moved"
  shutil.copytree(synthetic_run, workdir)
  config = json.loads((workdir / "config.json").read_text())
  config["data"]["idx_dir"] = "data-that-moved/mnist"
  (workdir / "config.json").write_text(json.dumps(config))
  return workdir


def _not_an_image(tmp: Path, name: str = "notes.txt") -> Path:
  path = tmp / name
  path.write_text("not an image\n")
  return path


# (command, args from (run, tmp dir), fragments of the error line). Every case
# fails before the checkpoint is restored unless marked.
CASES = {
    "sample: empty --workdir": (
        "ganjax.sample", lambda run, tmp: ["--workdir", "", "--out", str(tmp / "x.png")],
        ["--workdir", "must not be empty"]),
    "sample: --workdir holds no run": (
        "ganjax.sample", lambda run, tmp: ["--workdir", str(run / "samples"), "--out",
                                           str(tmp / "x.png")],
        ["--workdir", "holds no ganjax run"]),
    "sample: --out is a directory": (
        "ganjax.sample", lambda run, tmp: ["--workdir", str(run), "--out", str(tmp)],
        ["--out", "is a directory"]),
    "sample: --out under a file": (
        "ganjax.sample", lambda run, tmp: ["--workdir", str(run), "--out",
                                           str(_not_an_image(tmp) / "x.png")],
        ["--out", "notes.txt is a file"]),
    "sample: --out would replace the run's config": (
        "ganjax.sample", lambda run, tmp: ["--workdir", str(run), "--out",
                                           str(run / "config.json")],
        ["--out", "would overwrite the config.json"]),
    "sample: --out is not a PNG": (
        "ganjax.sample", lambda run, tmp: ["--workdir", str(run), "--out",
                                           str(_not_an_image(tmp, "notes.png"))],
        ["--out", "is not a PNG image"]),
    "sample: grid too large (after restore)": (
        "ganjax.sample", lambda run, tmp: ["--workdir", str(run), "--out",
                                           str(tmp / "x.png"), "--scale", "100000"],
        ["--scale 100000", "megapixels"]),
    "translate: missing --input": (
        "ganjax.translate", lambda run, tmp: ["--workdir", str(run), "--input",
                                              str(tmp / "missing.png"), "--out",
                                              str(tmp / "y.png")],
        ["--input", "missing.png does not exist"]),
    "translate: --input is not an image": (
        "ganjax.translate", lambda run, tmp: ["--workdir", str(run), "--input",
                                              str(_not_an_image(tmp)), "--out",
                                              str(tmp / "y.png")],
        ["--input", "is not a readable image"]),
    "eval: too few images": (
        "ganjax.eval", lambda run, tmp: ["--workdir", str(run), "--num", "3"],
        ["--num 3 is too small"]),
    "eval: eval/ cannot be written": (
        "ganjax.eval", lambda run, tmp: ["--workdir", str(_eval_blocked(run, tmp)),
                                         "--idx_dir", str(_mnist())],
        ["cannot write the scores", "is a file"]),
    "classifier: --workdir is a file": (
        "ganjax.classifier", lambda run, tmp: ["--workdir", str(_not_an_image(tmp)),
                                               "--idx_dir", str(_mnist())],
        ["cannot write the classifier", "is a file"]),
    "classifier: non-positive learning rate": (
        "ganjax.classifier", lambda run, tmp: ["--workdir", str(tmp / "c"),
                                               "--learning_rate", "0"],
        ["--learning_rate", "positive"]),
    "label_accuracy: missing --idx_dir": (
        "ganjax.label_accuracy", lambda run, tmp: ["--workdir", str(run), "--idx_dir",
                                                   str(tmp / "nowhere")],
        ["--idx_dir", "does not exist"]),
    "export_pairs: --input and --target the same": (
        "ganjax.export_pairs", lambda run, tmp: [
            "--config", "experiments/pix2pix_edges_mnist.py",
            f"--config.data.idx_dir={_mnist()}", "--input", str(tmp / "a.png"),
            "--target", str(tmp / "a.png")],
        ["--input and --target are the same file"]),
    "bench: malformed --image_shape": (
        "ganjax.bench", lambda run, tmp: ["--config", "experiments/mnist.py",
                                          "--image_shape", "28,x,1"],
        ["--image_shape", "three positive integers"]),
}


def _mnist() -> Path:
  from conftest import MNIST_DIR
  return MNIST_DIR


def _eval_blocked(run: Path, tmp: Path) -> Path:
  """A copy of the run where ``eval`` is a file, so no scores can be written."""
  copy = tmp / "blocked"
  shutil.copytree(run, copy)
  (copy / "eval").write_text("in the way\n")
  return copy


@pytest.mark.parametrize("case", list(CASES))
def test_mistake_is_one_line_and_touches_nothing(case, synthetic_run, tmp_path,
                                                 ganjax_env):
  module, make_args, fragments = CASES[case]
  out_dir = tmp_path / "out"
  out_dir.mkdir()
  args = make_args(synthetic_run, out_dir)
  before = tree_digest(synthetic_run), tree_digest(out_dir)
  result = run_command(module, args, ganjax_env, check=False)
  assert_user_error(result, *fragments)
  assert (tree_digest(synthetic_run), tree_digest(out_dir)) == before


def test_eval_names_the_flag_for_data_that_moved(moved_data_run, synthetic_mnist,
                                                 ganjax_env):
  """A relative data path in config.json (another current directory) or a moved
  dataset: the error names --idx_dir; with it, eval gets past the data."""
  before = tree_digest(moved_data_run)
  result = run_command("ganjax.eval", ["--workdir", str(moved_data_run)], ganjax_env,
                       check=False)
  assert_user_error(result, "config.data.idx_dir", "data-that-moved/mnist",
                    "pass --idx_dir")
  # With the flag, the data is found; the next missing piece is the classifier
  # (the tests' environment has none), still before any computation.
  result = run_command("ganjax.eval", ["--workdir", str(moved_data_run), "--idx_dir",
                                       str(synthetic_mnist)], ganjax_env, check=False)
  assert_user_error(result, "no domain classifier")
  assert tree_digest(moved_data_run) == before


# ---------------------------------------------------------------------------
# In-process: the checks themselves, and writers that fail for real.
# ---------------------------------------------------------------------------


def test_output_checks(tmp_path):
  run_dir = tmp_path / "run"
  (run_dir / "checkpoints").mkdir(parents=True)
  (run_dir / "config.json").write_text("{}")
  (run_dir / "metrics.jsonl").write_text("")
  (tmp_path / "notes.txt").write_text("x")
  Image.new("L", (4, 4)).save(tmp_path / "old.png")
  before = tree_digest(tmp_path)
  bad = {
      str(tmp_path): "is a directory",
      str(tmp_path) + "/": "is a directory",
      str(tmp_path / "notes.txt" / "x.png"): "is a file",
      "/dev/null": "not a regular file",
      str(tmp_path / "notes.txt"): "not a PNG",
      str(run_dir / "checkpoints" / "x.png"): "would overwrite the checkpoints/",
      str(run_dir / "metrics.jsonl"): "would overwrite the metrics.jsonl",
  }
  for path, message in bad.items():
    with pytest.raises(UserError, match=message):
      paths.check_output_file(path, "--out", png=True)
  with pytest.raises(UserError, match="also an input"):
    paths.check_output_file(tmp_path / "old.png", "--out", png=True,
                            protected=[tmp_path / "old.png"])
  # Fine: a new file in a new directory, an existing PNG; nothing is created.
  paths.check_output_file(tmp_path / "new" / "dir" / "x.png", "--out", png=True)
  paths.check_output_file(tmp_path / "old.png", "--out", png=True)
  assert tree_digest(tmp_path) == before


def test_run_dir_checks(tmp_path):
  (tmp_path / "file").write_text("x")
  run = tmp_path / "run"
  (run / "checkpoints").mkdir(parents=True)
  for path, message in [(tmp_path / "missing", "does not exist"),
                        (tmp_path / "file", "not a directory"), (run, "no config.json")]:
    with pytest.raises(UserError, match=message):
      paths.check_run_dir(path)
  for config, message in [("{bad", "unreadable"), ("[]", "not a ganjax run config"),
                          ('{"model": {}}', "not a ganjax run config")]:
    (run / "config.json").write_text(config)
    with pytest.raises(UserError, match=message):
      paths.check_run_dir(run)
  (run / "config.json").write_text('{"model": {}, "data": {}, "optim": {}}')
  assert paths.check_run_dir(run) == run


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only directories")
def test_read_only_directory_is_refused_without_trace(tmp_path):
  locked = tmp_path / "locked"
  locked.mkdir()
  locked.chmod(0o555)
  try:
    with pytest.raises(UserError, match="cannot create a file"):
      paths.check_output_file(locked / "x.png", "--out")
    with pytest.raises(UserError, match="cannot create a file"):
      paths.check_writable_dir(locked / "eval", "the scores")
    with pytest.raises(images.ImageWriteError):
      images.save_png(locked / "x.png", np.zeros((4, 4, 1), np.uint8))
    assert list(locked.iterdir()) == []
  finally:
    locked.chmod(0o755)


def _run_limited(code: str, limit_bytes: int) -> subprocess.CompletedProcess:
  """Runs ``code`` in a Python whose files cannot grow past ``limit_bytes`` (as on a
  full disk: writes fail with EFBIG; Python ignores SIGXFSZ)."""
  script = (f"import resource\nresource.setrlimit(resource.RLIMIT_FSIZE, "
            f"({limit_bytes}, {limit_bytes}))\n" + textwrap.dedent(code))
  return subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                        text=True, timeout=300)


def test_save_png_on_a_full_disk_leaves_nothing(tmp_path):
  Image.new("L", (4, 4), 7).save(tmp_path / "old.png")
  before = tree_digest(tmp_path)
  result = _run_limited(f"""
      import numpy as np
      from ganjax.utils import images
      noise = np.random.default_rng(0).integers(0, 256, (300, 300, 1), dtype=np.uint8)
      for path in ({str(tmp_path / 'new' / 'deeper' / 'x.png')!r},
                   {str(tmp_path / 'old.png')!r}):
        try:
          images.save_png(path, noise)
        except images.ImageWriteError as e:
          print("ImageWriteError:", e)
      """, limit_bytes=10_000)
  assert result.returncode == 0, result.stderr
  lines = result.stdout.splitlines()
  assert len(lines) == 2 and all("File too large" in line for line in lines), lines
  # No temp file, no directory made for the new file, the old file unchanged.
  assert tree_digest(tmp_path) == before


@pytest.mark.slow  # Imports JAX and orbax in a subprocess (~10 s).
def test_classifier_save_on_a_full_disk_leaves_nothing(tmp_path):
  (tmp_path / "keep.txt").write_text("x")
  before = tree_digest(tmp_path)
  result = _run_limited(f"""
      import jax
      from ganjax.evaluation import classifier
      module = classifier.DomainClassifier(10, classifier.Architecture())
      params = classifier.init_params(module, (28, 28, 1), jax.random.PRNGKey(0))
      try:
        classifier.save({str(tmp_path / 'new' / 'cls')!r}, params, {{}})
      except classifier.ClassifierError as e:
        print("ClassifierError:", e)
      """, limit_bytes=20_000)
  assert result.returncode == 0, result.stderr
  assert result.stdout.startswith("ClassifierError: could not write the classifier")
  assert len(result.stdout.strip().splitlines()) == 1
  assert tree_digest(tmp_path) == before


def test_eval_write_check_and_record_leave_nothing_behind(tmp_path):
  from ganjax.run import evaluate as command
  run = tmp_path / "run"
  run.mkdir()
  before = tree_digest(tmp_path)
  command.check_writable(run)  # Probes, creates nothing.
  assert tree_digest(tmp_path) == before
  (run / "eval").write_text("in the way\n")
  with pytest.raises(UserError, match="is a file"):
    command.check_writable(run)
  with pytest.raises(UserError, match="could not write"):
    command.write_record(run / "eval" / "4.json", {"step": 4})
  assert sorted(p.name for p in run.iterdir()) == ["eval"]
