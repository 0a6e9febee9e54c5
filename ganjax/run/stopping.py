"""Graceful stops: SIGTERM and Ctrl-C end a run cleanly, at any moment of its life.

A command installs :class:`StopRequest` first thing, before its heavy imports.
A signal only ever sets a flag (raising from a handler could land in a garbage
collector callback, which swallows it, or inside a library, which wraps it).
Until training starts, the command checks the flag between its start-up stages
(:meth:`StopRequest.check`) and stops with :class:`Interrupted` before it has
written anything; a checkpoint being restored is read to the end first
(:meth:`StopRequest.deferred`): an interrupted read must never look like a
damaged checkpoint. Once the loop runs (:meth:`StopRequest.start_training`) the
loop finishes the current step, saves, flushes and exits (0 after SIGTERM, 130
after SIGINT). A second SIGINT exits at once (orbax commits checkpoints
atomically, so the last committed one still restores). With several processes,
JAX's preemption notifier owns SIGTERM and orbax's sync point makes every
process stop at the same step (:meth:`StopRequest.should_stop`).
"""

import contextlib
import os
import signal
import sys
from typing import Callable, Iterator, Optional

from ganjax.utils.errors import find_in_chain

EXIT_CODES = {signal.SIGTERM: 0, signal.SIGINT: 130}


class Interrupted(KeyboardInterrupt):
  """A stop signal arrived before training started; nothing was written."""

  def __init__(self, signum: int):
    super().__init__(signal.Signals(signum).name)
    self.signum = signum

  @property
  def exit_code(self) -> int:
    return EXIT_CODES.get(self.signum, 130)


def interrupt_in(error: Optional[BaseException]) -> Optional[KeyboardInterrupt]:
  """The KeyboardInterrupt in ``error``'s cause chain, if any: never a sign of damage."""
  return find_in_chain(error, lambda e: isinstance(e, KeyboardInterrupt))


def write_console(message: str) -> None:
  """Writes to stderr; a closed console (the pipe's reader died) is not an error."""
  try:
    print(message, file=sys.stderr, flush=True)
  except (OSError, ValueError):
    pass


class StopRequest:
  """SIGTERM/SIGINT handling for one command; a context manager that installs it.

  Args:
    install_handlers: False where another component owns the signals (several
      processes: JAX's preemption notifier).
  """

  def __init__(self, install_handlers: bool = True):
    self.signal: Optional[int] = None
    self.preempted = False  # Another process was told to stop (multi-process).
    self._install = install_handlers
    self._previous = {}
    self._training = False
    self._deferring = 0
    self._reached_preemption: Optional[Callable[[int], bool]] = None

  def __enter__(self) -> "StopRequest":
    if self._install:
      for sig in EXIT_CODES:
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    self._previous = {}

  def _handle(self, signum: int, frame) -> None:
    del frame
    if self.signal is not None:
      if signum == signal.SIGINT:
        write_console("\nSecond interrupt: stopping now; the last committed checkpoint "
                      "is kept.")
        os._exit(130)
      return
    self.signal = signum
    name = signal.Signals(signum).name
    if self._training:
      write_console(f"\n{name} received: finishing this step and saving a checkpoint "
                    "(Ctrl-C again to stop at once).")
    elif self._deferring:
      write_console(f"\n{name} received: stopping once the checkpoint is read.")
    else:
      write_console(f"\n{name} received: stopping before training starts (Ctrl-C "
                    "again to stop at once).")

  @contextlib.contextmanager
  def deferred(self) -> Iterator[None]:
    """A start-up stage that finishes before a signal stops the process."""
    self._deferring += 1
    try:
      yield
    finally:
      self._deferring -= 1
    self.check()

  def check(self) -> None:
    """Raises :class:`Interrupted` if a signal arrived before training started."""
    if self.signal is not None and not self._training:
      raise Interrupted(self.signal)

  def start_training(self, reached_preemption: Optional[Callable[[int], bool]] = None
                     ) -> None:
    """From now on a signal ends the run at the next step boundary, with a checkpoint."""
    self.check()
    self._training = True
    self._reached_preemption = reached_preemption

  def should_stop(self, step: int) -> bool:
    """True when this process was signalled or (multi-process) any host was preempted."""
    if self.requested:
      return True
    if self._reached_preemption is not None and not self._install:
      self.preempted = self._reached_preemption(step)
    return self.preempted

  @property
  def requested(self) -> bool:
    """The run was asked to stop before its last step (signal or preemption)."""
    return self.signal is not None or self.preempted

  @property
  def exit_code(self) -> int:
    return EXIT_CODES.get(self.signal, 0)
