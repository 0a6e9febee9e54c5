"""The single exception type the data layer raises for user-fixable problems."""

from __future__ import annotations

import re

from ganjax.utils.errors import UserError

# How much of a wrapped library error to quote; library messages (requests,
# TFDS) can run to several hundred characters or list every registered dataset.
_MAX_CAUSE_CHARS = 160


class DataError(UserError):
  """A user-fixable data problem; ``str(e)`` is one clear sentence.

  Raised for missing or corrupt files, bad split strings, datasets TFDS can
  neither find nor download, and similar problems the user can fix from the
  command line. Programming errors keep their usual exception types.
  """

  def __init__(self, message: str) -> None:
    # Callers often interpolate library messages; folding line breaks keeps
    # the promise that the error prints as a single line in training logs.
    super().__init__(re.sub(r"\s*\n\s*", " ", message.strip()))


def describe_cause(error: BaseException) -> str:
  """Summarizes a wrapped library exception as a short single-line string.

  Args:
    error: The exception being translated into a `DataError`.

  Returns:
    ``"TypeName: first line of the message"``, cut to a readable length.
  """
  lines = str(error).strip().splitlines()
  text = lines[0] if lines else ""
  if len(text) > _MAX_CAUSE_CHARS:
    text = text[: _MAX_CAUSE_CHARS - 3] + "..."
  return f"{type(error).__name__}: {text}" if text else type(error).__name__
