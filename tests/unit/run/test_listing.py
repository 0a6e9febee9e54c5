"""``ganjax.runs``: what it says of each run, read from the files runs leave."""

import fcntl
import json
import os
import time

from ganjax.run import listing
from ganjax.run import workdir as workdir_lib


def _run(root, name, *, steps=(4, 8), total=8, status=None, fid=None):
  workdir = root / name
  (workdir / "checkpoints").mkdir(parents=True)
  for step in steps:
    (workdir / "checkpoints" / str(step)).mkdir()
  (workdir / "config.json").write_text(json.dumps({
      "model": {"name": "dcgan"}, "data": {"name": "mnist", "idx_dir": "/d/mnist_full"},
      "train": {"steps": total}}))
  (workdir / "metrics.jsonl").write_text(
      json.dumps({"step": 4, "d_loss": 1.0}) + "\n"
      + ("" if fid is None else json.dumps({"step": 8, "eval/fid": fid}) + "\n"))
  if status:
    workdir_lib.write_status(workdir, status, steps[-1] if steps else 0)
  return workdir


def test_states_steps_and_scores(tmp_path):
  _run(tmp_path, "done", status="finished", fid=12.5)
  _run(tmp_path, "nested/stopped", steps=(4,), status="stopped")
  _run(tmp_path, "killed", steps=(4,), status="running")
  _run(tmp_path, "old", steps=(8,))  # An earlier ganjax wrote no status.
  (tmp_path / "not-a-run").mkdir()
  failed = _run(tmp_path, "failed", steps=(), status="failed")
  (failed / "eval").mkdir()
  (failed / "eval" / "0.json").write_text(json.dumps({"step": 0, "scores": {"fid": 300.0}}))

  entries = {str(e.path.relative_to(tmp_path)): e for e in listing.find_runs(tmp_path)}
  assert sorted(entries) == ["done", "failed", "killed", "nested/stopped", "old"]
  assert {name: e.state for name, e in entries.items()} == {
      "done": "finished", "failed": "failed", "killed": listing.DIED,
      "nested/stopped": "stopped", "old": "finished"}
  assert (entries["done"].step, entries["done"].total, entries["done"].fid) == (8, 8, 12.5)
  assert entries["failed"].fid == 300.0 and entries["nested/stopped"].fid is None
  text = listing.table(list(entries.values()), tmp_path, now=time.time())
  lines = text.splitlines()
  assert lines[0].split() == ["run", "model", "data", "step", "state", "FID", "modified"]
  assert any(line.split()[:5] == ["done", "dcgan", "mnist", "(mnist_full)", "8/8"]
             for line in lines)


def test_a_locked_run_is_running_and_listing_changes_nothing(tmp_path):
  workdir = _run(tmp_path, "live", steps=(4,), status="running")
  fd = os.open(workdir / workdir_lib.LOCK, os.O_RDWR | os.O_CREAT)
  fcntl.flock(fd, fcntl.LOCK_EX)
  try:
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    assert listing.describe_run(workdir).state == "running"
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before
  finally:
    os.close(fd)
  assert listing.describe_run(workdir).state == listing.DIED


def test_a_folder_or_prepared_run_shows_its_data_by_its_directory(tmp_path):
  for name, data in (("pictures", {"name": "mnist", "folder": "/d/cats"}),
                     ("prepared", {"name": "mnist", "prepared": "/d/cats64"})):
    workdir = _run(tmp_path, name, status="finished")
    config = json.loads((workdir / "config.json").read_text())
    (workdir / "config.json").write_text(json.dumps({**config, "data": data}))
  entries = {e.path.name: e.dataset for e in listing.find_runs(tmp_path)}
  assert entries == {"pictures": "folder (cats)", "prepared": "prepared (cats64)"}
