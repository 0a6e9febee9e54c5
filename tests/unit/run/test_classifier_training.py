"""``ganjax.classifier`` on a folder or a prepared dataset: what it holds out and
the mistakes it stops at before reading any image."""

import numpy as np
import pytest

from ganjax.data import prepared
from ganjax.data.sources import ImageDataset
from ganjax.run import classifier_training
from ganjax.utils.errors import UserError


def test_the_holdout_of_class_sorted_images_is_random_and_disjoint():
  images = np.arange(100, dtype=np.uint8).reshape(100, 1, 1, 1)
  labels = np.repeat(np.arange(10, dtype=np.int32), 10)  # class order, as a folder
  dataset = ImageDataset(images, labels, 10, "folder:/pics", "train")
  train, test = classifier_training.random_holdout(dataset, seed=0)
  assert (len(train.images), len(test.images)) == (80, 20)
  pixels = lambda d: set(d.images.reshape(-1).tolist())
  assert pixels(train) | pixels(test) == set(range(100))
  assert not pixels(train) & pixels(test)
  np.testing.assert_array_equal(test.labels, labels[test.images.reshape(-1)])
  assert len(set(test.labels.tolist())) >= 6  # a window would hold out 2 classes
  assert "random 80%" in train.split and "seed 0" in test.split
  again, _ = classifier_training.random_holdout(dataset, seed=0)
  np.testing.assert_array_equal(again.images, train.images)


@pytest.mark.parametrize("kwargs, message", [
    (dict(idx_dir="/a", folder="/b"), "--idx_dir and --folder both name the images"),
    (dict(folder="/b", prepared="/c"), "--folder and --prepared both name the images"),
    (dict(prepared="/c", data_dir="/t"), "--data_dir is for TFDS datasets"),
    (dict(prepared="/c", image_size=32), "--image_size says how --folder's"),
    (dict(idx_dir="/a", channels=1), "--channels says how --folder's"),
    (dict(folder="/b", workdir=None), "a classifier for --folder has no default"),
])
def test_flags_that_do_not_go_together_are_one_sentence(kwargs, message):
  arguments = dict(idx_dir=None, data_dir=None, folder=None, prepared=None,
                   image_size=None, channels=None, workdir="/w")
  with pytest.raises(UserError, match=message):
    classifier_training.check_sources(**{**arguments, **kwargs})


def test_a_folder_without_class_subfolders_is_refused_before_decoding(tmp_path):
  flat = tmp_path / "flat"
  flat.mkdir()
  (flat / "a.png").write_bytes(b"not decoded: the listing says it all")
  (tmp_path / "one" / "cats").mkdir(parents=True)
  (tmp_path / "one" / "cats" / "a.png").write_bytes(b"")
  workdir = tmp_path / "classifier"
  arguments = dict(dataset=None, workdir=str(workdir), idx_dir=None, data_dir=None,
                   train_split="train", test_split=None, steps=1, batch_size=4,
                   learning_rate=1e-3, seed=0, overwrite=False)
  with pytest.raises(UserError, match="the classifier needs class labels: folder .*flat "
                     "has no class subfolders"):
    classifier_training.train_and_save(**arguments, folder=str(flat))
  with pytest.raises(UserError, match="needs at least two classes: folder .*one has one"):
    classifier_training.train_and_save(**arguments, folder=str(tmp_path / "one"))
  assert not workdir.exists()


def test_an_unlabelled_prepared_dataset_is_refused_before_training(tmp_path):
  images = np.zeros((40, 4, 4, 1), np.uint8)
  data = tmp_path / "data"
  prepared.write_prepared(data, ((image, None) for image in images), (4, 4, 1), None,
                          None, "folder:/pics")
  workdir = tmp_path / "classifier"
  with pytest.raises(UserError, match="the classifier needs class labels: the prepared "
                     "dataset .* has none"):
    classifier_training.train_and_save(
        None, str(workdir), None, None, "train", None, steps=1, batch_size=4,
        learning_rate=1e-3, seed=0, overwrite=False, prepared=str(data))
  assert not workdir.exists()
