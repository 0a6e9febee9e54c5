"""Where a run reports to: metrics.jsonl, TensorBoard event files and the console.

The TensorBoard writer uses the ``tensorboard`` package's own event-file writer,
so reporting does not import TensorFlow (seconds of start-up).
"""

import io
import json
import os
import sys
import time
import types
from pathlib import Path
from typing import Mapping, Optional

import numpy as np
from PIL import Image

from ganjax.utils import paths

# tensorboard's file I/O imports all of TensorFlow when it is installed (seconds of
# start-up) unless this marker module exists; its stub handles local files.
sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("notf"))
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

METRICS_FILE = "metrics.jsonl"


class JsonlWriter:
  """Appends one JSON object per logged step to ``workdir/metrics.jsonl``."""

  def __init__(self, workdir: Path):
    self.path = Path(workdir) / METRICS_FILE
    self._file = open(self.path, "a", encoding="utf-8")

  def write(self, step: int, scalars: Mapping[str, float]) -> None:
    # Handed to the OS at once: a killed process loses nothing it logged.
    self._file.write(json.dumps({"step": step, **scalars}) + "\n")
    self._file.flush()

  def truncate_after(self, step: int) -> int:
    """Drops records past ``step`` (a resumed or rolled-back run rewrites them).

    Returns the number of unreadable lines dropped with them.
    """
    self._file.close()
    dropped = truncate_metrics(self.path.parent, step)
    self._file = open(self.path, "a", encoding="utf-8")
    return dropped

  def flush(self) -> None:
    self._file.flush()
    os.fsync(self._file.fileno())

  def close(self) -> None:
    self._file.close()


def truncate_metrics(workdir: Path, after_step: int) -> int:
  """Drops records past ``after_step`` (a resumed run rewrites them).

  Lines that are not a record (a torn last line from a killed process, anything
  else written into the file) are dropped too; returns how many (blank lines
  are not counted).
  """
  path = Path(workdir) / METRICS_FILE
  if not path.exists():
    return 0
  kept, dropped = [], 0
  for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
    step = _record_step(line)
    if step is None:
      dropped += bool(line.strip())
    elif step <= after_step:
      kept.append(line + "\n")
  text = "".join(kept)
  paths.write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
  return dropped


def _record_step(line: str) -> Optional[int]:
  """The step of a metrics record, or None for a line that is not one."""
  try:
    record = json.loads(line)
  except ValueError:
    return None
  step = record.get("step") if isinstance(record, dict) else None
  return step if isinstance(step, int) and not isinstance(step, bool) else None


def read_metrics(workdir: Path) -> list[dict]:
  path = Path(workdir) / METRICS_FILE
  if not path.exists():
    return []
  return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class TensorBoardWriter:
  """Scalars and images as TensorBoard event files under ``logdir``."""

  def __init__(self, logdir: Path):
    Path(logdir).mkdir(parents=True, exist_ok=True)
    self._writer = EventFileWriter(str(logdir))

  def _add(self, step: int, values: list[summary_pb2.Summary.Value]) -> None:
    self._writer.add_event(event_pb2.Event(
        wall_time=time.time(), step=step, summary=summary_pb2.Summary(value=values)))

  def scalars(self, step: int, scalars: Mapping[str, float]) -> None:
    self._add(step, [summary_pb2.Summary.Value(tag=k, simple_value=float(v))
                     for k, v in scalars.items()])

  def text(self, step: int, tag: str, markdown: str) -> None:
    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="text"))
    tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING,
                                    string_val=[markdown.encode("utf-8")])
    self._add(step, [summary_pb2.Summary.Value(tag=tag, metadata=metadata, tensor=tensor)])

  def image(self, step: int, tag: str, image: np.ndarray) -> None:
    """``image``: uint8 (H, W, C)."""
    buffer = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(
        buffer, format="PNG")
    encoded = summary_pb2.Summary.Image(
        height=image.shape[0], width=image.shape[1], colorspace=image.shape[2],
        encoded_image_string=buffer.getvalue())
    self._add(step, [summary_pb2.Summary.Value(tag=tag, image=encoded)])

  def flush(self) -> None:
    self._writer.flush()

  def close(self) -> None:
    self._writer.close()


class Reporter:
  """Fans metrics and images out to every sink; a no-op off process 0."""

  def __init__(self, workdir: Path, enabled: bool = True,
               console: Optional[callable] = None):
    self.enabled = enabled
    self._console = console or print
    if enabled:
      self._jsonl = JsonlWriter(workdir)
      self._tensorboard = TensorBoardWriter(Path(workdir) / "tensorboard")

  def scalars(self, step: int, scalars: Mapping[str, float], console: bool = True) -> None:
    """Records ``scalars``; also prints them on one line unless not ``console``."""
    if not self.enabled:
      return
    self._jsonl.write(step, scalars)
    self._tensorboard.scalars(step, scalars)
    if console:
      shown = "  ".join(f"{k}={_short(v)}" for k, v in scalars.items())
      self._console(f"step {step}: {shown}")

  def text(self, step: int, tag: str, markdown: str) -> None:
    """A text (markdown) entry in TensorBoard, e.g. the run's config."""
    if self.enabled:
      self._tensorboard.text(step, tag, markdown)

  def image(self, step: int, tag: str, image: np.ndarray) -> None:
    if self.enabled:
      self._tensorboard.image(step, tag, image)

  def truncate_after(self, step: int) -> int:
    """Drops metrics records past ``step``; returns the unreadable lines dropped."""
    return self._jsonl.truncate_after(step) if self.enabled else 0

  def flush(self) -> None:
    if self.enabled:
      self._jsonl.flush()
      self._tensorboard.flush()

  def close(self) -> None:
    if self.enabled:
      self.flush()
      self._jsonl.close()
      self._tensorboard.close()


class PopulationReporter(Reporter):
  """A population's reporting: each member's metrics in ``metrics.jsonl`` (with a
  ``member`` field) and in its own TensorBoard run (``tensorboard/member_<m>``);
  summaries over the members in the main run and on the console."""

  def __init__(self, workdir: Path, members: int, enabled: bool = True,
               console: Optional[callable] = None):
    super().__init__(workdir, enabled, console)
    if enabled:
      self._members = [TensorBoardWriter(Path(workdir) / "tensorboard" / f"member_{m}")
                       for m in range(members)]

  def member_scalars(self, step: int, member: int, scalars: Mapping[str, float]) -> None:
    """Records member ``member``'s ``scalars`` (not on the console)."""
    if self.enabled:
      self._jsonl.write(step, {"member": member, **scalars})
      self._members[member].scalars(step, scalars)

  def member_image(self, step: int, member: int, tag: str, image: np.ndarray) -> None:
    if self.enabled:
      self._members[member].image(step, tag, image)

  def flush(self) -> None:
    super().flush()
    if self.enabled:
      for writer in self._members:
        writer.flush()

  def close(self) -> None:
    super().close()
    if self.enabled:
      for writer in self._members:
        writer.close()


def _short(value: float) -> str:
  return f"{value:.4g}" if isinstance(value, float) else str(value)
