"""What every command-line entry point shares: errors as one line, distributed start."""

import errno
import os
import re
import signal
import sys
import threading
import traceback
import warnings
from pathlib import Path
from typing import Any, Callable, Optional

from ganjax.run.stopping import Interrupted, interrupt_in
from ganjax.utils.errors import UserError, find_in_chain

EXIT_USER_ERROR = 2
#: OS errors that are the environment's, not ganjax's: reported as one line.
ENVIRONMENT_ERRNOS = frozenset({
    errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM,
    errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG, errno.EIO, errno.EMFILE})


#: absl's help flags.
HELP_FLAGS = frozenset({"--help", "-help", "-?", "--helpshort", "-helpshort", "--helpfull",
                        "-helpfull", "--helpxml", "-helpxml"})


def parse_flags(argv: list[str]) -> list[str]:
  """absl flag parsing where every mistake is one line and exit code 2.

  ``config_flags`` reports an unknown ``--config.KEY`` or an unloadable config file
  with a traceback; users get the gist instead.
  """
  from absl import flags
  try:
    return flags.FLAGS(argv)
  except BrokenPipeError:  # --help piped into head.
    sys.exit(1)
  except SystemExit as e:  # absl ends every --help with exit code 1; asked for, it is 0.
    if e.code == 1 and any(arg.split("=")[0] in HELP_FLAGS for arg in argv[1:]):
      sys.exit(0)
    raise
  except Exception as e:  # flags.Error, and AttributeError/KeyError from overrides.
    _exit_with_usage_error(e)


def define_raw_weights_flag() -> Any:
  """``--raw_weights``, shared by the commands that generate from a trained run."""
  from absl import flags
  return flags.DEFINE_bool(
      "raw_weights", False, "Generate with the generator's trained weights instead of "
      "their moving average (runs trained with config.ema keep both).")


def config_value(holder: Any) -> Any:
  """The value of a ``config_flags`` flag; it loads lazily, so errors surface here."""
  try:
    value = holder.value
    value.keys()  # A file that failed to load yields a proxy that raises on use.
    return value
  except Exception as e:  # IOError, SyntaxError... from the user's config file.
    _exit_with_usage_error(e.__cause__ or e)


def _exit_with_usage_error(error: BaseException) -> None:
  lines = [line.strip() for line in str(error).replace("\\n", "\n").splitlines()]
  if isinstance(error, AttributeError) and "get_config" in str(error):
    message = "the config file defines no get_config() (see experiments/*.py)"
  elif isinstance(error, (AttributeError, KeyError)):
    message = "unknown config key " + re.sub(r"[\\']", "", " ".join(lines))
  elif isinstance(error, OSError):
    message = f"cannot load the config file: {lines[-1]}"
  else:
    message = " ".join(lines)
  print(f"ganjax: error: {message}\nRun with --helpshort for the options.",
        file=sys.stderr)
  sys.exit(EXIT_USER_ERROR)


def run_app(command: Callable[[], int]) -> None:
  """The absl entry point of every ganjax command.

  Args:
    command: reads its flags and does the work; it runs after flag parsing and
      :func:`setup`, with user errors reported as one line. Returns the exit code.
  """
  from absl import app

  def main(argv: list[str]) -> int:
    if len(argv) > 1:
      print(f"ganjax: error: unexpected arguments: {' '.join(argv[1:])} (flags are "
            "--name=value)\nRun with --helpshort for the options.", file=sys.stderr)
      return EXIT_USER_ERROR
    setup()
    return run_reporting_errors(command)

  # absl's --help shows __main__'s docstring; a console script (ganjax-eval) has none.
  entry = sys.modules["__main__"]
  if not getattr(entry, "__doc__", None):
    entry.__doc__ = sys.modules[command.__module__].__doc__
  app.run(main, flags_parser=parse_flags)


def run_reporting_errors(fn: Callable[..., int], *args: Any) -> int:
  """Calls ``fn``; a user-fixable error becomes one line on stderr and exit code 2.

  User-fixable: :class:`UserError`, and an OS error of the environment (disk
  full, permissions...) however deep in a library. An interrupt, also one that a
  library wrapped in an error of its own, ends the command as an interrupt.
  """
  try:
    return fn(*args)
  except UserError as e:
    print(f"ganjax: error: {e}", file=sys.stderr, flush=True)
    return getattr(e, "exit_code", EXIT_USER_ERROR)
  except KeyboardInterrupt as e:  # Before the training loop handles signals itself.
    return _interrupted(e)
  except Exception as e:
    interrupt = interrupt_in(e)
    if interrupt is not None:
      return _interrupted(interrupt)
    os_error = _environment_error(e)
    if os_error is None:
      raise
    where = f": {os_error.filename}" if os_error.filename else ""
    print(f"ganjax: error: {os_error.strerror or os_error}{where}", file=sys.stderr,
          flush=True)
    return EXIT_USER_ERROR


def _interrupted(error: KeyboardInterrupt) -> int:
  if isinstance(error, Interrupted):
    name = signal.Signals(error.signum).name
    print(f"Stopped by {name} before training started; nothing in the workdir changed. "
          "Run the same command again to continue.", file=sys.stderr, flush=True)
    return error.exit_code
  print("ganjax: interrupted", file=sys.stderr, flush=True)
  return 130


def _environment_error(error: Optional[BaseException]) -> Optional[OSError]:
  """The OS error of the environment in ``error``'s cause chain, if any."""
  return find_in_chain(error, lambda e: isinstance(e, OSError)
                       and e.errno in ENVIRONMENT_ERRNOS)


