"""A population's config (ganjax.run.population): members, sweeps, layout."""

import ml_collections
import pytest

from ganjax.run import config as config_lib
from ganjax.run import population
from ganjax.utils.errors import UserError


def _population(members: int = 3, **sweep) -> ml_collections.ConfigDict:
  config = config_lib.default_config()
  config.seed = 7
  config.train.population = members
  config.ema.half_life_images = 1000
  for key, values in sweep.items():
    *parents, leaf = key.split("__")
    section = config.population.sweep
    for parent in parents:
      section = section[parent]
    section[leaf] = values
  return config


def test_member_m_is_the_single_run_of_seed_plus_m_with_its_values():
  config = _population(optim__g__learning_rate=(1e-4, 2e-4, 4e-4),
                       loss__r1_weight=(0.0, 0.5, 1.0),
                       ema__half_life_images=(500, 1000.5, 2000))
  member = population.member_config(config, 2)
  assert member.seed == 9 and member.train.population == 1
  assert member.optim.g.learning_rate == 4e-4 and member.optim.d.learning_rate == 8e-4
  assert member.loss.r1_weight == 1.0
  assert member.ema.half_life_images == 2000 and isinstance(member.ema.half_life_images, int)
  assert population.member_config(config, 1).ema.half_life_images == 1000.5
  assert all(v is None for v in config_lib.flatten(member.population.sweep).values())
  # The config the members share has every swept term present.
  assert population.structure_config(config).loss.r1_weight == 1.0
  assert list(population.value_arrays(config)["loss.r1_weight"]) == [0.0, 0.5, 1.0]


@pytest.mark.parametrize("sweep, message", [
    (dict(optim__g__learning_rate=(1e-4, 2e-4)), "has 2 value"),
    (dict(optim__g__learning_rate=(1e-4, "x", 1e-3)), "must be numbers"),
    (dict(optim__g__learning_rate=(1e-4, 0, 1e-3)), "must be positive"),
    (dict(loss__r1_weight=(1.0, -1.0, 0.0)), ">= 0"),
    (dict(optim__d__weight_decay=(0.1, 0.2, 0.3)), "has no weight_decay"),
    (dict(ema__half_life_images=(0, 10, 20)), "positive for every member"),
])
def test_sweeps_no_population_can_use(sweep, message):
  with pytest.raises(UserError, match=message):
    population.check(_population(**sweep))


def test_a_single_run_refuses_sweep_values_and_a_population_init_from():
  with pytest.raises(UserError, match="a single run sets config.loss.r1_weight itself"):
    population.check(_population(1, loss__r1_weight=(1.0,)))
  config = _population(2)
  config.init_from = "/elsewhere"
  with pytest.raises(UserError, match="init_from"):
    population.check(config)


@pytest.mark.parametrize("members, devices, chosen, expected", [
    (8, 8, 0, 8), (2, 8, 0, 2), (3, 8, 0, 1), (4, 8, 2, 2)])
def test_member_devices(members, devices, chosen, expected):
  config = _population(members)
  config.population.member_devices = chosen
  assert population.member_devices(config, devices) == expected


def test_member_devices_must_divide_members_and_devices():
  config = _population(4)
  config.population.member_devices = 3
  with pytest.raises(UserError, match="must divide both"):
    population.member_devices(config, 6)


def test_spread_over_members():
  summary = population.spread([{"fid": 10.0}, {"fid": 20.0}, {"fid": 30.0}])
  assert summary["fid_mean"] == 20.0 and summary["fid_min"] == 10.0
  assert summary["fid_max"] == 30.0 and summary["fid_std"] == pytest.approx(8.1650, 1e-4)


def test_a_resume_accepts_the_sweep_as_config_json_holds_it():
  config = _population(2, optim__g__learning_rate=(1e-4, 2e-4))
  saved = config.to_dict()
  saved["population"]["sweep"]["optim"]["g"]["learning_rate"] = [1e-4, 2e-4]
  assert config_lib.incompatible_keys(saved, config.to_dict()) == []
  changed = _population(2, optim__g__learning_rate=(1e-4, 3e-4))
  assert config_lib.incompatible_keys(saved, changed.to_dict()) == [
      "population.sweep.optim.g.learning_rate"]


@pytest.mark.parametrize("mode, backend, expected", [
    ("auto", "cpu", False), ("auto", "gpu", True), ("auto", "tpu", True),
    ("vmap", "cpu", True), ("sequential", "gpu", False)])
def test_mode_decides_how_members_are_stepped(mode, backend, expected):
  config = _population(2)
  config.population.mode = mode
  assert population.vectorized(config, backend) is expected


def test_an_unknown_mode_is_refused():
  config = _population(2)
  config.population.mode = "parallel"
  with pytest.raises(UserError, match="population.mode must be one of auto, vmap, sequential"):
    population.check(config)
