"""Measure the real jitted train step of an experiment: one JSON line.

  python -m ganjax.bench --config experiments/mnist.py --batch_size 100 --steps 5

Prints ``images_per_s``, ``step_s`` (median of the timed steps, after warm-up),
``compile_s``, ``peak_rss_mb``, ``backend``, ``devices``, ``input_wait_fraction``
(host time spent producing a step's input / step time) and ``checkpoint_overhead``
(an asynchronous checkpoint's cost, spread over the default ``ckpt.every_steps``,
as a fraction of step time), and the step's work: ``step_gflop`` (XLA's cost
analysis of the compiled step; with several devices, one device's share),
``gflop_per_s`` achieved, and ``utilisation`` against ``peak_gflop_per_s``, the
device's published dense matmul peak for the model's dtype (GPUs, TPUs) or a
matmul measured once on this machine and cached (CPUs), or ``--peak_tflops``.
Uses random images of the experiment's shape unless ``--real_data`` is given, so
it runs anywhere.
"""

from absl import flags
from ml_collections import config_flags

from ganjax.run import cli

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file.",
                                          lock_config=True)
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 100, "Global batch size.",
                                   lower_bound=1)
_STEPS = flags.DEFINE_integer("steps", 5, "Timed steps.", lower_bound=1)
_WARMUP = flags.DEFINE_integer("warmup", 2, "Untimed steps after compilation.",
                               lower_bound=0)
_REAL_DATA = flags.DEFINE_bool("real_data", False, "Load config.data instead of "
                               "random images of the same shape.")
_SHAPE = flags.DEFINE_list("image_shape", ["28", "28", "1"], "H,W,C of random images.")
_PEAK = flags.DEFINE_float("peak_tflops", None, "The device's peak in TFLOP/s to "
                           "measure utilisation against (default: published or "
                           "measured).", lower_bound=0)
_DEVICES = flags.DEFINE_integer("devices", None, "Train on the first N devices "
                                "(default: all).", lower_bound=1)
flags.mark_flags_as_required(["config"])
flags.register_validator(
    "image_shape", lambda value: len(value) == 3 and all(
        x.strip().isdigit() and int(x) > 0 for x in value),
    message="must be three positive integers H,W,C, e.g. 28,28,1")


def _command() -> int:
  config = cli.config_value(_CONFIG)  # A broken config fails before the imports.
  from ganjax.run import benchmark
  shape = None if _REAL_DATA.value else tuple(int(x) for x in _SHAPE.value)
  return benchmark.run_and_print(config, _BATCH_SIZE.value, _STEPS.value, _WARMUP.value,
                                 shape, _PEAK.value, _DEVICES.value)


def run() -> None:
  cli.run_app(_command)


if __name__ == "__main__":
  run()
