"""Opening a trained run's workdir: its config, model and newest generator state.

Used by the commands that consume a run (sample, translate, eval). The checkpoint
metadata records the batch layout and the number of classes, so no data has to
be loaded to rebuild the networks.
"""

import dataclasses
from pathlib import Path
from typing import Any

import ml_collections

from ganjax.run import config as config_lib
from ganjax.utils import paths, sharding
from ganjax.run import workdir as workdir_lib
from ganjax.run.checkpoints import Checkpoints
from ganjax.utils.errors import UserError
from ganjax.models import GanModel
from ganjax.run.trainer import abstract_state, model_from_config, state_initializer
from ganjax.gan.step import TrainState


@dataclasses.dataclass
class TrainedRun:
  workdir: Path
  config: ml_collections.ConfigDict
  model: GanModel
  step: int
  g_state: TrainState
  meta: dict[str, Any]


def _newest_meta(checkpoints: Checkpoints) -> dict[str, Any]:
  for step in sorted(checkpoints.steps(), reverse=True):
    try:
      return checkpoints.read_meta(step)
    except Exception:  # Unreadable: restore_latest will report and skip it.
      continue
  raise UserError(f"no checkpoint in {checkpoints.directory}; train first with "
                  "python -m ganjax.main --config ... --workdir ...")


def load_trained(workdir: str) -> TrainedRun:
  """Restores the newest readable checkpoint of the run in ``workdir``.

  Raises:
    UserError: no such run or no readable checkpoint.
  """
  workdir = paths.check_run_dir(workdir_lib.resolve(workdir))
  config = config_lib.from_json_dict(config_lib.load_saved(workdir))
  checkpoints = Checkpoints(workdir / "checkpoints", keep=1, read_only=True)
  try:
    meta = _newest_meta(checkpoints)
    image_shape = meta["batch_spec"]["image"]["shape"]
    model = model_from_config(config.model, image_shape, meta.get("num_classes"))
    init = state_initializer(model, config.optim, meta["batch_spec"], config.seed)
    restored = checkpoints.restore_latest(abstract_state(init, sharding.make_mesh()))
  finally:
    checkpoints.close()
  if restored is None:
    raise UserError(f"no readable checkpoint in {workdir / 'checkpoints'}")
  return TrainedRun(workdir, config, model, restored.step, restored.state["g"],
                    restored.meta)
