"""A population's members as ordinary runs: extracted to a workdir, or opened.

``extract`` writes member ``m`` of a population as the single run it is (its
config, the newest checkpoint's slice of it, its metrics and sample grids):
``sample``, ``eval``, ``translate`` and resuming accept the result like any run.
"""

import dataclasses
import json
import os
import shutil
from pathlib import Path
import ml_collections

from ganjax.gan import population as population_lib
from ganjax.run import config as config_lib
from ganjax.run import population as population_config
from ganjax.run import reporting
from ganjax.run import workdir as workdir_lib
from ganjax.models import GanModel
from ganjax.run.builders import population_initializer
from ganjax.run.checkpoints import Checkpoints, Restored
from ganjax.run.metadata import RunMetadata
from ganjax.run.trained import TrainedRun, restore_newest
from ganjax.utils import paths
from ganjax.utils.errors import UserError


@dataclasses.dataclass
class Population:
  """A population's newest readable checkpoint, on the host's devices."""
  workdir: Path
  config: ml_collections.ConfigDict
  model: GanModel
  restored: Restored

  @property
  def size(self) -> int:
    return population_config.size(self.config)

  def member_step(self, member: int) -> int:
    return int(self.restored.state["g"].step[member])

  def is_active(self, member: int) -> bool:
    return bool(self.restored.state["active"][member])

  def member_config(self, member: int) -> ml_collections.ConfigDict:
    return population_config.member_config(self.config, member)

  def member_meta(self, member: int) -> RunMetadata:
    """The checkpoint metadata the single run of ``member`` would have written."""
    return dataclasses.replace(
        self.restored.meta, config=self.member_config(member).to_dict(),
        rollbacks=int(self.restored.state["rollbacks"][member]))

  def member_tree(self, member: int) -> dict:
    """``{g, d, rng}`` of ``member``: a single run's checkpointed state."""
    return {name: population_lib.member(self.restored.state[name], member)
            for name in ("g", "d", "rng")}

  def member_run(self, member: int, raw_weights: bool = False) -> TrainedRun:
    """Member ``member`` as the commands that consume a run see it."""
    g_state = self.member_tree(member)["g"]
    if raw_weights:
      g_state = g_state.with_raw_weights_for_inference()
    return TrainedRun(self.workdir, self.member_config(member), self.model,
                      self.member_step(member), g_state, self.member_meta(member))


def open_population(workdir: str) -> Population:
  """The population in ``workdir`` at its newest readable checkpoint.

  Raises:
    UserError: no run there, a single run, or no readable checkpoint.
  """
  directory = paths.check_run_dir(workdir_lib.resolve(workdir))
  config = config_lib.from_json_dict(config_lib.load_saved(directory))
  if population_config.size(config) == 1:
    raise UserError(f"--workdir {workdir} holds a single run, not a population "
                    "(config.train.population=1); use it as it is")
  members = [population_config.member_config(config, m)
             for m in range(population_config.size(config))]
  model, restored = restore_newest(
      directory, config,
      lambda model, meta: population_initializer(members, model, meta.batch_spec))
  return Population(directory, config, model, restored)


def check_member(population: Population, member: int) -> None:
  if not 0 <= member < population.size:
    raise UserError(f"--member {member} is not a member of the population in "
                    f"{population.workdir}: it has members 0 to {population.size - 1}")


def extract(workdir: str, member: int, out: str, say=print) -> int:
  """Writes member ``member`` of the population in ``workdir`` as a run in ``out``.

  ``out`` must not exist; it appears whole or not at all.

  Raises:
    UserError: no population, no such member, or ``out`` exists.
  """
  out_dir = Path(out).absolute()
  if out_dir.exists():
    raise UserError(f"--out {out} exists; extract into a new directory")
  paths.check_writable_dir(out_dir.parent, f"--out {out}")
  population = open_population(workdir)
  check_member(population, member)
  tmp = out_dir.with_name(f".{out_dir.name}.extracting")
  shutil.rmtree(tmp, ignore_errors=True)
  try:
    _write_member(population, member, tmp)
    os.replace(tmp, out_dir)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  step = population.member_step(member)
  stopped = ("" if population.is_active(member) else
             f" (it stopped there after non-finite values; the population went on to "
             f"step {population.restored.step})")
  say(f"Member {member} of {population.workdir} (seed {population.member_config(member).seed})"
      f" at step {step}{stopped} -> {out_dir}\nUse it as any run, e.g.:\n"
      f"  python -m ganjax.sample --workdir {out_dir} --out samples.png")
  return 0


def _write_member(population: Population, member: int, directory: Path) -> None:
  directory.mkdir(parents=True)
  config, step = population.member_config(member), population.member_step(member)
  config_lib.write(config, directory)
  checkpoints = Checkpoints(directory / workdir_lib.CHECKPOINTS,
                            keep=config.ckpt.keep, async_save=False)
  try:
    checkpoints.save(step, population.member_tree(member), population.member_meta(member))
    checkpoints.wait()
  finally:
    checkpoints.close()
  _copy_member_metrics(population.workdir, member, step, directory)
  grids = population.workdir / "samples" / f"member_{member}"
  if grids.is_dir():
    shutil.copytree(grids, directory / "samples")
  workdir_lib.write_status(directory, "stopped", step,
                           f"member {member} of {population.workdir}")


def _copy_member_metrics(workdir: Path, member: int, until: int, directory: Path) -> None:
  """``metrics.jsonl`` lines of ``member`` up to step ``until``, as a single run's."""
  lines = []
  for record in reporting.read_metrics(workdir):
    if record.get("member") == member and record.get("step", 0) <= until:
      lines.append(json.dumps({k: v for k, v in record.items() if k != "member"}))
  (directory / reporting.METRICS_FILE).write_text("".join(line + "\n" for line in lines))


def member_runs(workdir: str, raw_weights: bool = False) -> list[TrainedRun]:
  """Every member of the population in ``workdir`` as a :class:`TrainedRun`."""
  population = open_population(workdir)
  return [population.member_run(m, raw_weights) for m in range(population.size)]
