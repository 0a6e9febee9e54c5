"""The config of an existing run as a config file, for resuming from the workdir alone.

``python -m ganjax.main --workdir W`` without ``--config`` loads ``W/config.json``
through this file (``--config=<this file>:W``), so ``--config.KEY=VALUE``
overrides apply to the saved config exactly as to an experiment file's.
"""

from pathlib import Path

import ml_collections

from ganjax.run import config as config_lib
from ganjax.utils.errors import UserError


def get_config(workdir: str) -> ml_collections.ConfigDict:
  saved = config_lib.load_saved(Path(workdir))
  if saved is None:
    raise UserError(f"{workdir} holds no run to resume (no {config_lib.CONFIG_FILE}); "
                    "start one with --config experiments/<name>.py")
  return config_lib.from_json_dict(saved)
