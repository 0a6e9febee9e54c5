"""Evaluation end to end on real MNIST digits: classifier, scores, eval command, periodic.

The statistics themselves are tested against SciPy in tests/unit/evaluation/test_stats.py; these
tests check that the whole chain (classifier -> features -> statistics -> scores)
tells real digits from real digits (no difference) and from noise or an
untrained generator (a large one), and that the commands record the protocol.
"""

import json
import shutil

import jax
import numpy as np
import optax
import pytest
from conftest import run_command

from ganjax.data import load_dataset
from ganjax.evaluation import classifier as classifier_lib
from ganjax.evaluation import extractor as extractor_lib
from ganjax.evaluation import pipeline
from ganjax.evaluation.periodic import PeriodicEvaluator
from ganjax.gan.state import create_train_states
from ganjax.models import build_model

#: Held-out accuracy the short test classifier must reach (2,000 real digits).
ACCURACY_FLOOR = 0.95


@pytest.fixture(scope="module")
def mnist(mnist_dir):
  return load_dataset("mnist", "test", idx_dir=str(mnist_dir))


@pytest.fixture(scope="module")
def extractor(classifier_dir):
  return extractor_lib.from_classifier(classifier_lib.load(classifier_dir))


def test_classifier_command_records_splits_accuracy_and_hash(classifier_dir, mnist):
  metadata = classifier_lib.read_metadata(classifier_dir)
  # Only the test files exist offline: the command must hold 20% of them out.
  assert metadata["dataset"]["train_split"] == "test[:80%]"
  assert metadata["dataset"]["test_split"] == "test[80%:]"
  assert metadata["dataset"]["num_test"] == 2000
  assert metadata["accuracy"] >= ACCURACY_FLOOR, metadata["accuracy"]
  loaded = classifier_lib.load(classifier_dir)
  assert classifier_lib.params_sha256(loaded.params) == metadata["params_sha256"]
  # The recorded accuracy is reproducible from the saved parameters.
  held_out = mnist.images[8000:], mnist.labels[8000:]
  assert classifier_lib.accuracy(loaded.module, loaded.params, *held_out) == pytest.approx(
      metadata["accuracy"])


def test_classifier_refuses_tampered_parameters(classifier_dir, tmp_path):
  import shutil
  copy = tmp_path / "copy"
  shutil.copytree(classifier_dir, copy)
  metadata = json.loads((copy / classifier_lib.METADATA_FILE).read_text())
  metadata["params_sha256"] = "0" * 64
  (copy / classifier_lib.METADATA_FILE).write_text(json.dumps(metadata))
  with pytest.raises(classifier_lib.ClassifierError, match="do not match the sha256"):
    classifier_lib.load(copy)
  with pytest.raises(classifier_lib.ClassifierError, match="holds no trained classifier"):
    classifier_lib.load(tmp_path / "nothing")


def test_real_vs_real_is_close_and_real_vs_noise_is_far(extractor, mnist):
  measurer = pipeline.Measurer(extractor, batch_size=500, max_stored=2000)
  # Random halves: MNIST's test file is ordered (the first 5,000 digits come from
  # another writer population than the last 5,000), contiguous halves differ.
  order = np.random.default_rng(0).permutation(len(mnist.images))
  half_a, half_b = order[:5000], order[5000:]
  a = measurer.real(mnist.images[half_a], mnist.labels[half_a], seed=0)
  b = measurer.real(mnist.images[half_b], mnist.labels[half_b], seed=1)
  freq = pipeline.class_frequencies(mnist.labels, 10)
  same = pipeline.compare(a, b, freq)
  noise_images = np.random.default_rng(1).integers(0, 256, (5000, 28, 28, 1), np.uint8)
  noise = pipeline.compare(a, measurer.real(noise_images, seed=2), freq)
  print("real vs real:", same, "\nreal vs noise:", noise)

  assert same["fid"] < 0.02 * noise["fid"], (same["fid"], noise["fid"])
  # KID is unbiased, so ~0 for equal distributions. Not tested against its
  # standard error: the subsets overlap (1,000 of 2,000), so the error describes
  # subset-to-subset spread and understates the uncertainty of the mean.
  assert abs(same["kid"]) < 0.005 * noise["kid"], (same["kid"], noise["kid"])
  assert same["precision"] > 0.75 and same["recall"] > 0.75
  assert 0.8 < same["density"] < 1.2 and same["coverage"] > 0.9
  assert noise["recall"] < 0.05 and noise["coverage"] < 0.05
  assert same["classes_covered"] == 10 and same["class_kl"] < 0.01
  assert noise["classes_covered"] <= 5
  assert same["classifier_score"] > 8.0 and noise["classifier_score"] < 2.0
  assert a.accuracy > ACCURACY_FLOOR and same["label_accuracy"] > ACCURACY_FLOOR


