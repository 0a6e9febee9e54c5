r"""List the training runs under a folder.

  python -m ganjax.runs [DIR]          (default: runs)

One line per run (any folder holding a run's config.json, up to four levels
down): its path, model, data, newest checkpoint step of the total, state
(running, finished, stopped, failed, or died: a run that ended without a word,
SIGKILL or power loss), newest FID (from ``ganjax.eval`` or periodic
evaluation) and when it last changed. Reads only; changes nothing.
"""

import sys

from ganjax.run import cli
from ganjax.utils.errors import UserError


def _command(argv: list[str]) -> int:
  from pathlib import Path

  from ganjax.run import listing
  if len(argv) > 2:
    raise UserError("give at most one folder")
  root = Path(argv[1] if len(argv) == 2 else "runs").expanduser()
  if not root.is_dir():
    raise UserError(f"{root} is not a folder")
  entries = listing.find_runs(root)
  if not entries:
    print(f"No runs under {root}")
    return 0
  print(listing.table(entries, root))
  return 0


def run() -> None:
  if any(arg in cli.HELP_FLAGS for arg in sys.argv[1:]):
    print(__doc__)
    sys.exit(0)
  sys.exit(cli.run_reporting_errors(_command, sys.argv))


if __name__ == "__main__":
  run()
