"""A population's config: its members' configs and their swept hyperparameters.

Member ``m`` of a population with seed ``s`` is the single run of seed ``s + m``
with member ``m``'s value of every key in ``population.sweep``; a population of
one is that single run. :func:`member_config` writes that run's config, which
is also what ``python -m ganjax.population extract`` gives the extracted run.
"""

import math
import jax
import ml_collections
import numpy as np

from ganjax.run import config as config_lib
from ganjax.utils.errors import UserError

#: Swept keys whose value turns a part of the step on or off at zero: every
#: member must have it on (a positive value) for the members to share one step.
_ON_WHEN_POSITIVE = ("ema.half_life_images", "augment.ada_target")


def size(config: ml_collections.ConfigDict) -> int:
  """Members of the run (1: a single run)."""
  return int(config.train.population)


def swept_values(config: ml_collections.ConfigDict) -> dict[str, tuple[float, ...]]:
  """The swept keys and their values, one per member (validated).

  Raises:
    UserError: a list of the wrong length, a value that is not a number, a key
      the config's optimizer does not have, or a switch turned off for a member.
  """
  sweep = config_lib.flatten(config.population.sweep)
  members = size(config)
  swept = {}
  for key, values in sorted(sweep.items()):
    if values is None:
      continue
    values = tuple(values) if isinstance(values, (list, tuple)) else (values,)
    if len(values) != members:
      raise UserError(f"config.population.sweep.{key} has {len(values)} value(s); the "
                      f"population has train.population={members} members: give one each")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool)
               and math.isfinite(v) for v in values):
      raise UserError(f"config.population.sweep.{key} must be numbers, not {values!r}")
    if any(v < 0 for v in values):
      raise UserError(f"config.population.sweep.{key} must be >= 0, not {values!r}")
    if key.startswith("optim."):
      _, network, name = key.split(".")
      if name not in config.optim[network]:
        raise UserError(f"config.population.sweep.{key}: config.optim.{network} "
                        f"({config.optim[network].name}) has no {name}")
      if name == "learning_rate" and not all(v > 0 for v in values):
        raise UserError(f"config.population.sweep.{key} must be positive, not {values!r}")
    if key in _ON_WHEN_POSITIVE and not all(v > 0 for v in values):
      raise UserError(f"config.population.sweep.{key} must be positive for every member "
                      f"(0 turns it off, which members cannot differ in)")
    swept[key] = tuple(float(v) for v in values)
  return swept


#: ``population.mode``'s choices.
MODES = ("auto", "vmap", "sequential")


def vectorized(config: ml_collections.ConfigDict, backend: str) -> bool:
  """Whether the members are stepped by one ``jax.vmap`` (else in turn): the
  mode, or for "auto" vmap off CPUs."""
  mode = config.population.mode
  return mode == "vmap" or (mode == "auto" and backend != "cpu")


def check(config: ml_collections.ConfigDict) -> None:
  """Refuses what a population cannot do, before any data is read.

  Raises:
    UserError: bad sweep values, sweep values for a single run, or a population
      with init_from.
  """
  if config.population.mode not in MODES:
    raise UserError(f"config.population.mode must be one of {', '.join(MODES)}, not "
                    f"{config.population.mode!r}")
  if size(config) == 1:
    given = [key for key, values in config_lib.flatten(config.population.sweep).items()
             if values is not None]
    if given:
      raise UserError(f"config.population.sweep.{given[0]} gives values to the members "
                      f"of a population; a single run sets config.{given[0]} itself")
    return
  swept_values(config)
  if config.init_from is not None:
    raise UserError("config.init_from starts a single run from another's weights; it "
                    "cannot be used with train.population > 1")


def _with_values(config: ml_collections.ConfigDict, values: dict[str, float]
                 ) -> ml_collections.ConfigDict:
  """A copy of ``config`` with ``values`` set (an integral value of an integer key
  stays an integer)."""
  raw = config.to_dict()
  for key, value in values.items():
    *parents, leaf = key.split(".")
    section = raw
    for parent in parents:
      section = section[parent]
    integral = isinstance(section.get(leaf), int) and float(value).is_integer()
    section[leaf] = int(value) if integral else float(value)
  return ml_collections.ConfigDict(raw)


def member_config(config: ml_collections.ConfigDict, member: int
                  ) -> ml_collections.ConfigDict:
  """The single run that is member ``member``: seed + member, its swept values."""
  single = _with_values(config, {key: values[member]
                                 for key, values in swept_values(config).items()})
  single.seed = config.seed + member
  single.train.population = 1
  single.population = config_lib.default_config().population
  return single


def structure_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The config whose step every member shares: each swept key at its largest value
  (so a loss term swept through zero is present, weighted per member)."""
  return _with_values(config, {key: max(values)
                               for key, values in swept_values(config).items()})


def value_arrays(config: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
  """Each swept key's values as a (members,) float32 array, the step's input."""
  return {key: np.asarray(values, np.float32)
          for key, values in swept_values(config).items()}


def member_devices(config: ml_collections.ConfigDict, num_devices: int) -> int:
  """Devices along the mesh's member axis: ``population.member_devices``, or the
  largest number that divides both the members and the devices.

  Raises:
    UserError: a number that does not divide the members and the devices.
  """
  members, chosen = size(config), config.population.member_devices
  if not chosen:
    return math.gcd(members, num_devices)
  if members % chosen or num_devices % chosen:
    raise UserError(f"config.population.member_devices={chosen} must divide both the "
                    f"{members} members and the {num_devices} devices")
  return chosen


def describe(config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh) -> str:
  """One line: the members, their seeds, their swept values and the mesh."""
  members, seed = size(config), config.seed
  swept = "; ".join(f"{key} = {', '.join(f'{v:g}' for v in values)}"
                    for key, values in swept_values(config).items())
  stepped = ("one vmapped step" if vectorized(config, jax.default_backend())
             else "stepped in turn")
  return (f"Population: {members} members (seeds {seed}..{seed + members - 1}"
          f"{'; ' + swept if swept else ''}), {stepped}, {mesh.shape['member']} member x "
          f"{mesh.shape['data']} data device(s)")


def spread(per_member: list[dict[str, float]]) -> dict[str, float]:
  """Every score's mean, standard deviation, min and max over the members
  (``<key>_mean``, ``<key>_std``, ``<key>_min``, ``<key>_max``)."""
  summary = {}
  for key in per_member[0]:
    values = np.asarray([scores[key] for scores in per_member], np.float64)
    summary.update({f"{key}_mean": float(values.mean()), f"{key}_std": float(values.std()),
                    f"{key}_min": float(values.min()), f"{key}_max": float(values.max())})
  return summary
