"""What every command-line entry point shares: errors as one line, distributed start."""

import sys
from typing import Any, Callable, Optional

from ganjax.errors import UserError

EXIT_USER_ERROR = 2


def run_reporting_errors(fn: Callable[..., int], *args: Any) -> int:
  """Calls ``fn``; a user-fixable error becomes one line on stderr and exit code 2."""
  from ganjax.data import DataError
  try:
    return fn(*args)
  except (UserError, DataError) as e:
    print(f"ganjax: error: {e}", file=sys.stderr, flush=True)
    return EXIT_USER_ERROR


def maybe_initialize_distributed(enabled: bool, coordinator_address: Optional[str],
                                 num_processes: Optional[int],
                                 process_id: Optional[int]) -> None:
  """Starts JAX's multi-controller runtime when asked to (before any JAX work)."""
  if not enabled:
    return
  import jax
  jax.distributed.initialize(coordinator_address=coordinator_address,
                             num_processes=num_processes, process_id=process_id)
