"""Which domain classifier a run's evaluation uses when none is named."""

import numpy as np
import pytest

from ganjax.data import prepared
from ganjax.evaluation import classifier


def _prepared(path, source):
  images = np.zeros((3, 4, 4, 1), np.uint8)
  prepared.write_prepared(path, zip(images, [0, 1, 0]), (4, 4, 1), 2, None, source)
  return str(path)


def test_a_prepared_dataset_has_a_default_classifier_only_when_made_from_idx_files(
    tmp_path, monkeypatch):
  root = tmp_path / "classifiers"
  monkeypatch.setenv(classifier.CLASSIFIERS_ENV, str(root))
  from_idx = _prepared(tmp_path / "digits", f"idx:{tmp_path}/mnist_full train")
  from_folder = _prepared(tmp_path / "pictures", "folder:/home/me/pictures")
  # The IDX files' own default directory, and the command that trains it there.
  with pytest.raises(classifier.ClassifierError) as missing:
    classifier.find(None, None, "mnist", prepared=from_idx)
  assert str(missing.value) == (
      f"no domain classifier in {root / 'mnist_full'}; train one with: python -m "
      f"ganjax.classifier --prepared {from_idx} --workdir {root / 'mnist_full'}")
  (root / "mnist_full").mkdir(parents=True)
  (root / "mnist_full" / classifier.METADATA_FILE).write_text("{}")
  assert classifier.find(None, None, "mnist", prepared=from_idx) == root / "mnist_full"
  # Made from a folder: no default (data.name is the experiment's, not the images').
  (root / "mnist").mkdir()
  (root / "mnist" / classifier.METADATA_FILE).write_text("{}")
  with pytest.raises(classifier.ClassifierError, match="was not made from IDX files"):
    classifier.find(None, None, "mnist", prepared=from_folder)
  named = root / "mnist"
  assert classifier.find(str(named), None, "mnist", prepared=from_folder) == named
  assert classifier.find(None, str(named), "mnist", prepared=from_folder) == named