def maybe_initialize_distributed(enabled: bool, coordinator_address: Optional[str],
                                 num_processes: Optional[int],
                                 process_id: Optional[int]) -> None:
  """Starts JAX's multi-controller runtime when asked to (before any JAX work)."""
  if not enabled:
    return
  import jax

  # CPU-only processes (tests, CPU clusters) need a cross-process collectives
  # backend; GPUs and TPUs bring their own (NCCL, ICI) and ignore this.
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(coordinator_address=coordinator_address,
                             num_processes=num_processes, process_id=process_id)


def setup() -> None:
  """What every command does first: quiet library logs, compilation cache on."""
  from absl import logging
  _tolerate_closed_console()
  threading.excepthook = _report_thread_environment_errors
  logging.set_verbosity(logging.WARNING)
  _report_library_warnings()
  logging.get_absl_handler().addFilter(_drop_orbax_tracebacks)
  sys.unraisablehook = _quiet_orbax_unraisable
  # ganjax has no coroutines of its own; these are orbax's abandoned reads.
  warnings.filterwarnings("ignore", r"coroutine '.*' was never awaited", RuntimeWarning)
  enable_compilation_cache()


def _report_thread_environment_errors(args: threading.ExceptHookArgs) -> None:
  """A background writer (TensorBoard's) that hits a full disk: one warning line.

  The main thread meets the same condition at its next write and stops cleanly.
  """
  error = _environment_error(args.exc_value)
  if error is None:
    threading.__excepthook__(args)
    return
  print(f"ganjax: warning: a background writer stopped: {error.strerror or error}",
        file=sys.stderr, flush=True)


class _ConsoleStream:
  """stdout/stderr that keep working when their reader is gone.

  ``ganjax.main ... | tee log`` then Ctrl-C kills ``tee`` too: printing would
  raise BrokenPipeError and cut the graceful stop short. After the first failed
  write the stream's file descriptor points at /dev/null (so the interpreter's
  own flush at exit cannot fail either) and output is dropped.
  """

  def __init__(self, stream):
    self._stream = stream

  def write(self, text: str) -> int:
    try:
      return self._stream.write(text)
    except OSError:
      self._detach()
      return len(text)

  def flush(self) -> None:
    try:
      self._stream.flush()
    except OSError:
      self._detach()

  def _detach(self) -> None:
    try:
      devnull = os.open(os.devnull, os.O_WRONLY)
      os.dup2(devnull, self._stream.fileno())
      os.close(devnull)
    except (OSError, ValueError):
      pass

  def __getattr__(self, name: str) -> Any:
    return getattr(self._stream, name)


def _tolerate_closed_console() -> None:
  if not isinstance(sys.stdout, _ConsoleStream):
    sys.stdout = _ConsoleStream(sys.stdout)
  if not isinstance(sys.stderr, _ConsoleStream):
    sys.stderr = _ConsoleStream(sys.stderr)


def _report_library_warnings() -> None:
  """ganjax's own log records read like its errors: ``ganjax: warning: ...``.

  Written through tqdm so they do not break a progress bar.
  """
  import logging as std_logging

  import tqdm

  class ConsoleHandler(std_logging.Handler):
    def emit(self, record: std_logging.LogRecord) -> None:
      tqdm.tqdm.write(f"ganjax: {record.levelname.lower()}: {record.getMessage()}",
                      file=sys.stderr)

  logger = std_logging.getLogger("ganjax")
  logger.handlers = [ConsoleHandler()]
  logger.propagate = False  # Not a second time in absl's format.


def _drop_orbax_tracebacks(record) -> bool:
  """Drops log records about orbax's background I/O that ganjax reports itself.

  ganjax runs no asyncio code of its own: asyncio's complaints are about the
  reads orbax abandoned after the first one failed.
  """
  if record.name == "asyncio" and "never retrieved" in record.getMessage():
    return False
  return not (record.exc_info and _from_orbax_io(record.exc_info[1]))


def _quiet_orbax_unraisable(unraisable) -> None:
  """Drops the errors orbax's abandoned reads and writes leave behind.

  When one array of a damaged checkpoint fails to read (or a save fails), orbax
  stops waiting for the others: their coroutines are collected with errors and
  tensorstore's late callbacks hit orbax's closed event loop. ganjax reports the
  failure itself in one line.
  """
  if not _from_orbax_io(unraisable.exc_value):
    sys.__unraisablehook__(unraisable)


def _from_orbax_io(error: Optional[BaseException]) -> bool:
  if error is None:
    return False
  if isinstance(error, RuntimeError) and str(error) == "Event loop is closed":
    return True
  frames = traceback.extract_tb(error.__traceback__)
  return any(f"{os.sep}orbax{os.sep}" in frame.filename for frame in frames)


def enable_compilation_cache() -> None:
  """Turns on JAX's persistent compilation cache (on by default for every command).

  A resumed run then skips recompiling its train step. The cache lives in
  ``$GANJAX_COMPILATION_CACHE`` (default ``~/.cache/ganjax/xla``); set it to an
  empty string to disable.
  """
  directory = os.environ.get("GANJAX_COMPILATION_CACHE",
                             str(Path.home() / ".cache" / "ganjax" / "xla"))
  if not directory:
    return
  # Cache everything that took noticeable time: GAN steps on CPU compile in seconds.
  settings = {"jax_compilation_cache_dir": directory,
              "jax_persistent_cache_min_compile_time_secs": 0.5,
              "jax_persistent_cache_min_entry_size_bytes": 0}
  if "jax" in sys.modules:
    for name, value in settings.items():
      sys.modules["jax"].config.update(name, value)
  else:  # JAX reads them when it is imported: a mistake found before costs no import.
    os.environ.update({name.upper(): str(value) for name, value in settings.items()})
