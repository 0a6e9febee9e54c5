"""Train a GAN: ``python -m ganjax.main --config experiments/mnist.py --workdir DIR``.

Running the same command again in the same workdir resumes from its newest
checkpoint. Any config value can be overridden, e.g.
``--config.train.steps=1000 --config.data.idx_dir=../shared/data/mnist``.

Several processes (multi-host GPU/TPU, SLURM): pass ``--distributed`` (JAX reads
the cluster from the environment) or the explicit coordinator flags.
"""


# Signals are handled from the first moment, before the other imports: a SIGTERM
# during start-up is a clean stop, not a death (ganjax.run.stopping needs only the
# standard library).
from ganjax.run.stopping import StopRequest

_STOP = StopRequest().__enter__()

from absl import flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from ganjax.run import cli  # noqa: E402
from ganjax.run import config as config_lib  # noqa: E402
from ganjax.run import workdir as workdir_lib  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file (experiments/*.py); override values with "
    "--config.KEY=VALUE.", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, samples, "
                               "metrics and TensorBoard logs; reused to resume.")
_DISTRIBUTED = flags.DEFINE_bool("distributed", False, "Call jax.distributed.initialize() "
                                 "(multi-process runs; cluster read from the environment "
                                 "unless the flags below are given).")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "host:port of process 0.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Number of processes.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index.")
flags.mark_flags_as_required(["config", "workdir"])


def _command(stop: StopRequest) -> int:
  stop.check()
  config = cli.config_value(_CONFIG)
  # Checked again in train.run; here they spare a mistake the heavy imports.
  config_lib.validate(config)
  workdir_lib.check_writable(workdir_lib.resolve(_WORKDIR.value))
  distributed = _DISTRIBUTED.value or _COORDINATOR.value is not None
  if distributed:  # JAX's preemption notifier takes SIGTERM over.
    stop.__exit__()
    stop = StopRequest(install_handlers=False)
  cli.maybe_initialize_distributed(distributed, _COORDINATOR.value, _NUM_PROCESSES.value,
                                   _PROCESS_ID.value)
  from ganjax.run import trainer as train  # Heavy imports after flag parsing keep --help fast.
  stop.check()
  return train.run(config, _WORKDIR.value, stop)


def run() -> None:
  with _STOP:
    cli.run_app(lambda: _command(_STOP))


if __name__ == "__main__":
  run()
