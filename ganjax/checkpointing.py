"""The one checkpoint path: orbax CheckpointManager with asynchronous saves.

A checkpoint holds two items: ``state`` (both TrainStates and the run's PRNG key,
everything that shapes the future of the run; the data order is derived from
(seed, step)) and ``meta`` (JSON: the run's config, counters and a fingerprint of
every bit of ``state``). orbax writes into a temporary directory and renames it
when the save is complete, so an interrupted save never looks like a checkpoint.

Restore walks from the newest checkpoint to the oldest and takes the first that
reads back completely and matches its fingerprint (silent corruption, such as a
flipped or zeroed block, does not always make orbax fail). An unreadable one,
and a step directory orbax does not recognise (it lost its commit marker), is
moved aside to ``checkpoints/unreadable-<step>-<time>/``, never deleted, so a
later save of the same step does not collide with it.
"""

import contextlib
import dataclasses
import os
import re
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

from ganjax.errors import UserError


class CheckpointWriteError(UserError):
  """A checkpoint could not be written (disk full, permissions...)."""


@jax.jit
def _fingerprint(tree: Any) -> jax.Array:
  """A position-weighted wrapping sum of the bits of every leaf (uint32)."""
  total = jnp.uint32(0)
  for i, leaf in enumerate(jax.tree.leaves(tree)):
    leaf = jnp.asarray(leaf)
    if leaf.dtype.itemsize == 4:
      bits = jax.lax.bitcast_convert_type(leaf, jnp.uint32)
    else:
      bits = leaf.astype(jnp.uint32)
    weights = jnp.arange(1, bits.size + 1, dtype=jnp.uint32) * jnp.uint32(2 * i + 1)
    total = total + jnp.sum(bits.ravel() * weights, dtype=jnp.uint32)
  return total


def fingerprint(tree: Any) -> int:
  """Changes when any bit of any leaf of ``tree`` changes (with high probability)."""
  return int(_fingerprint(tree))


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
    self.last_skipped: list[str] = []
    self._pending_step: Optional[int] = None
    options = ocp.CheckpointManagerOptions(
        max_to_keep=None if read_only else keep, create=not read_only,
        read_only=read_only, save_interval_steps=0 if read_only else 1,
        enable_async_checkpointing=async_save)
    # orbax warns that a read-only manager is read-only.
    with _quiet_absl() if read_only else contextlib.nullcontext():
      self._manager = ocp.CheckpointManager(self.directory, options=options,
                                            item_names=("state", "meta"))

  def steps(self) -> list[int]:
    return list(self._manager.all_steps())

  def latest_step(self) -> Optional[int]:
    return self._manager.latest_step()

  def reached_preemption(self, step: int) -> bool:
    """True on every process once any of them was told to stop (multi-process).

    orbax's preemption sync point agrees on one step for all processes through
    the JAX coordination service; it needs ``jax.distributed.initialize()``.
    """
    return self._manager.reached_preemption(step)

  def save(self, step: int, state: Any, meta: dict[str, Any]) -> None:
    """Starts an (asynchronous) save; errors of the previous save surface here.

    Raises:
      CheckpointWriteError: the previous or this save failed.
    """
    meta = {**meta, "fingerprint": fingerprint(state)}
    # A failure of the previous (background) save surfaces here: name its step.
    failing = self._pending_step if self._pending_step is not None else step
    try:
      self._manager.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)), force=True)
    except Exception as e:  # orbax re-raises background I/O errors of any type.
      raise CheckpointWriteError(_write_failure(self.directory, failing, e)) from e
    self._pending_step = step

  def wait(self) -> None:
    """Blocks until pending saves are committed.

    Raises:
      CheckpointWriteError: a pending save failed.
    """
    try:
      self._manager.wait_until_finished()
    except Exception as e:
      raise CheckpointWriteError(
          _write_failure(self.directory, self._pending_step, e)) from e
    self._pending_step = None

  def read_meta(self, step: int) -> dict[str, Any]:
    return self._manager.restore(step, args=ocp.args.Composite(
        meta=ocp.args.JsonRestore()))["meta"]

  def restore_latest(self, abstract_state: Any,
                     check_meta: Optional[Callable[[dict], None]] = None
                     ) -> Optional[Restored]:
    """Restores the newest good checkpoint into ``abstract_state``'s structure.

    Args:
      abstract_state: pytree of ``jax.ShapeDtypeStruct`` with shardings, e.g. from
        ``jax.eval_shape``; restored arrays get these shardings (so a checkpoint
        written on 8 devices restores on 1).
      check_meta: called with a checkpoint's metadata before its state is read;
        it raises (e.g. for an incompatible config) to stop the restore.

    Returns:
      None when there is no good checkpoint; ``last_skipped`` then says why.
    """
    self.last_skipped = [f"{name} (incomplete: no commit marker)"
                         for name in self._move_aside_unrecognised()]
    for step in sorted(self.steps(), reverse=True):
      try:
        meta = self.read_meta(step)
      except Exception as e:  # Any failure to read back means: not usable.
        self._skip(step, e)
        continue
      if check_meta is not None:
        check_meta(meta)
      try:
        state = self._restore_state(step, abstract_state, meta)
      except Exception as e:
        self._skip(step, e)
        continue
      return Restored(step, state, meta, self.last_skipped)
    return None

  def _restore_state(self, step: int, abstract_state: Any, meta: dict) -> Any:
    state = self._manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract_state)))["state"]
    if "fingerprint" in meta and fingerprint(state) != meta["fingerprint"]:
      raise ValueError("its contents do not match the fingerprint saved with it")
    return state

  def _skip(self, step: int, error: BaseException) -> None:
    self.last_skipped.append(f"{step} ({_first_line(error)})")
    self._move_aside(step)

  def _move_aside_unrecognised(self) -> list[str]:
    """Moves away step directories orbax does not list (e.g. lost metadata)."""
    known = {str(s) for s in self.steps()}
    stray = [p.name for p in self.directory.iterdir()
             if p.is_dir() and p.name.isdigit() and p.name not in known]
    for name in stray:
      self._move_aside(int(name))
    return stray

  def _move_aside(self, step: int) -> None:
    if self.read_only or jax.process_index() != 0:
      return
    path = self.directory / str(step)
    if path.exists():
      path.rename(self.directory / f"unreadable-{step}-{time.strftime('%Y%m%d-%H%M%S')}")
    self._manager.reload()

  def close(self) -> None:
    self._manager.close()


