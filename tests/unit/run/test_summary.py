"""The start block, speed line and end report a run prints."""

import dataclasses
from pathlib import Path

from ganjax.run import summary


def test_start_block_names_data_model_sizes_and_epochs():
  facts = summary.RunFacts(
      model="dcgan", dataset="mnist", split="train", num_examples=60_000,
      image_shape=(28, 28, 1), num_classes=10, devices="1 cpu device(s)",
      g_params=1_234_567, d_params=45_000, batch_size=64, step=0, total_steps=9_375,
      workdir=Path("/w"), sample_every=250)
  text = summary.start_block(facts)
  assert "dcgan on mnist train (60,000 images 28x28x1, 10 classes), 1 cpu device(s)" in text
  assert "generator 1.23M parameters, discriminator 45.0k" in text
  assert "to step 9,375 (10.0 epochs)" in text and "/w/samples" in text
  one = summary.start_block(dataclasses.replace(facts, dataset="folder:/pics",
                                                 num_classes=1))
  assert "(60,000 images 28x28x1, 1 class)" in one  # a folder with one class subfolder


def test_speed_line_estimates_the_time_left():
  line = summary.speed_line(200.0, 64, 1000, 10_375)
  assert line.startswith("Speed 200 images/s (3.12 steps/s)")
  assert "about 50m00s to step 10,375" in line


def test_end_report_and_durations():
  report = summary.end_report(steps=120, seconds=3725.0, images_per_s=210.4,
                              losses={"d_loss": 0.5, "g_loss": 1.25},
                              eval_scores={"fid": 12.3456, "precision": 0.7, "kid": 1.0},
                              eval_step=100, grid=Path("/w/samples/step_120.png"))
  lines = report.splitlines()
  assert lines[0] == "Trained 120 steps in 1h02m; training speed 210 images/s"
  assert lines[1] == "  last losses: d_loss=0.5  g_loss=1.25"
  assert lines[2] == "  last eval at step 100: fid=12.35  precision=0.7"
  assert lines[3] == "  newest grid: /w/samples/step_120.png"
  assert summary.duration(7.25) == "7.2s" and summary.duration(65) == "1m05s"


def test_layer_tables_list_every_layer_of_both_networks():
  from ganjax.gan import sampling
  from ganjax.models import build_model
  model = build_model("dcgan", (28, 28, 1), None, g_features=8, d_features=8,
                      noise_dim=16)
  grid = sampling.grid_inputs(model, 0, 4, None, {"image": None})
  text = summary.layer_tables(model, grid.noise, grid.condition, (28, 28, 1))
  generator, discriminator = text.split("\nDiscriminator\n")
  assert generator.startswith("Generator\n") and "Dense_0" in generator
  assert "Conv_0" in discriminator and "Total Parameters" in discriminator
  assert "\x1b[" not in text  # plain text, no terminal colours
