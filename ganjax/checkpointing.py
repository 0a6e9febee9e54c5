"""The one checkpoint path: orbax CheckpointManager with asynchronous saves.

A checkpoint holds two items: ``state`` (both TrainStates and the run's PRNG key,
everything that shapes the future of the run; the data order is derived from
(seed, step)) and ``meta`` (JSON: the config keys a resume must not change, and
run counters). orbax writes into a temporary directory and renames it when the save
is complete, so an interrupted save never looks like a checkpoint.

Restore walks from the newest checkpoint to the oldest and takes the first that
reads back completely; an unreadable one is moved aside to
``checkpoints/unreadable-<step>-<time>/`` (never deleted) with a one-line warning,
so a later save of the same step does not collide with it.
"""

import dataclasses
import time
from pathlib import Path
from typing import Any, Optional

import jax
import orbax.checkpoint as ocp
from absl import logging

from ganjax.errors import UserError


class CheckpointWriteError(UserError):
  """A checkpoint could not be written (disk full, permissions...)."""


@dataclasses.dataclass
class Restored:
  step: int
  state: Any
  meta: dict[str, Any]
  skipped: list[str]


class Checkpoints:
  """Saves and restores ``{state, meta}`` checkpoints under ``directory``."""

  def __init__(self, directory: Path, keep: int, async_save: bool = True,
               read_only: bool = False):
    self.directory = Path(directory).absolute()
    self.read_only = read_only
    options = ocp.CheckpointManagerOptions(
        max_to_keep=None if read_only else keep, create=not read_only,
        read_only=read_only, save_interval_steps=0 if read_only else 1,
        enable_async_checkpointing=async_save)
    verbosity = logging.get_verbosity()
    if read_only:  # orbax warns that a read-only manager is read-only.
      logging.set_verbosity(logging.ERROR)
    try:
      self._manager = ocp.CheckpointManager(self.directory, options=options,
                                            item_names=("state", "meta"))
    finally:
      logging.set_verbosity(verbosity)

  def steps(self) -> list[int]:
    return list(self._manager.all_steps())

  def latest_step(self) -> Optional[int]:
    return self._manager.latest_step()

  def save(self, step: int, state: Any, meta: dict[str, Any]) -> None:
    """Starts an (asynchronous) save; errors of the previous save surface here.

    Raises:
      CheckpointWriteError: the previous or this save failed.
    """
    try:
      self._manager.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)), force=True)
    except Exception as e:  # orbax re-raises background I/O errors of any type.
      raise CheckpointWriteError(_write_failure(self.directory, step, e)) from e

  def wait(self) -> None:
    """Blocks until pending saves are committed.

    Raises:
      CheckpointWriteError: a pending save failed.
    """
    try:
      self._manager.wait_until_finished()
    except Exception as e:
      raise CheckpointWriteError(_write_failure(self.directory, None, e)) from e

  def read_meta(self, step: int) -> dict[str, Any]:
    return self._manager.restore(step, args=ocp.args.Composite(
        meta=ocp.args.JsonRestore()))["meta"]

  def restore_latest(self, abstract_state: Any) -> Optional[Restored]:
    """Restores the newest readable checkpoint into ``abstract_state``'s structure.

    Args:
      abstract_state: pytree of ``jax.ShapeDtypeStruct`` with shardings, e.g. from
        ``jax.eval_shape``; restored arrays get these shardings (so a checkpoint
        written on 8 devices restores on 1).

    Returns:
      None when there is no readable checkpoint.
    """
    skipped = []
    for step in sorted(self.steps(), reverse=True):
      try:
        restored = self._manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state),
            meta=ocp.args.JsonRestore()))
      except Exception as e:  # Any failure to read back means: not usable.
        reason = _first_line(e)
        logging.warning("checkpoint %d is unreadable (%s); trying an older one",
                        step, reason)
        skipped.append(f"{step} ({reason})")
        self._move_aside(step)
        continue
      return Restored(step, restored["state"], dict(restored["meta"]), skipped)
    return None

  def _move_aside(self, step: int) -> None:
    if self.read_only or jax.process_index() != 0:
      return
    path = self.directory / str(step)
    if path.exists():
      path.rename(self.directory / f"unreadable-{step}-{time.strftime('%Y%m%d-%H%M%S')}")
    self._manager.reload()

  def close(self) -> None:
    self._manager.close()


def _first_line(error: BaseException) -> str:
  text = str(error).strip().splitlines()
  return f"{type(error).__name__}: {text[0][:200]}" if text else type(error).__name__


def _write_failure(directory: Path, step: Optional[int], error: BaseException) -> str:
  what = f"checkpoint {step}" if step is not None else "a checkpoint"
  return (f"could not write {what} to {directory} ({_first_line(error)}); "
          "earlier checkpoints are intact")
