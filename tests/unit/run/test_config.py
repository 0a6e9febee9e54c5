"""Run configurations (ganjax.run.config): what is refused before any work, and
which changes a resume accepts."""

import importlib.util
import os
from pathlib import Path

import pytest

from ganjax.run import config as config_lib
from ganjax.utils.errors import UserError

EXPERIMENTS = sorted((Path(__file__).resolve().parents[3] / "experiments").glob("*.py"))


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_every_experiment_is_a_valid_config(path):
  spec = importlib.util.spec_from_file_location(path.stem, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config_lib.validate(module.get_config())


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_each_network_has_its_own_optimizer_settings(path):
  config = config_lib.experiment_config(path)
  config.optim.d.learning_rate = 0.123
  assert config.optim.g.learning_rate != 0.123


@pytest.mark.parametrize("key, value, message", [
    ("seed", -1, "config.seed"), ("seed", 2**32, "config.seed"),
    ("train.steps", 0, "train.steps"),
    ("train.batch_size", True, "train.batch_size"),
    ("train.max_rollbacks", -1, "train.max_rollbacks"),
    ("data.device_budget_mb", -1, "data.device_budget_mb"),
    ("data.mask_fraction", 0, "data.mask_fraction"),
    ("eval.every_steps", -5, "eval.every_steps"), ("init_from", " ", "init_from"),
])
def test_config_values_no_run_can_use(key, value, message):
  config = config_lib.default_config()
  section, _, leaf = key.rpartition(".")
  (config[section] if section else config)[leaf] = value
  with pytest.raises(UserError, match=message):
    config_lib.validate(config)


def test_data_paths_are_stored_absolute(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  config = config_lib.default_config()
  config.data.idx_dir = "data/../mnist"
  config.init_from = "~/runs/a"
  absolute = config_lib.absolute_paths(config)
  assert absolute.data.idx_dir == str(tmp_path / "mnist")
  assert absolute.init_from == os.path.expanduser("~/runs/a")
  assert absolute.data.data_dir is None  # unset paths stay unset
  assert config.data.idx_dir == "data/../mnist"  # the original is left alone


def _saved(**changes) -> dict:
  """A default config as a workdir's config.json holds it, with ``changes``."""
  config = config_lib.default_config()
  for key, value in changes.items():
    section, leaf = key.split("__")
    config[section][leaf] = value
  return config.to_dict()


def test_changes_that_shape_the_run_are_incompatible():
  saved = _saved()
  current = _saved(model__g_features=32, optim__d={**saved["optim"]["d"],
                                                    "learning_rate": 0.1},
                   data__split="test", train__batch_size=7)
  assert config_lib.incompatible_keys(saved, current) == [
      "data.split", "model.g_features", "optim.d.learning_rate", "train.batch_size"]


def test_safe_changes_are_compatible():
  """More steps, other intervals, evaluation settings, data moved elsewhere."""
  current = _saved(train__steps=10**6, log__every_steps=1, ckpt__every_steps=7,
                   samples__num=4, eval__every_steps=0, data__idx_dir="/moved/mnist",
                   train__max_rollbacks=9)
  assert config_lib.incompatible_keys(_saved(), current) == []


def test_keys_a_newer_ganjax_added_are_not_compared():
  """A run saved before a key existed resumes with the key at any value."""
  saved = _saved()
  del saved["model"]["dtype"]
  current = _saved(model__dtype="bfloat16")
  current["model"]["brand_new"] = 1
  assert config_lib.incompatible_keys(saved, current) == []


def test_a_prefix_is_a_section_not_a_substring():
  assert config_lib.incompatible_keys({"data": {"names": "a"}}, {"data": {"names": "b"}},
                                      invariant=("data.name",)) == []
  assert config_lib.incompatible_keys({"data": {"name": "a"}}, {"data": {"name": "b"}},
                                      invariant=("data.name",)) == ["data.name"]


def test_check_resumable_names_every_change(tmp_path):
  config = config_lib.default_config()
  config_lib.check_resumable(None, config, tmp_path)  # a new run: nothing to compare
  config.seed = 3
  config.model.noise_dim = 8
  with pytest.raises(UserError) as refused:
    config_lib.check_resumable(_saved(), config, tmp_path)
  message = str(refused.value)
  assert "model.noise_dim (100 -> 8)" in message and "seed (0 -> 3)" in message
  assert str(tmp_path) in message and "new --workdir" in message


def test_a_written_config_loads_back_and_resumes(tmp_path):
  config = config_lib.absolute_paths(config_lib.default_config())
  assert config_lib.load_saved(tmp_path) is None  # no config.json yet
  config_lib.write(config, tmp_path)
  saved = config_lib.load_saved(tmp_path)
  assert saved == config.to_dict()
  config_lib.check_resumable(saved, config, tmp_path)
  assert config_lib.from_json_dict(saved).model.noise_dim == config.model.noise_dim


def test_an_unreadable_config_json_is_a_user_error(tmp_path):
  (tmp_path / config_lib.CONFIG_FILE).write_text('{"seed": 0')
  with pytest.raises(UserError, match="config.json is unreadable"):
    config_lib.load_saved(tmp_path)


def test_every_default_key_has_a_meaning_in_the_description():
  described = config_lib.describe(config_lib.default_config()).splitlines()
  assert len(described) == len(config_lib.flatten(config_lib.default_config()))
  without = [line for line in described if "  # " not in line]
  assert without == []
  steps = next(line for line in described if line.startswith("train.steps = 18000"))
  assert "epochs" in steps
  assert any(line.startswith("optim.g.learning_rate = 0.0004") and "generator" in line
             for line in described)
