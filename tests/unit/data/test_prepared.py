"""Prepared datasets (ArrayRecord shards) and the stream that reads them by step."""

import dataclasses
import json

import numpy as np
import pytest

from ganjax.data import prepared, streaming
from ganjax.data.errors import DataError
from ganjax.data.examples import data_identity
from ganjax.data.pipeline import step_indices, take_rows
from ganjax.data.sources import ImageDataset

SHAPE = (6, 6, 3)


def _examples(num=300, labelled=True, seed=0):
  rng = np.random.default_rng(seed)
  images = rng.integers(0, 256, (num,) + SHAPE, dtype=np.uint8)
  labels = rng.integers(0, 4, num).astype(np.int32) if labelled else None
  return images, labels


def _prepare(path, images, labels, shard_megabytes=0.01):
  pairs = zip(images, labels.tolist() if labels is not None else [None] * len(images))
  labelled = labels is not None
  return prepared.write_prepared(path, pairs, SHAPE, 4 if labelled else None,
                                 ("a", "b", "c", "d") if labelled else None,
                                 source="test", shard_megabytes=shard_megabytes)


@pytest.mark.parametrize("labelled", [True, False])
def test_round_trip_in_several_shards(tmp_path, labelled):
  images, labels = _examples(labelled=labelled)
  info = _prepare(tmp_path / "data", images, labels)
  assert len(info.shards) > 1  # 0.01 MB shards hold 93 examples of 112 bytes
  assert all(name.endswith(f"-of-{len(info.shards):05d}.array_record")
             for name in info.shards)
  source = prepared.PreparedSource(tmp_path / "data")
  assert len(source) == 300 and source.image_shape == SHAPE
  rows = source.read_rows(np.array([299, 0, 150, 0]))
  np.testing.assert_array_equal(rows["image"], images[[299, 0, 150, 0]])
  if labelled:
    np.testing.assert_array_equal(rows["label"], labels[[299, 0, 150, 0]])
    assert rows["label"].dtype == np.int32 and source.info.class_names == tuple("abcd")
  else:
    assert "label" not in rows and source.info.num_classes is None
  whole = source.read_all()
  np.testing.assert_array_equal(whole["image"], images)


def test_fingerprint_is_that_of_the_same_examples_in_memory(tmp_path):
  images, labels = _examples()
  info = _prepare(tmp_path / "data", images, labels)
  in_memory = data_identity(ImageDataset(images, labels, 4, "x", "train"),
                            {"image": images, "label": labels})
  assert info.fingerprint == in_memory["fingerprint"]
  source = prepared.PreparedSource(tmp_path / "data")
  assert source.identity()["fingerprint"] == in_memory["fingerprint"]


def test_a_slice_is_a_window_with_its_own_identity(tmp_path):
  images, labels = _examples()
  _prepare(tmp_path / "data", images, labels)
  held_out = prepared.PreparedSource(tmp_path / "data", "train[250:]")
  assert len(held_out) == 50
  np.testing.assert_array_equal(held_out.read_rows(np.arange(50))["image"], images[250:])
  whole = prepared.PreparedSource(tmp_path / "data")
  assert held_out.identity()["fingerprint"] != whole.identity()["fingerprint"]
  with pytest.raises(DataError, match="one split, 'train'"):
    prepared.PreparedSource(tmp_path / "data", "test")


def test_an_existing_output_is_refused_and_left_alone(tmp_path):
  images, labels = _examples(10)
  out = tmp_path / "data"
  out.mkdir()
  (out / "mine.txt").write_text("keep")
  with pytest.raises(DataError, match="already exists"):
    _prepare(out, images, labels)
  assert [p.name for p in out.iterdir()] == ["mine.txt"]
  assert [p.name for p in tmp_path.iterdir()] == ["data"]  # no partial directory left


def test_an_interrupted_prepare_leaves_nothing(tmp_path):
  images, labels = _examples(50)

  def interrupted():
    for i, pair in enumerate(zip(images, labels.tolist())):
      if i == 30:
        raise KeyboardInterrupt
      yield pair

  with pytest.raises(KeyboardInterrupt):
    prepared.write_prepared(tmp_path / "data", interrupted(), SHAPE, 4, None, "test")
  assert list(tmp_path.iterdir()) == []


def test_damaged_or_missing_descriptions_are_one_sentence(tmp_path):
  with pytest.raises(DataError, match=r"does not exist; write a prepared dataset"):
    prepared.read_info(tmp_path / "nothing")
  images, labels = _examples(10)
  info = _prepare(tmp_path / "data", images, labels)
  (tmp_path / "data" / info.shards[0]).unlink()
  with pytest.raises(DataError, match="lacks 1 of its"):
    prepared.read_info(tmp_path / "data")
  (tmp_path / "data" / prepared.METADATA).write_text("{not json")
  with pytest.raises(DataError, match="is not a ganjax prepared-dataset description"):
    prepared.read_info(tmp_path / "data")
  newer = {**info.to_json(), "version": prepared.VERSION + 1}
  (tmp_path / "data" / prepared.METADATA).write_text(json.dumps(newer))
  with pytest.raises(DataError, match="newer ganjax"):
    prepared.read_info(tmp_path / "data")


