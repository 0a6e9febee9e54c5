"""The one checkpoint path: orbax CheckpointManager with asynchronous saves.

A checkpoint holds two items: ``state`` (both TrainStates and the run's PRNG key,
everything that shapes the future of the run; the data order is derived from
(seed, step)) and ``meta`` (JSON: the run's config, counters and a fingerprint of
every bit of ``state``). orbax writes into a temporary directory and renames it
when the save is complete, so an interrupted save never looks like a checkpoint.

Restore walks from the newest checkpoint to the oldest and takes the first that
reads back completely and matches its fingerprint (silent corruption, such as a
flipped or zeroed block, does not always make orbax fail). Only a checkpoint
proven damaged is passed over: one whose files do not read back or whose
contents do not match its fingerprint, and a step directory orbax does not
recognise (it lost its commit marker). It is moved aside to
``checkpoints/unreadable-<step>-<time>/``, never deleted, so a later save of the
same step does not collide with it. A checkpoint that reads back but does not
fit the run (another model, image shape, data or schema version) is not damage:
:class:`IncompatibleCheckpointError` stops the run and nothing is moved. Neither
is an interrupt that cut a read short (see :func:`ganjax.run.stopping.interrupt_in`).
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

from ganjax.run.metadata import IncompatibleCheckpointError, RunMetadata
from ganjax.run.stopping import interrupt_in
from ganjax.utils.errors import UserError


#: How orbax reports a target whose tree differs from the stored one.
_STRUCTURE_MISMATCH = "tree structures do not match"


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
  meta: RunMetadata
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

  def save(self, step: int, state: Any, meta: RunMetadata) -> None:
    """Starts an (asynchronous) save; errors of the previous save surface here.

    Raises:
      CheckpointWriteError: the previous or this save failed.
    """
    meta = {**meta.to_json(), "fingerprint": fingerprint(state)}
    # A failure of the previous (background) save surfaces here: name its step.
    failing = self._pending_step if self._pending_step is not None else step
    try:
      self._manager.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(storable(state)), meta=ocp.args.JsonSave(meta)),
          force=True)
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

  def read_meta(self, step: int) -> RunMetadata:
    """The metadata of checkpoint ``step``.

    Raises:
      IncompatibleCheckpointError: written by a newer ganjax, or unreadable fields.
      Exception: its file does not read back (damage).
    """
    return RunMetadata.from_json(self._read_raw_meta(step), step)

  def _read_raw_meta(self, step: int) -> dict[str, Any]:
    return self._manager.restore(step, args=ocp.args.Composite(
        meta=ocp.args.JsonRestore()))["meta"]

  def restore_latest(self, abstract_state: Any,
                     check_meta: Optional[Callable[[RunMetadata], None]] = None
                     ) -> Optional[Restored]:
    """Restores the newest good checkpoint into ``abstract_state``'s structure.

    Args:
      abstract_state: pytree of ``jax.ShapeDtypeStruct`` with shardings, e.g. from
        ``jax.eval_shape``; restored arrays get these shardings (so a checkpoint
        written on 8 devices restores on 1).
      check_meta: called with a checkpoint's metadata before its state is read;
        it raises (e.g. for an incompatible config or other data) to stop the
        restore.

    Returns:
      None when there is no good checkpoint; ``last_skipped`` then says why.

    Raises:
      IncompatibleCheckpointError: the newest intact checkpoint does not fit
        ``abstract_state`` (or was written by a newer ganjax).
      KeyboardInterrupt: an interrupt arrived during the restore.
    """
    self.last_skipped = [f"{name} (incomplete: no commit marker)"
                         for name in self._move_aside_unrecognised()]
    tried = set()
    while True:
      # Listed afresh each time: a live run (read by sample or eval) rotates its
      # checkpoints, and a step it deleted mid-read is gone, not damaged.
      self._manager.reload()
      untried = sorted(set(self.steps()) - tried, reverse=True)
      if not untried:
        return None
      step = untried[0]
      tried.add(step)
      try:
        raw_meta = self._read_raw_meta(step)
        stored = self.state_structure(step)
      except Exception as e:  # Files that do not read back: damaged.
        self._skip(step, e)
        continue
      meta = RunMetadata.from_json(raw_meta, step)
      if check_meta is not None:
        check_meta(meta)
      check_fits(stored, abstract_state, step)
      try:
        state = self._restore_state(step, abstract_state, raw_meta.get("fingerprint"))
      except Exception as e:
        if _STRUCTURE_MISMATCH in str(e):  # Intact, but arranged otherwise: no damage.
          raise IncompatibleCheckpointError(
              f"checkpoint {step} does not fit this run: its state is arranged "
              f"differently ({_first_line(e)})") from e
        self._skip(step, e)
        continue
      return Restored(step, state, meta, self.last_skipped)

  def state_structure(self, step: int) -> dict[str, tuple[tuple[int, ...], str]]:
    """The stored state's leaves: path -> (shape, dtype), read from orbax's metadata."""
    return _structure_of(self.directory / str(step) / "state")

  def _restore_state(self, step: int, abstract_state: Any,
                     saved_fingerprint: Optional[int]) -> Any:
    stored = self._manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(storable(abstract_state))))["state"]
    state = from_storable(abstract_state, stored)
    if saved_fingerprint is not None and fingerprint(state) != saved_fingerprint:
      raise ValueError("its contents do not match the fingerprint saved with it")
    return state

  def _skip(self, step: int, error: Exception) -> None:
    """Passes over a damaged checkpoint; an interrupt is re-raised, never damage."""
    interrupt = interrupt_in(error)
    if interrupt is not None:
      raise interrupt
    if not (self.directory / str(step)).exists():
      return  # Deleted by the run that owns it (rotation), not damaged.
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


def storable(tree: dict[str, Any]) -> dict[str, Any]:
  """The state as a checkpoint stores it: each network state as a dict of its
  array fields, leaving out the optional ones that are None (an EMA or ADA that
  is off), so a switched-off feature does not change what is stored and
  checkpoints written before the feature existed restore unchanged."""
  return {name: _array_fields(value) for name, value in tree.items()}


def _array_fields(value: Any) -> Any:
  if not dataclasses.is_dataclass(value):
    return value
  return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)
          if field.metadata.get("pytree_node", True)
          and getattr(value, field.name) is not None}


def from_storable(template: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
  """The state of :func:`storable` form ``stored``, rebuilt on ``template``'s types
  (and their static fields: apply functions, optimizers, settings)."""
  return {name: value.replace(**stored[name]) if dataclasses.is_dataclass(value)
          else stored[name] for name, value in template.items()}


def check_fits(stored: dict[str, tuple[tuple[int, ...], str]], abstract_state: Any,
               step: int) -> None:
  """Raises IncompatibleCheckpointError naming how the stored state differs."""
  wanted = {path: (tuple(x.shape), str(np.dtype(x.dtype)))
            for path, x in leaves_by_path(abstract_state).items()}
  differences = [f"only in the checkpoint: {p}" for p in sorted(set(stored) - set(wanted))]
  differences += [f"not in the checkpoint: {p}" for p in sorted(set(wanted) - set(stored))]
  differences += [f"{p} {_shape(stored[p])} -> {_shape(wanted[p])}"
                  for p in sorted(set(stored) & set(wanted)) if stored[p] != wanted[p]]
  if differences:
    shown = "; ".join(differences[:3])
    more = f" (and {len(differences) - 3} more)" if len(differences) > 3 else ""
    raise IncompatibleCheckpointError(
        f"checkpoint {step} does not fit this run: {shown}{more}; it was written for "
        "another model or ganjax version (nothing was changed)")


def _shape(shape_and_dtype: tuple[tuple[int, ...], str]) -> str:
  shape, dtype = shape_and_dtype
  return f"{'x'.join(map(str, shape)) or 'scalar'} {dtype}"


def path_name(path: tuple) -> str:
  """A pytree path as ``g/params/Conv_0/kernel`` (dict keys, attributes, indices)."""
  parts = []
  for key in path:
    for attribute in ("key", "name", "idx"):
      if hasattr(key, attribute):
        parts.append(str(getattr(key, attribute)))
        break
    else:
      parts.append(str(key))
  return "/".join(parts)


def leaves_by_path(tree: Any) -> dict[str, Any]:
  """The leaves of ``tree`` by :func:`path_name`."""
  return {path_name(path): leaf
          for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def _structure_of(item_dir: Path) -> dict[str, tuple[tuple[int, ...], str]]:
  # orbax warns that the item has no metadata file of its own (its step has one).
  with ocp.PyTreeCheckpointer() as checkpointer, _quiet_absl():
    tree = checkpointer.metadata(item_dir).item_metadata.tree
  return {path: (tuple(leaf.shape), str(np.dtype(leaf.dtype)))
          for path, leaf in leaves_by_path(tree).items()}


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
  return {path: np.asarray(leaf) for path, leaf in leaves_by_path(tree).items()}


def mismatching_leaves(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> list[str]:
  """Paths whose arrays differ in any bit (or exist on one side only)."""
  return sorted(k for k in set(a) | set(b)
                if k not in a or k not in b or a[k].dtype != b[k].dtype
                or a[k].shape != b[k].shape or a[k].tobytes() != b[k].tobytes())
