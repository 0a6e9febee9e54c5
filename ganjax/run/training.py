"""Starting a run: the checks before anything is touched, the trainer its config
asks for, the workdir lock (``python -m ganjax.main``'s one call).

A single run trains with :class:`~ganjax.run.trainer.Trainer`; a population
(``train.population`` > 1) with one of :mod:`ganjax.run.population_trainer`'s.
"""

import contextlib
from pathlib import Path
from typing import Any, Optional

import jax
import ml_collections

from ganjax.run import builders
from ganjax.run import config as config_lib
from ganjax.run import population as population_config
from ganjax.run import workdir as workdir_lib
from ganjax.run.population_trainer import PopulationTrainer, SequentialPopulationTrainer
from ganjax.run.stopping import StopRequest
from ganjax.run.trainer import Trainer
from ganjax.utils.errors import UserError


def run(config: ml_collections.ConfigDict, workdir: Optional[str],
        stop: Optional[StopRequest] = None) -> int:
  """Trains (or resumes) the run in ``workdir``; returns the process exit code.

  Everything that can be checked is checked before the workdir is touched, and
  the workdir is locked before anything in it changes: a mistake or a signal
  before training starts leaves it as it was.

  Args:
    config: the run's config.
    workdir: where the run lives (created if missing).
    stop: the command's signal handling, installed before its imports; by
      default one is installed here.

  Raises:
    UserError: bad config, data, workdir or checkpoint (one clear sentence).
    stopping.Interrupted: a signal arrived before training started.
  """
  config_lib.validate(config)
  builders.check_choices(config)
  population_config.check(config)
  config = config_lib.absolute_paths(config)
  workdir = workdir_lib.resolve(workdir)
  workdir_lib.check_writable(workdir)
  if workdir_lib.checkpoint_steps(workdir):  # Fail fast; restore checks each one's own.
    config_lib.check_resumable(config_lib.load_saved(workdir), config, workdir)
  elif (config.init_from is not None
        and not workdir_lib.checkpoint_steps(Path(config.init_from))):
    raise UserError(f"config.init_from={config.init_from} holds no ganjax checkpoint")
  with contextlib.ExitStack() as stack:
    if stop is None:
      stop = stack.enter_context(StopRequest(install_handlers=jax.process_count() == 1))
    stop.check()
    trainer = make_trainer(config, workdir, stop=stop)
    stop.check()
    stack.enter_context(workdir_lib.WorkdirLock(workdir, jax.process_index()))
    stack.callback(trainer.close)
    return trainer.train(stop)


def make_trainer(config: ml_collections.ConfigDict, workdir: Path, **kwargs: Any
                 ) -> "Trainer":
  """The trainer of ``config``: a :class:`Trainer`, or for ``train.population`` > 1
  one of :mod:`ganjax.run.population_trainer`'s."""
  if population_config.size(config) > 1:
    vectorized = population_config.vectorized(config, jax.default_backend())
    return (PopulationTrainer if vectorized
            else SequentialPopulationTrainer)(config, workdir, **kwargs)
  return Trainer(config, workdir, **kwargs)
