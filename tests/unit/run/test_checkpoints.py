"""The one checkpoint path (ganjax.run.checkpoints) on a tiny state, in process.

Real orbax checkpoints in a temporary directory. What a user relies on: the
newest good checkpoint is restored bit for bit; a damaged one is moved aside
(never deleted) and the next older one restored; an intact one that does not
fit the run, or comes from a newer ganjax, is refused and left where it is.
"""

import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganjax.run.checkpoints import Checkpoints, IncompatibleCheckpointError, read_arrays
from ganjax.run.metadata import SCHEMA_VERSION, RunMetadata
from ganjax.run.stopping import interrupt_in
from ganjax.utils.errors import UserError


def _state(step: int, width: int = 3) -> dict:
  """A small state whose every leaf depends on ``step``."""
  return {"g": {"w": jnp.arange(width, dtype=jnp.float32) * step},
          "rng": jax.random.PRNGKey(step)}


def _abstract(state: dict) -> dict:
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), state)


def _meta(rollbacks: int = 0) -> RunMetadata:
  return RunMetadata(config={"seed": 0}, num_classes=None, rollbacks=rollbacks,
                     batch_spec={"image": {"shape": [3], "dtype": "float32"}},
                     dataset={"num_examples": 10, "fingerprint": "f" * 64})


@pytest.fixture
def saved(tmp_path):
  """Checkpoints 1 and 2 of ``_state(step)``, saved the way the trainer saves."""
  directory = tmp_path / "checkpoints"
  checkpoints = Checkpoints(directory, keep=3, async_save=False)
  for step in (1, 2):
    checkpoints.save(step, _state(step), _meta(rollbacks=step))
  checkpoints.wait()
  checkpoints.close()
  return directory


def _names(directory) -> list[str]:
  return sorted(p.name for p in directory.iterdir())


def _restore(directory, **kwargs):
  return Checkpoints(directory, keep=3, **kwargs).restore_latest(_abstract(_state(1)))


def _assert_state_equal(restored: dict, expected: dict) -> None:
  for got, want in zip(jax.tree.leaves(restored), jax.tree.leaves(expected)):
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_the_newest_is_restored_bit_for_bit_with_its_metadata(saved):
  restored = _restore(saved)
  assert restored.step == 2 and restored.skipped == []
  _assert_state_equal(restored.state, _state(2))
  assert restored.meta == _meta(rollbacks=2)
  stored = json.loads((saved / "2" / "meta" / "metadata").read_text())
  assert stored["schema"] == SCHEMA_VERSION


def test_an_empty_directory_restores_nothing(tmp_path):
  assert _restore(tmp_path / "checkpoints") is None


def _data_files(step_dir):
  """The files holding array data (orbax keeps small arrays beside the manifest)."""
  return [p for p in (step_dir / "state").rglob("*") if p.is_file() and p.parent.name == "d"]


def _truncate_data_files(step_dir):
  for path in _data_files(step_dir):
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])


def _delete_data_files(step_dir):
  for path in _data_files(step_dir):
    path.unlink()


DAMAGE = {
    "truncated data files": _truncate_data_files,
    "deleted data files": _delete_data_files,
    "deleted state": lambda d: shutil.rmtree(d / "state"),
    "garbage metadata": lambda d: (d / "meta" / "metadata").write_text("{not json"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_newest_is_moved_aside_and_the_older_restored(saved, damage):
  DAMAGE[damage](saved / "2")
  restored = _restore(saved)
  assert restored.step == 1 and restored.skipped[0].startswith("2 (")
  _assert_state_equal(restored.state, _state(1))
  names = _names(saved)
  assert "1" in names and "2" not in names
  assert [n for n in names if n.startswith("unreadable-2-")]  # kept, not deleted


def test_unfinished_saves_are_passed_over(saved):
  (saved / "3.orbax-checkpoint-tmp-7").mkdir()  # a save cut short: never a checkpoint
  (saved / "5").mkdir()  # a step directory with nothing in it
  restored = _restore(saved)
  assert restored.step == 2 and [s[:3] for s in restored.skipped] == ["5 ("]
  assert [n for n in _names(saved) if n.startswith("unreadable-5-")]


def test_a_read_only_reader_skips_damage_but_moves_nothing(saved):
  DAMAGE["deleted state"](saved / "2")
  restored = _restore(saved, read_only=True)
  assert restored.step == 1
  assert _names(saved) == ["1", "2"]


def test_a_checkpoint_that_does_not_fit_is_refused_and_kept(saved):
  with pytest.raises(IncompatibleCheckpointError, match=r"g/w 3 float32 -> 5 float32"):
    Checkpoints(saved, keep=3).restore_latest(_abstract(_state(1, width=5)))
  wider = {**_state(1), "ema": jnp.zeros(2)}
  with pytest.raises(IncompatibleCheckpointError, match="not in the checkpoint: ema"):
    Checkpoints(saved, keep=3).restore_latest(_abstract(wider))
  assert _names(saved) == ["1", "2"]


def test_a_newer_schema_is_refused_and_kept(saved):
  meta = saved / "2" / "meta" / "metadata"
  meta.write_text(json.dumps({**json.loads(meta.read_text()), "schema": SCHEMA_VERSION + 1}))
  with pytest.raises(IncompatibleCheckpointError,
                     match=f"newer ganjax .*schema {SCHEMA_VERSION + 1}"):
    _restore(saved)
  assert _names(saved) == ["1", "2"]


def test_a_refusal_by_check_meta_stops_the_restore_and_moves_nothing(saved):
  def refuse(meta: RunMetadata) -> None:
    raise UserError(f"trained on other data ({meta.dataset['num_examples']} examples)")

  with pytest.raises(UserError, match=r"other data \(10 examples\)"):
    Checkpoints(saved, keep=3).restore_latest(_abstract(_state(1)), check_meta=refuse)
  assert _names(saved) == ["1", "2"]


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
  np.testing.assert_array_equal(arrays["g/w"], [0, 2, 4])


def test_keep_rotates_out_the_oldest(tmp_path):
  checkpoints = Checkpoints(tmp_path / "checkpoints", keep=2, async_save=False)
  for step in (1, 2, 3):
    checkpoints.save(step, _state(step), _meta())
  checkpoints.wait()
  assert sorted(checkpoints.steps()) == [2, 3]
  checkpoints.close()
