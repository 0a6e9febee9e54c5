"""Graceful stops: SIGTERM and Ctrl-C end a run at a step boundary, with a checkpoint.

The first SIGTERM or SIGINT only sets a flag; the loop finishes the current step,
saves, flushes and exits (0 after SIGTERM, 130 after SIGINT). A second SIGINT
exits at once (orbax commits checkpoints atomically, so the last committed one
still restores). With several processes, orbax's preemption sync point makes all
of them stop at the same step (:meth:`StopRequest.should_stop`).
"""

import os
import signal
import sys
from typing import Callable, Optional

import jax

EXIT_CODES = {signal.SIGTERM: 0, signal.SIGINT: 130}


class StopRequest:
  """Installs the handlers on enter and restores the previous ones on exit."""

  def __init__(self, reached_preemption: Optional[Callable[[int], bool]] = None):
    self.signal: Optional[int] = None
    self.preempted = False  # Another process was told to stop (multi-process).
    self._previous = {}
    self._reached_preemption = reached_preemption

  def __enter__(self) -> "StopRequest":
    # With several processes a local flag would stop one host alone and hang the
    # others in a collective: JAX's preemption notifier and orbax's sync point
    # (see should_stop) handle SIGTERM there instead.
    if jax.process_count() == 1:
      for sig in EXIT_CODES:
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)

  def _handle(self, signum: int, frame) -> None:
    del frame
    if self.signal is not None and signum == signal.SIGINT:
      print("\nSecond interrupt: stopping now; the last committed checkpoint is kept.",
            file=sys.stderr, flush=True)
      os._exit(130)
    if self.signal is None:
      self.signal = signum
      print(f"\n{signal.Signals(signum).name} received: finishing this step and saving "
            "a checkpoint (Ctrl-C again to stop at once).", file=sys.stderr, flush=True)

  def should_stop(self, step: int) -> bool:
    """True when this process was signalled or (multi-process) any host was preempted."""
    if self.requested:
      return True
    if self._reached_preemption is not None and jax.process_count() > 1:
      self.preempted = self._reached_preemption(step)
    return self.preempted

  @property
  def requested(self) -> bool:
    """The run was asked to stop before its last step (signal or preemption)."""
    return self.signal is not None or self.preempted

  @property
  def exit_code(self) -> int:
    return EXIT_CODES.get(self.signal, 0)
