"""The runs under a folder, as ``python -m ganjax.runs`` lists them.

Reads only what every run leaves: ``config.json``, ``status.json``, the checkpoint
directories, ``metrics.jsonl`` and ``eval/``; changes nothing.
"""

import dataclasses
import json
import time
from pathlib import Path
from typing import Optional

from ganjax.run import workdir as workdir_lib

#: A run whose status says "running" while no process holds its lock.
DIED = "died"


@dataclasses.dataclass(frozen=True)
class RunEntry:
  path: Path
  model: str
  dataset: str
  step: int
  total: Optional[int]
  state: str
  fid: Optional[float]
  modified: float


def _last_fid(workdir: Path) -> Optional[float]:
  """The newest FID: ``ganjax.eval``'s records (of the newest step), else periodic
  evaluation's metrics."""
  records = []
  for path in (workdir / "eval").glob("*.json"):
    try:
      document = json.loads(path.read_text())
      # At one step, the default weights' record before a --raw_weights one.
      records.append((document["step"], not path.stem.endswith("-raw"),
                      path.stat().st_mtime, document["scores"]["fid"]))
    except (OSError, ValueError, KeyError, TypeError):
      continue
  if records:
    return max(records)[-1]
  fid = None
  try:
    for line in (workdir / workdir_lib.METRICS).read_text().splitlines():
      try:
        fid = json.loads(line).get("eval/fid", fid)
      except (ValueError, AttributeError):
        continue
  except OSError:
    pass
  return fid


def _state(workdir: Path, step: int, total: Optional[int]) -> str:
  if workdir_lib.is_locked(workdir):
    return "running"
  status = workdir_lib.read_status(workdir).get("state")
  if status == "running":
    return DIED
  if status:
    return status
  return "finished" if total is not None and step >= total else "stopped"


def describe_run(workdir: Path) -> Optional[RunEntry]:
  """The entry of the run in ``workdir``; None when it holds no run."""
  try:
    config = json.loads((workdir / workdir_lib.CONFIG).read_text())
  except (OSError, ValueError):
    return None
  if not isinstance(config, dict):
    return None
  steps = workdir_lib.checkpoint_steps(workdir)
  step = steps[0] if steps else 0
  total = config.get("train", {}).get("steps")
  data = config.get("data", {})
  dataset = data.get("name", "?") + (f" ({Path(data['idx_dir']).name})"
                                     if data.get("idx_dir") else "")
  if data.get("folder"):
    dataset = f"folder ({Path(data['folder']).name})"
  if data.get("prepared"):
    dataset = f"prepared ({Path(data['prepared']).name})"
  files = [p for p in (workdir / workdir_lib.METRICS, workdir / workdir_lib.CHECKPOINTS,
                       workdir / workdir_lib.STATUS, workdir / workdir_lib.CONFIG)
           if p.exists()]
  model = config.get("model", {}).get("name", "?")
  members = config.get("train", {}).get("population", 1)
  if members > 1:  # A population: K runs in one workdir.
    model = f"{model} x{members}"
  return RunEntry(workdir, model, dataset, step, total,
                  _state(workdir, step, total), _last_fid(workdir),
                  max(p.stat().st_mtime for p in files))


def find_runs(root: Path, max_depth: int = 4) -> list[RunEntry]:
  """Every run at most ``max_depth`` folders below ``root`` (itself included), by path."""
  entries, frontier = [], [root]
  for _ in range(max_depth + 1):
    next_level = []
    for directory in frontier:
      entry = describe_run(directory)
      if entry is not None:
        entries.append(entry)
        continue  # A run's own folders hold no runs.
      try:
        next_level += sorted(p for p in directory.iterdir()
                             if p.is_dir() and not p.name.startswith("."))
      except OSError:
        continue
    frontier = next_level
  return sorted(entries, key=lambda e: str(e.path))


def table(entries: list[RunEntry], root: Path, now: Optional[float] = None) -> str:
  now = time.time() if now is None else now
  header = ("run", "model", "data", "step", "state", "FID", "modified")
  rows = [header]
  for e in entries:
    name = str(e.path.relative_to(root)) if e.path != root else "."
    step = f"{e.step:,}/{e.total:,}" if e.total else f"{e.step:,}"
    fid = "-" if e.fid is None else f"{e.fid:.2f}"
    rows.append((name, e.model, e.dataset, step, e.state, fid, _ago(now - e.modified)))
  widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
  return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                   for row in rows)


def _ago(seconds: float) -> str:
  seconds = max(seconds, 0)
  for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
    if seconds >= size:
      return f"{int(seconds // size)}{unit} ago"
  return "just now"
