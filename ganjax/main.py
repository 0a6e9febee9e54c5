"""Train a GAN: ``python -m ganjax.main --config experiments/mnist.py --workdir DIR``.

Running the same command again in the same workdir resumes from its newest
checkpoint; so does ``python -m ganjax.main --workdir DIR`` alone, with the config
the run saved. Any config value can be overridden, e.g.
``--config.train.steps=1000 --config.data.idx_dir=../shared/data/mnist``.
``--print_config`` shows every key with its value and meaning, then exits.

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

import sys  # noqa: E402

from ganjax.run import cli  # noqa: E402
from ganjax.run import config as config_lib  # noqa: E402
from ganjax.run import workdir as workdir_lib  # noqa: E402
from ganjax.utils.errors import UserError  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file (experiments/*.py); override values with "
    "--config.KEY=VALUE. Left out, the config --workdir's run saved (to resume it).",
    lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, samples, "
                               "metrics and TensorBoard logs; reused to resume.")
_PRINT_CONFIG = flags.DEFINE_bool("print_config", False, "Print every config key with "
                                  "its value (overrides applied) and meaning, then exit; "
                                  "without --config, the defaults.")
_DISTRIBUTED = flags.DEFINE_bool("distributed", False, "Call jax.distributed.initialize() "
                                 "(multi-process runs; cluster read from the environment "
                                 "unless the flags below are given).")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "host:port of process 0.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Number of processes.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index.")


def _with_saved_config(argv: list[str]) -> list[str]:
  """``argv`` with ``--config`` naming the saved config of ``--workdir``'s run when
  ``--config`` is left out and that run exists, so overrides apply to it."""
  names = [arg.split("=")[0] for arg in argv[1:]]
  if "--config" in names or "-config" in names:
    return argv
  workdir = next((argv[i + 1] if "=" not in arg and i + 1 < len(argv)
                  else arg.partition("=")[2]
                  for i, arg in enumerate(argv) if arg.split("=")[0] in ("--workdir",
                                                                         "-workdir")),
                 None)
  if not workdir or not (workdir_lib.resolve(workdir) / config_lib.CONFIG_FILE).is_file():
    return argv
  from ganjax.run import saved_config
  return [argv[0], f"--config={saved_config.__file__}:{workdir}", *argv[1:]]


def _command(stop: StopRequest) -> int:
  stop.check()
  if _CONFIG.value is None and not _PRINT_CONFIG.value:
    where = (f"{_WORKDIR.value} holds no run to resume" if _WORKDIR.value
             else "no --workdir was given")
    raise UserError(f"--config is required to start a run ({where}); e.g. "
                    "--config experiments/mnist_quick.py")
  config = (config_lib.default_config() if _CONFIG.value is None
            else cli.config_value(_CONFIG))
  if _PRINT_CONFIG.value:
    print(config_lib.describe(config))
    return 0
  if _WORKDIR.value is None:
    raise UserError("--workdir is required: where the run keeps its checkpoints")
  # Checked again in train.run; here they spare a mistake the heavy imports.
  config_lib.validate(config)
  workdir_lib.check_writable(workdir_lib.resolve(_WORKDIR.value))
  distributed = _DISTRIBUTED.value or _COORDINATOR.value is not None
  if distributed:  # JAX's preemption notifier takes SIGTERM over.
    stop.__exit__()
    stop = StopRequest(install_handlers=False)
  cli.maybe_initialize_distributed(distributed, _COORDINATOR.value, _NUM_PROCESSES.value,
                                   _PROCESS_ID.value)
  from ganjax.run import training  # Heavy imports after flag parsing keep --help fast.
  stop.check()
  return training.run(config, _WORKDIR.value, stop)


def run() -> None:
  sys.argv = _with_saved_config(sys.argv)
  with _STOP:
    cli.run_app(lambda: _command(_STOP))


if __name__ == "__main__":
  run()
