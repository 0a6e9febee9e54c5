"""A run on a prepared dataset is scored like a folder run: a domain classifier
trained on the prepared images (``ganjax.classifier --prepared``), then
``ganjax.eval`` and ``ganjax.label_accuracy`` against a random subset of them."""

import json

from conftest import run_command, synthetic_digits
from PIL import Image


def _prepare(args, env):
  return run_command("ganjax.prepare", args, env)


def test_a_run_on_a_prepared_class_folder_is_evaluated_with_its_own_classifier(
    tmp_path, ganjax_env):
  # Digits in one subfolder per class: the prepared dataset is in class order, so
  # its first rows are all 0s; the reference and the held-out images must not be.
  images, labels = synthetic_digits(300)
  pictures = tmp_path / "digits"
  for i, (image, label) in enumerate(zip(images, labels)):
    (pictures / str(label)).mkdir(parents=True, exist_ok=True)
    Image.fromarray(image[..., 0]).save(pictures / str(label) / f"{i:03d}.png")
  data = tmp_path / "prepared"
  _prepare(["--folder", str(pictures), "--out", str(data), "--image_size", "28",
            "--channels", "1"], ganjax_env)
  workdir = tmp_path / "run"
  trained = run_command("ganjax.main", [
      "--config", "experiments/mnist_cgan.py", "--workdir", str(workdir),
      f"--config.data.prepared={data}", "--config.train.batch_size=8",
      "--config.train.steps=2", "--config.model.g_features=4",
      "--config.model.d_features=4", "--config.model.noise_dim=4",
      "--config.model.embed_dim=4", "--config.samples.num=10"], ganjax_env)
  assert "periodic evaluation is off: the prepared dataset" in trained.stderr
  assert "was not made from IDX files" in trained.stderr
  classifier = tmp_path / "classifier"
  trained_classifier = run_command("ganjax.classifier", [
      "--prepared", str(data), "--workdir", str(classifier), "--steps", "100",
      "--batch_size", "32"], ganjax_env)
  assert f"--classifier {classifier}" in trained_classifier.stdout
  meta = json.loads((classifier / "classifier.json").read_text())
  assert meta["dataset"]["source"] == f"prepared:{data}"
  assert (meta["dataset"]["num_train"], meta["dataset"]["num_test"]) == (240, 60)
  assert meta["dataset"]["train_split"] == "train (random 80%, seed 0)"
  # Held out at random: the last 20% would be the 8s and 9s, never trained on.
  assert meta["accuracy"] > 0.5  # ~0.85 (chance 0.1)
  # The data moved: --prepared says where it is now.
  moved = tmp_path / "moved"
  data.rename(moved)
  common = ["--workdir", str(workdir), "--classifier", str(classifier), "--num", "200",
            "--num_real", "200", "--prepared", str(moved)]
  evaluated = run_command("ganjax.eval", common, ganjax_env)
  record = json.loads((workdir / "eval" / "2.json").read_text())
  assert record["protocol"]["num_real"] == 200
  assert record["protocol"]["reference_source"] == f"prepared:{moved}"
  assert record["protocol"]["reference_split"] == "train"
  # A random 200 of the 300 class-sorted digits (~20 of each), recognised as such;
  # the first 200 would hold no 7, 8 or 9.
  assert record["reference"]["classifier_accuracy"] > 0.6
  assert min(record["reference"]["class_histogram"]) >= 8, record["reference"]
  assert "Wrote" in evaluated.stdout
  accuracy = run_command("ganjax.label_accuracy", common, ganjax_env).stdout
  assert (f"label accuracy at step 2: {record['scores']['label_accuracy']:.4f}"
          in accuracy)
