"""Errors a user can cause and fix; the command line prints them as one line."""


class UserError(Exception):
  """A problem with the config, data or workdir; ``str(e)`` is one clear sentence."""
