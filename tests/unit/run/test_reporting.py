"""Where a run reports to (ganjax.run.reporting): metrics.jsonl survives kills and
resumes, TensorBoard gets the same scalars, only process 0 writes."""


import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ganjax.run import reporting


def test_junk_in_metrics_is_dropped_and_counted(tmp_path):
  (tmp_path / "metrics.jsonl").write_bytes(
      b'{"step": 1}\n[1, 2]\n\xff\xfe garbage\n\n{"step": "x"}\n{"step": 5}\n{"ste')
  assert reporting.truncate_metrics(tmp_path, 3) == 4
  assert (tmp_path / "metrics.jsonl").read_text() == '{"step": 1}\n'


def test_no_metrics_file_is_nothing_to_truncate(tmp_path):
  assert reporting.truncate_metrics(tmp_path, 3) == 0
  assert list(tmp_path.iterdir()) == []


def test_a_resumed_writer_rewrites_the_steps_after_its_checkpoint(tmp_path):
  writer = reporting.JsonlWriter(tmp_path)
  for step in (4, 8, 12):
    writer.write(step, {"d_loss": step / 10})
  # Each record is in the file at once: a process killed now has lost nothing.
  assert [r["step"] for r in reporting.read_metrics(tmp_path)] == [4, 8, 12]
  assert writer.truncate_after(8) == 0
  writer.write(12, {"d_loss": 9.0})
  writer.close()
  assert reporting.read_metrics(tmp_path) == [
      {"step": 4, "d_loss": 0.4}, {"step": 8, "d_loss": 0.8}, {"step": 12, "d_loss": 9.0}]


def test_reporter_writes_every_sink(tmp_path):
  said = []
  reporter = reporting.Reporter(tmp_path, console=said.append)
  reporter.scalars(4, {"d_loss": 0.123456, "finite": True})
  reporter.image(4, "samples", np.full((6, 5, 1), 200, np.uint8))
  reporter.close()
  assert reporting.read_metrics(tmp_path) == [{"step": 4, "d_loss": 0.123456,
                                               "finite": True}]
  assert said == ["step 4: d_loss=0.1235  finite=True"]
  events = EventAccumulator(str(tmp_path / "tensorboard"))
  events.Reload()
  assert [(e.step, e.value) for e in events.Scalars("d_loss")] == [
      (4, np.float32(0.123456))]
  image = events.Images("samples")[0]
  assert (image.step, image.width, image.height) == (4, 5, 6)


def test_a_disabled_reporter_writes_nothing(tmp_path):
  """Every process but 0 of a multi-process run."""
  said = []
  reporter = reporting.Reporter(tmp_path, enabled=False, console=said.append)
  reporter.scalars(4, {"d_loss": 0.5})
  reporter.image(4, "samples", np.zeros((2, 2, 1), np.uint8))
  assert reporter.truncate_after(0) == 0
  reporter.close()
  assert said == [] and list(tmp_path.iterdir()) == []


def test_text_and_quiet_scalars_reach_tensorboard_only(tmp_path):
  said = []
  reporter = reporting.Reporter(tmp_path, console=said.append)
  reporter.text(0, "config", "    train.steps = 5  # optimizer steps")
  reporter.scalars(4, {"eval/fid": 12.5}, console=False)
  reporter.close()
  assert said == []
  assert reporting.read_metrics(tmp_path) == [{"step": 4, "eval/fid": 12.5}]
  events = EventAccumulator(str(tmp_path / "tensorboard"))
  events.Reload()
  (config,) = events.Tensors("config")
  assert config.step == 0
  assert config.tensor_proto.string_val == [b"    train.steps = 5  # optimizer steps"]
