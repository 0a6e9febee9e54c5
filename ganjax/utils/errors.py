"""Errors a user can cause and fix; the command line prints them as one line."""

from typing import Callable, Optional


class UserError(Exception):
  """A problem with the config, data or workdir; ``str(e)`` is one clear sentence."""


def find_in_chain(error: Optional[BaseException],
                  matches: Callable[[BaseException], bool]) -> Optional[BaseException]:
  """The first exception in ``error``'s cause/context chain that ``matches``.

  Libraries (orbax, asyncio) wrap what went wrong in errors of their own; what
  matters (an interrupt, a full disk) is further down the chain.
  """
  seen = set()
  while error is not None and id(error) not in seen:
    if matches(error):
      return error
    seen.add(id(error))
    error = error.__cause__ or error.__context__
  return None
