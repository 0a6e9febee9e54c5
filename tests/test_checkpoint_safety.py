"""Unit tests of what decides a checkpoint's fate, and of the workdir's lock and checks.

Real orbax checkpoints of a small state in a temporary directory.
"""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganjax.run import config as config_lib
from ganjax.run import workdir as workdir_lib
from ganjax.run.checkpoints import (SCHEMA_VERSION, Checkpoints, IncompatibleCheckpointError,
                                  read_arrays)
from ganjax.data.examples import identity_differences
from ganjax.utils.errors import UserError
from ganjax.run.reporting import truncate_metrics
from ganjax.run.stopping import interrupt_in


def _state(width: int = 3) -> dict:
  return {"g": {"w": jnp.arange(width, dtype=jnp.float32)}, "rng": jax.random.PRNGKey(0)}


def _abstract(state: dict) -> dict:
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), state)


@pytest.fixture
def saved(tmp_path):
  directory = tmp_path / "checkpoints"
  checkpoints = Checkpoints(directory, keep=3, async_save=False)
  for step in (1, 2):
    checkpoints.save(step, _state(), {"rollbacks": 0})
  checkpoints.wait()
  checkpoints.close()
  return directory


def _names(directory) -> list[str]:
  return sorted(p.name for p in directory.iterdir())


def test_restore_reads_the_newest(saved):
  checkpoints = Checkpoints(saved, keep=3)
  restored = checkpoints.restore_latest(_abstract(_state()))
  assert restored.step == 2 and restored.meta["schema"] == SCHEMA_VERSION
  np.testing.assert_array_equal(restored.state["g"]["w"], [0, 1, 2])


def test_a_checkpoint_that_does_not_fit_is_refused_and_kept(saved):
  checkpoints = Checkpoints(saved, keep=3)
  with pytest.raises(IncompatibleCheckpointError, match=r"g/w 3 float32 -> 5 float32"):
    checkpoints.restore_latest(_abstract(_state(width=5)))
  wider = {**_state(), "ema": jnp.zeros(2)}
  with pytest.raises(IncompatibleCheckpointError, match="not in the checkpoint: ema"):
    checkpoints.restore_latest(_abstract(wider))
  assert _names(saved) == ["1", "2"]


def test_a_newer_schema_is_refused_and_kept(saved):
  meta = saved / "2" / "meta" / "metadata"
  meta.write_text(json.dumps({**json.loads(meta.read_text()), "schema": SCHEMA_VERSION + 1}))
  with pytest.raises(IncompatibleCheckpointError, match="newer ganjax"):
    Checkpoints(saved, keep=3).restore_latest(_abstract(_state()))
  assert _names(saved) == ["1", "2"]


def test_a_damaged_checkpoint_is_moved_aside(saved):
  (saved / "2" / "meta" / "metadata").write_text("{not json")
  checkpoints = Checkpoints(saved, keep=3)
  restored = checkpoints.restore_latest(_abstract(_state()))
  assert restored.step == 1 and restored.skipped[0].startswith("2 (")
  assert [n for n in _names(saved) if n.startswith("unreadable-2-")]


def test_an_interrupt_wrapped_by_a_library_is_not_damage(saved):
  checkpoints = Checkpoints(saved, keep=3)
  try:
    try:
      raise KeyboardInterrupt
    except KeyboardInterrupt as e:
      raise RuntimeError("read failed") from e  # what orbax's async reads do
  except RuntimeError as wrapped:
    assert isinstance(interrupt_in(wrapped), KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
      checkpoints._skip(2, wrapped)
  assert _names(saved) == ["1", "2"]


def test_read_arrays_names_leaves_by_path(saved):
  arrays = read_arrays(saved / "2")
  assert set(arrays) == {"g/w", "rng"}


def test_lock_refuses_a_second_holder_and_names_the_first(tmp_path):
  workdir = tmp_path / "run"
  with workdir_lib.WorkdirLock(workdir):
    assert workdir.is_dir()
    with pytest.raises(UserError, match=f"in use by another trainer .*pid {os.getpid()}"):
      workdir_lib.WorkdirLock(workdir).acquire()
  assert not workdir.exists()  # created for the lock, nothing else written: removed
  (workdir / "samples").mkdir(parents=True)
  with workdir_lib.WorkdirLock(workdir):
    pass
  assert _names(workdir) == ["samples"]  # the lock file goes with its holder


def test_workdir_checks_write_nothing(tmp_path):
  with pytest.raises(UserError, match="--workdir is empty"):
    workdir_lib.resolve("  ")
  workdir = tmp_path / "run"
  workdir.mkdir()
  (workdir / "samples").write_text("")
  with pytest.raises(UserError, match="samples is a file"):
    workdir_lib.check_writable(workdir)
  blocker = tmp_path / "file"
  blocker.write_text("")
  with pytest.raises(UserError, match="is a file"):
    workdir_lib.check_writable(blocker / "run")
  workdir_lib.check_writable(tmp_path / "new" / "run")
  assert not (tmp_path / "new").exists()


def test_data_paths_are_stored_absolute(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  config = config_lib.default_config()
  config.data.idx_dir = "data/../mnist"
  config.init_from = "~/runs/a"
  absolute = config_lib.absolute_paths(config)
  assert absolute.data.idx_dir == str(tmp_path / "mnist")
  assert absolute.init_from == os.path.expanduser("~/runs/a")
  assert config.data.idx_dir == "data/../mnist"  # the original is left alone


@pytest.mark.parametrize("key, value, message", [
    ("seed", -1, "config.seed"), ("seed", 2**32, "config.seed"),
    ("train.max_rollbacks", -1, "train.max_rollbacks"),
    ("data.device_budget_mb", -1, "data.device_budget_mb"),
    ("eval.every_steps", -5, "eval.every_steps"), ("init_from", " ", "init_from"),
])
def test_config_values_no_run_can_use(key, value, message):
  config = config_lib.default_config()
  section, _, leaf = key.rpartition(".")
  (config[section] if section else config)[leaf] = value
  with pytest.raises(UserError, match=message):
    config_lib.validate(config)


def test_identity_differences_name_what_changed():
  saved = {"num_examples": 10_000, "image_shape": [28, 28, 1], "fingerprint": "a" * 64}
  current = {"num_examples": 60_000, "image_shape": [64, 64, 1], "fingerprint": "b" * 64}
  assert identity_differences(saved, current) == [
      "image shape 28x28x1 -> 64x64x1", "10,000 -> 60,000 examples",
      f"content fingerprint {'a' * 12} -> {'b' * 12}"]
  assert identity_differences({"num_examples": 60_000}, current) == []  # older meta


def test_junk_in_metrics_is_dropped_and_counted(tmp_path):
  (tmp_path / "metrics.jsonl").write_bytes(
      b'{"step": 1}\n[1, 2]\n\xff\xfe garbage\n\n{"step": "x"}\n{"step": 5}\n{"ste')
  assert truncate_metrics(tmp_path, 3) == 4
  assert (tmp_path / "metrics.jsonl").read_text() == '{"step": 1}\n'