def test_label_accuracy_is_tallied_per_class():
  """Overall and per-class label accuracy from one tally; label -1 (no label)
  counts in neither."""
  labels = np.array([0, 0, 1, 1, 1, 2, -1], np.int32)
  predicted = np.array([0, 1, 1, 1, 0, 2, 0])
  logits = jax.nn.one_hot(predicted, 4)
  acc = pipeline.accumulate(pipeline.accumulator_init(3, 4), jax.numpy.ones((7, 3)),
                            logits, labels)
  tallied = pipeline.SetStatistics(acc, acc.moments, count=7, labelled=True)
  assert tallied.accuracy == pytest.approx(4 / 7)
  per_class = tallied.per_class_accuracy
  assert per_class[:3] == pytest.approx([0.5, 2 / 3, 1.0]) and np.isnan(per_class[3])
  assert acc.class_counts.tolist() == [3, 3, 1, 0]
  unlabelled = pipeline.SetStatistics(acc, acc.moments, count=7, labelled=False)
  assert unlabelled.accuracy is None and unlabelled.per_class_accuracy is None


def _untrained_generator(name: str, **options):
  model = build_model(name, (28, 28, 1), 10, **options)
  batch = {"image": np.zeros((1, 28, 28, 1), np.float32),
           "label": np.zeros((1,), np.int32)}
  # Jitted: op-by-op initialisation compiles every small op separately (slow).
  init = jax.jit(lambda key: create_train_states(model, optax.adam(1e-3),
                                                 optax.adam(1e-3), batch, key)[0])
  return model, init(jax.random.PRNGKey(0))


@pytest.mark.slow
def test_untrained_generator_scores_far_from_real(extractor, mnist):
  model, g_state = _untrained_generator("dcgan", g_features=8, d_features=8,
                                        noise_dim=16)
  measurer = pipeline.Measurer(extractor, batch_size=250, max_stored=1000)
  measurer.check_generator(model, g_state)
  real = measurer.real(mnist.images, mnist.labels, num=1000, seed=0)
  fake = measurer.generated(model, g_state, 1000, seed=0)
  scores = pipeline.compare(real, fake, pipeline.class_frequencies(mnist.labels, 10))
  assert fake.count == 1000 and real.count == 1000
  assert scores["fid"] > 100 and scores["recall"] < 0.1 and scores["coverage"] < 0.1
  assert "label_accuracy" not in scores


def test_periodic_evaluator_is_deterministic_and_scores_conditional_models(
    classifier_dir, mnist):
  model, g_state = _untrained_generator("cgan", g_features=8, d_features=8,
                                        noise_dim=16, embed_dim=8)
  evaluator = PeriodicEvaluator(model, classifier_dir,
                                {"image": mnist.images, "label": mnist.labels},
                                num_samples=300, seed=0, batch_size=100,
                                num_reference=2000)
  first = evaluator(g_state, 1)
  second = evaluator(g_state, 2)
  assert first == second
  assert set(first) == {"fid", "kid", "kid_std_error", "classifier_score", "precision",
                        "recall", "density", "coverage", "classes_covered", "class_kl",
                        "label_accuracy"}
  assert all(isinstance(v, float) and np.isfinite(v) for v in first.values())
  assert 0.0 <= first["label_accuracy"] <= 1.0
  assert evaluator.protocol["num_real"] == 2000


def test_eval_command_writes_scores_and_protocol(tmp_path, synthetic_mnist, ganjax_env,
                                                 classifier_dir, synthetic_run):
  workdir = tmp_path / "run"
  shutil.copytree(synthetic_run, workdir)  # eval writes into the run's workdir
  # No classifier anywhere: one line naming the command that trains one.
  env = dict(ganjax_env, GANJAX_CLASSIFIERS=str(tmp_path / "none"))
  missing = run_command("ganjax.eval", ["--workdir", str(workdir), "--num", "100"], env,
                        check=False)
  assert missing.returncode == 2 and "Traceback" not in missing.stderr
  assert (f"python -m ganjax.classifier --dataset mnist --idx_dir {synthetic_mnist} "
          f"--workdir {tmp_path / 'none' / 'mnist'}") in missing.stderr

  result = run_command("ganjax.eval", [
      "--workdir", str(workdir), "--num", "300", "--num_real", "400", "--classifier",
      str(classifier_dir), "--seed", "3", "--batch_size", "100"], ganjax_env)
  assert "No Inception weights" in result.stdout
  assert "FID" in result.stdout and "classes covered" in result.stdout
  document = json.loads((workdir / "eval" / "12.json").read_text())
  assert document["step"] == 12
  scores = document["scores"]
  for key in ("fid", "kid", "kid_std_error", "classifier_score", "precision", "recall",
              "density", "coverage", "classes_covered", "class_kl"):
    assert np.isfinite(scores[key]), key
  assert sum(scores["class_histogram"]) == 300
  protocol = document["protocol"]
  metadata = classifier_lib.read_metadata(classifier_dir)
  assert protocol["extractor"]["classifier_sha256"] == metadata["params_sha256"]
  assert protocol["extractor"]["features"] == "domain_classifier:mnist"
  assert protocol["num_real"] == 400 and protocol["num_generated"] == 300
  assert protocol["reference_dataset"] == "mnist"
  assert protocol["reference_split"] == "test"  # 'train' served from the test files.
  assert protocol["seed"] == 3 and protocol["knn_num_stored"] == 300
  assert protocol["versions"]["ganjax"]