@contextlib.contextmanager
def _quiet_absl() -> Iterator[None]:
  """Hides absl warnings (orbax's) inside the block."""
  verbosity = logging.get_verbosity()
  logging.set_verbosity(logging.ERROR)
  try:
    yield
  finally:
    logging.set_verbosity(verbosity)


def _first_line(error: BaseException) -> str:
  """The first line of the root cause: tensorstore's reason, not orbax's wrapper."""
  while error.__cause__ is not None:
    error = error.__cause__
  text = str(error).strip().splitlines()
  return f"{type(error).__name__}: {text[0][:200]}" if text else type(error).__name__


def _write_failure(directory: Path, step: Optional[int], error: BaseException) -> str:
  what = f"checkpoint {step}" if step is not None else "a checkpoint"
  os_error = re.search(r"os_error_code='(\d+)'", str(error))
  reason = os.strerror(int(os_error.group(1))) if os_error else _first_line(error)
  return (f"could not write {what} to {directory} ({reason}); training stopped, "
          "earlier checkpoints are intact")


def read_arrays(step_dir: Path) -> dict[str, np.ndarray]:
  """Every array of a checkpoint's state as host numpy, by path (``g/params/...``).

  Needs no model code and no particular device topology: for comparing runs leaf
  by leaf and for inspection.
  """
  path = Path(step_dir).absolute() / "state"
  # orbax warns that the item has no metadata file of its own (its step has one).
  with ocp.PyTreeCheckpointer() as checkpointer, _quiet_absl():
    structure = checkpointer.metadata(path).item_metadata.tree
    restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray),
                                structure)
    tree = checkpointer.restore(path, restore_args=restore_args)
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {"/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path):
          np.asarray(leaf) for path, leaf in leaves}


def mismatching_leaves(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> list[str]:
  """Paths whose arrays differ in any bit (or exist on one side only)."""
  return sorted(k for k in set(a) | set(b)
                if k not in a or k not in b or a[k].dtype != b[k].dtype
                or a[k].shape != b[k].shape or a[k].tobytes() != b[k].tobytes())
