"""File checks and atomic writes (ganjax.utils.paths): a failed write leaves no
trace and never a half-written file. The output and run-directory checks are
tested with the commands (tests/e2e/test_command_mistakes.py)."""

import json

import pytest

from ganjax.utils import paths
from ganjax.utils.errors import UserError


class _Full(OSError):
  """What a full disk raises mid-write."""

  def __init__(self):
    super().__init__(28, "No space left on device")


def _fail_after_writing(tmp):
  tmp.write_text("half")
  raise _Full()


def test_a_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path):
  old = tmp_path / "config.json"
  old.write_text("old")
  with pytest.raises(UserError, match="could not write .*config.json: No space left"):
    paths.write_atomically(old, _fail_after_writing)
  assert old.read_text() == "old"
  new = tmp_path / "made" / "for" / "it.json"
  with pytest.raises(UserError):
    paths.write_atomically(new, _fail_after_writing)
  assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]


def test_a_failed_write_raises_the_callers_error_type(tmp_path):
  class ScoresError(UserError):
    pass

  with pytest.raises(ScoresError):
    paths.write_atomically(tmp_path / "x", _fail_after_writing, ScoresError)


def test_other_exceptions_propagate_and_clean_up(tmp_path):
  def interrupted(tmp):
    tmp.write_text("half")
    raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    paths.write_atomically(tmp_path / "sub" / "x", interrupted)
  assert list(tmp_path.iterdir()) == []


def test_write_json_is_sorted_indented_and_complete(tmp_path):
  path = tmp_path / "a" / "scores.json"
  paths.write_json(path, {"b": 1, "a": {"path": tmp_path}})
  text = path.read_text()
  assert text.endswith("}\n") and text.index('"a"') < text.index('"b"')
  assert json.loads(text) == {"a": {"path": str(tmp_path)}, "b": 1}
  assert [p.name for p in path.parent.iterdir()] == ["scores.json"]


def test_input_checks_name_the_flag(tmp_path):
  (tmp_path / "file").write_text("x")
  for check, path, message in [
      (paths.check_input_file, tmp_path / "missing", "--input .*missing does not exist"),
      (paths.check_input_file, tmp_path, "is a directory, not a file"),
      (paths.check_input_dir, tmp_path / "missing", "does not exist"),
      (paths.check_input_dir, tmp_path / "file", "is not a directory")]:
    with pytest.raises(UserError, match=message):
      check(path, "--input")
  assert paths.check_input_file(tmp_path / "file", "--input") == tmp_path / "file"
  assert paths.check_input_dir(tmp_path, "--input") == tmp_path


def test_a_directory_to_be_made_is_checked_at_its_nearest_parent(tmp_path):
  assert paths.check_writable_dir(tmp_path / "a" / "b", "--out") == tmp_path / "a" / "b"
  assert list(tmp_path.iterdir()) == []  # nothing created, not even the probe
  (tmp_path / "file").write_text("x")
  with pytest.raises(UserError, match=r"cannot write --out: .*file is a file"):
    paths.check_writable_dir(tmp_path / "file" / "b", "--out")
