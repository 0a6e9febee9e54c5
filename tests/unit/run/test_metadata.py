"""The checkpoint metadata schema: round trip, old checkpoints, newer ones refused."""

import pytest

from ganjax.run.metadata import SCHEMA_VERSION, IncompatibleCheckpointError, RunMetadata

META = RunMetadata(config={"seed": 1}, batch_spec={
    "image": {"shape": [28, 28, 1], "dtype": "float32"},
    "input": {"shape": [28, 28, 3], "dtype": "float32"}},
    num_classes=10, dataset={"count": 5}, rollbacks=2)


def test_round_trip_records_the_schema_version():
  raw = META.to_json()
  assert raw["schema"] == SCHEMA_VERSION
  assert RunMetadata.from_json(raw, step=4) == META
  assert META.image_shape == (28, 28, 1) and META.input_shape == (28, 28, 3)


def test_metadata_written_before_the_schema_was_numbered_still_reads():
  raw = META.to_json()
  del raw["schema"], raw["dataset"], raw["rollbacks"]
  meta = RunMetadata.from_json({**raw, "fingerprint": 123}, step=4)
  assert meta.rollbacks == 0 and meta.dataset == {} and meta.num_classes == 10


def test_a_newer_schema_is_refused_naming_both_versions():
  with pytest.raises(IncompatibleCheckpointError,
                     match=f"schema {SCHEMA_VERSION + 1}, this version reads "
                           f"{SCHEMA_VERSION}"):
    RunMetadata.from_json({**META.to_json(), "schema": SCHEMA_VERSION + 1}, step=4)


def test_missing_fields_are_refused_as_incompatible_not_damage():
  raw = META.to_json()
  del raw["batch_spec"]
  with pytest.raises(IncompatibleCheckpointError, match="batch_spec"):
    RunMetadata.from_json(raw, step=4)


def test_class_names_round_trip_and_older_metadata_has_none():
  named = RunMetadata(config={}, batch_spec=META.batch_spec, num_classes=2,
                      class_names=["cat", "dog"])
  assert RunMetadata.from_json(named.to_json(), step=1).class_names == ["cat", "dog"]
  raw = META.to_json()
  del raw["class_names"]
  raw["schema"] = 2  # written before class names were recorded
  assert RunMetadata.from_json(raw, step=4).class_names is None
