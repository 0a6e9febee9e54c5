"""Timing the framework's own train step (used by ``python -m ganjax.bench``)."""

import json
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Optional

import jax
import ml_collections
import numpy as np

from ganjax.data import ImageDataset
from ganjax.run.trainer import RunState, Trainer
from ganjax.run.training import make_trainer
from ganjax.utils import peaks


def random_data(shape: tuple[int, int, int], num: int = 1000, num_classes: int = 10,
                seed: int = 0):
  """(dataset, examples) of random uint8 images and labels, like MNIST's layout."""
  rng = np.random.default_rng(seed)
  images = rng.integers(0, 256, (num, *shape), dtype=np.uint8)
  labels = rng.integers(0, num_classes, num).astype(np.int32)
  dataset = ImageDataset(images=images, labels=labels, num_classes=num_classes,
                         name="random", split="train")
  return dataset, {"image": images, "label": labels}


def _timed_step(trainer: Trainer, state: RunState) -> tuple[RunState, float, float]:
  """One blocking step; returns the state, its wall time and its input-making time."""
  start = time.perf_counter()
  step_input = trainer.step_input(state.step)
  jax.block_until_ready(step_input)
  input_s = time.perf_counter() - start
  state, metrics = trainer.train_one_step(state, step_input)
  jax.block_until_ready(metrics)
  return state, time.perf_counter() - start, input_s


def measure(config: ml_collections.ConfigDict, batch_size: int, steps: int,
            warmup: int, image_shape: Optional[tuple[int, int, int]],
            peak_tflops: Optional[float] = None, num_devices: Optional[int] = None
            ) -> dict:
  """Builds the experiment's trainer and times its jitted step.

  Also counts the compiled step's FLOPs (XLA's cost analysis of the real step)
  and relates them to the device's peak (:func:`ganjax.utils.peaks.device_peak`).
  ``num_devices``: train on the first that many devices (default: all).
  """
  devices = jax.devices()[:num_devices] if num_devices else None
  config = config.copy_and_resolve_references()
  with config.unlocked():
    config.train.batch_size = batch_size
    config.eval.every_steps = 0  # Timing the step alone: no evaluator to build.
  data = random_data(image_shape, max(1000, 4 * batch_size)) if image_shape else None
  with tempfile.TemporaryDirectory() as workdir:
    trainer = make_trainer(config, Path(workdir), data=data, devices=devices)
    try:
      state = trainer.restore_or_init()
      trainer.open_outputs()
      cost = trainer.step_cost(state, trainer.step_input(state.step))
      state, compile_s, _ = _timed_step(trainer, state)
      for _ in range(warmup):
        state, _, _ = _timed_step(trainer, state)
      timed = []
      for _ in range(steps):
        state, took, input_s = _timed_step(trainer, state)
        timed.append((took, input_s))
      step_s = statistics.median(t for t, _ in timed)
      input_s = statistics.median(i for _, i in timed)
      overhead = _checkpoint_overhead(trainer, state, step_s, steps,
                                      config.ckpt.every_steps)
    finally:
      trainer.close()
  dtype = config.model.get("dtype", "float32")
  peak, peak_source = peaks.device_peak(dtype, peak_tflops)
  flops = cost.get("flops")
  # On several devices the compiled program is one device's share of the step,
  # and the peak one device's.
  achieved = flops / step_s if flops else None
  return {
      "images_per_s": batch_size / step_s, "step_s": step_s, "compile_s": compile_s,
      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
      "backend": jax.default_backend(), "devices": trainer.mesh.devices.size,
      "device_kind": jax.devices()[0].device_kind,
      "input_wait_fraction": input_s / step_s, "checkpoint_overhead": overhead,
      "batch_size": batch_size, "model": config.model.name,
      "reuse_fake": bool(config.train.reuse_fake),
      "step_gflop": flops / 1e9 if flops else None,
      "gflop_per_s": achieved / 1e9 if achieved else None,
      "peak_gflop_per_s": peak / 1e9, "peak_source": peak_source, "dtype": dtype,
      "utilisation": achieved / peak if achieved else None,
  }


def _checkpoint_overhead(trainer: Trainer, state: RunState, step_s: float, steps: int,
                         every_steps: int) -> float:
  """Extra time one asynchronous save costs, over ``every_steps`` steps of work.

  The blocking part of the save plus the slowdown of the steps that run while it
  is written in the background (until it is committed).
  """
  start = time.perf_counter()
  trainer.save(state)
  blocking = time.perf_counter() - start
  extra = 0.0
  for _ in range(steps):
    state, took, _ = _timed_step(trainer, state)
    extra += max(took - step_s, 0.0)
  wait_start = time.perf_counter()
  trainer.checkpoints.wait()
  extra += time.perf_counter() - wait_start
  return (blocking + extra) / (every_steps * step_s)


def run_and_print(config, batch_size, steps, warmup, image_shape,
                  peak_tflops: Optional[float] = None,
                  num_devices: Optional[int] = None) -> int:
  print(json.dumps(measure(config, batch_size, steps, warmup, image_shape, peak_tflops,
                           num_devices)), flush=True)
  return 0
