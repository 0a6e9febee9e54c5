"""Work with a population: runs trained together (config.train.population > 1).

  python -m ganjax.population extract --workdir runs/pop --member 3 --out runs/pop_3

writes member 3 as the ordinary run it is (the single run of seed + 3 and its
values of config.population.sweep): its config, its state at the population's
newest checkpoint, its metrics and sample grids. ``sample``, ``eval``,
``translate`` and resuming (``python -m ganjax.main --workdir runs/pop_3``)
accept it like any run.

A whole population is scored with ``python -m ganjax.eval --workdir runs/pop``:
every member, then each score's mean ± standard deviation [min, max].
"""

import sys

from absl import flags

from ganjax.run import cli
from ganjax.utils import paths

ACTIONS = ("extract",)

_WORKDIR = flags.DEFINE_string("workdir", None, "Workdir of a population.")
_MEMBER = flags.DEFINE_integer("member", None, "The member to extract (0-based).",
                               lower_bound=0)
_OUT = flags.DEFINE_string("out", None, "The new run directory (must not exist).")
flags.mark_flags_as_required(["workdir", "member", "out"])
paths.require_non_empty("workdir", "out")


def _command() -> int:
  from ganjax.run import members
  return members.extract(_WORKDIR.value, _MEMBER.value, _OUT.value)


def run() -> None:
  args = sys.argv[1:]
  action = next((a for a in args if not a.startswith("-")), None)
  if action not in ACTIONS and not any(a.split("=")[0] in cli.HELP_FLAGS for a in args):
    print(f"ganjax: error: say what to do with the population: "
          f"python -m ganjax.population {' | '.join(ACTIONS)} --workdir ... "
          f"(got {action or 'nothing'})\nRun with --helpshort for the options.",
          file=sys.stderr)
    sys.exit(cli.EXIT_USER_ERROR)
  if action is not None:
    sys.argv.remove(action)
  cli.run_app(_command)


if __name__ == "__main__":
  run()