@pytest.mark.parametrize("batches_per_step", [1, 3])
def test_the_stream_reads_each_steps_rows_also_after_a_jump(tmp_path, batches_per_step):
  images, labels = _examples()
  _prepare(tmp_path / "data", images, labels)
  source = prepared.PreparedSource(tmp_path / "data")
  in_memory = {"image": images, "label": labels}
  # This process's part: rows 2..6 of each global batch of 8.
  rows = streaming.StepRows(seed=3, batch_size=8, num_examples=300,
                            batches_per_step=batches_per_step, start=2, stop=6)
  reader = streaming.StepReader(source, rows, end_step=100, read_ahead=4)
  try:
    # In order, then a jump back (a rollback) and one forward (a resume elsewhere).
    for step in [0, 1, 2, 3, 1, 2, 60, 61, 99, 100]:
      expected = step_indices(3, step, 8, 300, batches_per_step)[2:6]
      got = reader(step)
      np.testing.assert_array_equal(got["image"], take_rows(in_memory, expected)["image"])
      np.testing.assert_array_equal(got["label"], labels[expected])
  finally:
    reader.close()


def test_a_sample_is_a_seeded_random_subset_of_every_class(tmp_path):
  # Sorted by class, as a prepared folder of class subfolders is: the first rows
  # are all of class 0, so taking them would be a one-class reference.
  images, labels = _examples()
  order = np.argsort(labels, kind="stable")
  images, labels = images[order], labels[order]
  _prepare(tmp_path / "data", images, labels)
  source = prepared.PreparedSource(tmp_path / "data")
  sample = source.sample(40, seed=3)
  assert sample.images.shape == (40,) + SHAPE and sample.labels.dtype == np.int32
  rows = [int(np.flatnonzero((images == image).all(axis=(1, 2, 3)))[0])
          for image in sample.images]
  assert rows == sorted(set(rows))  # distinct rows, in the split's order
  np.testing.assert_array_equal(sample.labels, labels[rows])
  assert set(sample.labels.tolist()) == {0, 1, 2, 3}
  assert sample.class_names == tuple("abcd") and sample.split == "train"
  np.testing.assert_array_equal(source.sample(40, seed=3).images, sample.images)
  assert not np.array_equal(source.sample(40, seed=4).images, sample.images)
  # As many as the split holds, or more: the whole split, in order.
  np.testing.assert_array_equal(source.sample(300, seed=3).images, images)
  window = prepared.PreparedSource(tmp_path / "data", "train[250:]")
  np.testing.assert_array_equal(window.sample(500, seed=0).images, images[250:])
  assert set(window.sample(10, seed=0).labels.tolist()) == {3}  # rows of the window only


def test_the_idx_directory_a_dataset_was_prepared_from(tmp_path):
  images, labels = _examples(10)
  pairs = zip(images, labels.tolist())
  info = prepared.write_prepared(tmp_path / "data", pairs, SHAPE, 4, None,
                                 source="idx:/data/my mnist train[:50%]")
  assert prepared.idx_origin(info) == "/data/my mnist"
  assert prepared.idx_origin(prepared.read_info(tmp_path / "data")) == "/data/my mnist"
  assert prepared.idx_origin(dataclasses.replace(info, source="folder:/pics")) is None
  assert prepared.idx_origin(dataclasses.replace(info, source="mnist train")) is None


def test_a_streamed_run_keeps_a_random_subset_of_every_class(tmp_path):
  from ganjax.data.examples import load_training_data
  from ganjax.run.config import default_config
  images, labels = _examples()
  order = np.argsort(labels, kind="stable")
  _prepare(tmp_path / "data", images[order], labels[order])
  data = default_config().data
  data.prepared, data.host_budget_mb = str(tmp_path / "data"), 0
  training = load_training_data(data, head_rows=30, seed=1)
  assert training.stream is not None and training.num_examples == 300
  assert training.examples["image"].shape == (30,) + SHAPE
  np.testing.assert_array_equal(training.examples["label"], training.dataset.labels)
  assert set(training.examples["label"].tolist()) == {0, 1, 2, 3}
  assert training.identity == training.stream.identity()


def test_a_tfds_split_is_prepared_chunk_by_chunk_with_its_class_names(tmp_path,
                                                                       monkeypatch):
  tfds = pytest.importorskip("tensorflow_datasets")
  from ganjax.data import sources
  monkeypatch.setattr(sources, "_TFDS_BATCH", 5)  # several chunks of 12 examples
  with tfds.testing.mock_data(num_examples=12):
    in_memory = sources.load_dataset("cifar10", "train", data_dir=str(tmp_path / "tfds"))
    info = prepared.prepare_tfds("cifar10", "train", str(tmp_path / "tfds"),
                                 tmp_path / "data")
  assert (info.num_examples, info.image_shape, info.num_classes) == (12, (32, 32, 3), 10)
  assert info.class_names == in_memory.class_names and len(info.class_names) == 10
  rows = prepared.PreparedSource(tmp_path / "data").read_all()
  np.testing.assert_array_equal(rows["image"], in_memory.images)
  np.testing.assert_array_equal(rows["label"], in_memory.labels)
  assert info.source == "tfds:cifar10 train"


def test_worker_processes_read_the_same_rows(tmp_path):
  images, labels = _examples()
  _prepare(tmp_path / "data", images, labels)
  source = prepared.PreparedSource(tmp_path / "data")
  rows = streaming.StepRows(seed=1, batch_size=8, num_examples=300, batches_per_step=1,
                            start=0, stop=8)
  reader = streaming.StepReader(source, rows, end_step=4, read_ahead=2, workers=1)
  try:
    for step in range(4):
      np.testing.assert_array_equal(reader(step)["image"], images[rows(step)])
  finally:
    reader.close()
