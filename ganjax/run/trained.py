"""Opening a trained run's workdir: its config, model and newest generator state.

Used by the commands that consume a run (sample, translate, eval). The checkpoint
metadata records the batch layout and the number of classes, so no data has to
be loaded to rebuild the networks.
"""

import dataclasses
from pathlib import Path
from typing import Any, Callable, Optional

import ml_collections

from ganjax.gan.state import GeneratorState
from ganjax.models import GanModel
from ganjax.run import config as config_lib
from ganjax.run import workdir as workdir_lib
from ganjax.run.builders import abstract_state, model_from_config, state_initializer
from ganjax.run.checkpoints import Checkpoints, Restored
from ganjax.run.metadata import IncompatibleCheckpointError, RunMetadata
from ganjax.utils import paths, sharding
from ganjax.utils.errors import UserError


@dataclasses.dataclass
class TrainedRun:
  workdir: Path
  config: ml_collections.ConfigDict
  model: GanModel
  step: int
  g_state: GeneratorState
  meta: RunMetadata

  @property
  def image_shape(self) -> tuple[int, int, int]:
    """(H, W, C) of the images the generator makes (and was trained on)."""
    return self.meta.image_shape

  @property
  def input_shape(self) -> Optional[tuple[int, int, int]]:
    """(H, W, C) of an image-to-image model's inputs; None for other models."""
    return self.meta.input_shape

  @property
  def num_classes(self) -> Optional[int]:
    """Classes of a label-conditional run (None when the data had no labels)."""
    return self.meta.num_classes

  @property
  def class_names(self) -> Optional[tuple[str, ...]]:
    """The classes' names in label order, when the data named them (a folder of
    class subfolders), else None."""
    names = self.meta.class_names
    return None if names is None else tuple(names)


def newest_meta(checkpoints: Checkpoints) -> RunMetadata:
  """The metadata of the newest checkpoint whose metadata reads.

  Raises:
    IncompatibleCheckpointError: written by a newer ganjax.
    UserError: there is no checkpoint.
  """
  for step in sorted(checkpoints.steps(), reverse=True):
    try:
      return checkpoints.read_meta(step)
    except IncompatibleCheckpointError:
      raise
    except Exception:  # Unreadable: restore_latest will report and skip it.
      continue
  raise UserError(f"no checkpoint in {checkpoints.directory}; train first with "
                  "python -m ganjax.main --config ... --workdir ...")


def restore_newest(workdir: Path, config: ml_collections.ConfigDict,
                   initializer: Callable[[GanModel, RunMetadata], Callable[[], Any]]
                   ) -> tuple[GanModel, Restored]:
  """The networks of ``config`` and the newest readable checkpoint of ``workdir``,
  restored into the structure ``initializer(model, meta)()`` makes.

  Raises:
    UserError: no readable checkpoint.
  """
  checkpoints = Checkpoints(workdir / "checkpoints", keep=1, read_only=True)
  try:
    meta = newest_meta(checkpoints)
    model = model_from_config(config.model, meta.image_shape, meta.num_classes)
    restored = checkpoints.restore_latest(abstract_state(initializer(model, meta),
                                                         sharding.make_mesh()))
  finally:
    checkpoints.close()
  if restored is None:
    raise UserError(f"no readable checkpoint in {workdir / 'checkpoints'}")
  return model, restored


def load_trained(workdir: str, raw_weights: bool = False) -> TrainedRun:
  """Restores the newest readable checkpoint of the run in ``workdir``.

  The generator generates with its moving average when the run keeps one (and
  its config says so), unless ``raw_weights``: then with the trained weights.

  Raises:
    UserError: no such run or no readable checkpoint.
  """
  workdir = paths.check_run_dir(workdir_lib.resolve(workdir))
  config = config_lib.from_json_dict(config_lib.load_saved(workdir))
  members = config.train.population
  if members > 1:
    raise UserError(f"{workdir} holds a population of {members} runs; make one member an "
                    f"ordinary run first: python -m ganjax.population extract --workdir "
                    f"{workdir} --member 0 --out DIR")
  model, restored = restore_newest(
      workdir, config, lambda model, meta: state_initializer(config, model, meta.batch_spec))
  g_state = restored.state["g"]
  if raw_weights:
    g_state = g_state.with_raw_weights_for_inference()
  return TrainedRun(workdir, config, model, restored.step, g_state, restored.meta)
