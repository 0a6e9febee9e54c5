"""Streaming a prepared dataset: each step's rows, read ahead by grain.

The rows of step ``s`` are those :func:`ganjax.data.pipeline.step_indices` names,
this process's part of them, so the stream is a pure function of (seed, step):
a resumed or rolled-back run restarts the stream at its step and reads exactly
what an uninterrupted run would. Nothing about the stream needs checkpointing.

grain reads ahead in threads (``workers=0``) or in worker processes
(``workers>0``), so the reads for the next steps overlap the current one.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from ganjax.data.pipeline import step_indices
from ganjax.data.prepared import PreparedSource


@dataclasses.dataclass(frozen=True)
class StepRows:
  """Which rows a process reads at each step (picklable, for worker processes)."""
  seed: int
  batch_size: int
  num_examples: int
  batches_per_step: int
  # This process's part of a step's global batch: rows [start, stop).
  start: int
  stop: int

  def __call__(self, step: int) -> np.ndarray:
    indices = step_indices(self.seed, step, self.batch_size, self.num_examples,
                           self.batches_per_step)
    return indices[self.start:self.stop]


class _ReadStep:
  """grain map function: a step number to its rows (opens the data once per process)."""

  def __init__(self, directory: Path, split: str, rows: StepRows):
    self._directory, self._split, self._rows = directory, split, rows
    self._source: PreparedSource | None = None

  def __getstate__(self) -> dict[str, Any]:
    return {**self.__dict__, "_source": None}

  def __call__(self, step: int) -> dict[str, np.ndarray]:
    if self._source is None:
      self._source = PreparedSource(self._directory, self._split)
    return self._source.read_rows(self._rows(step))


def _allow_grain_flags() -> None:
  """grain's worker processes read absl flags; outside an absl command (a
  library caller, a test) nobody parsed them, and their defaults are wanted."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  if not flags.FLAGS.is_parsed():
    flags.FLAGS.mark_as_parsed()


class StepReader:
  """``reader(step)`` returns this process's rows of ``step``, read ahead.

  Steps are expected in order; any other step (a resume, a rollback) restarts
  the stream there.
  """

  def __init__(self, source: PreparedSource, rows: StepRows, end_step: int,
               read_ahead: int = 8, workers: int = 0):
    self._source, self._rows, self._end = source, rows, end_step
    self._read_ahead, self._workers = read_ahead, workers
    self._iterator = None
    self._next_step: int | None = None

  def __call__(self, step: int) -> dict[str, np.ndarray]:
    if step != self._next_step or step >= self._end:
      self._restart(step)
    self._next_step = step + 1
    return next(self._iterator)

  def _restart(self, step: int) -> None:
    import grain  # pylint: disable=g-import-not-at-top
    self.close()
    read = _ReadStep(self._source.directory, self._source.split, self._rows)
    dataset = grain.MapDataset.range(step, max(self._end, step + 1)).map(read)
    if self._workers > 0:
      _allow_grain_flags()
      stream = dataset.to_iter_dataset().mp_prefetch(grain.MultiprocessingOptions(
          num_workers=self._workers, per_worker_buffer_size=self._read_ahead))
    else:
      stream = dataset.to_iter_dataset(grain.ReadOptions(
          num_threads=max(1, min(self._read_ahead, 4)),
          prefetch_buffer_size=self._read_ahead))
    self._iterator = iter(stream)

  def close(self) -> None:
    """Stops the read-ahead threads or worker processes."""
    if self._iterator is not None:
      close = getattr(self._iterator, "close", None)
      if close is not None:
        close()
      self._iterator = None
      self._next_step = None
