"""The one place that builds the device mesh and the shardings a run uses.

Data parallelism over every device of every process: parameters and optimizer
states are replicated, batches are split along the ``data`` axis. A population of
runs (:mod:`ganjax.run.population`) adds a ``member`` axis: its members' states
are split along it, and each member's batch along ``data``. The mesh uses
``AxisType.Auto``: under the Explicit axes ``jax.make_mesh`` now defaults to, linen
Dropout fails.
"""

from typing import Any, Optional, Sequence

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"
MEMBER_AXIS = "member"


def make_mesh(devices: Optional[Sequence[jax.Device]] = None) -> Mesh:
  """A 1-D mesh over ``devices`` (default: all devices of all processes)."""
  devices = jax.devices() if devices is None else list(devices)
  return Mesh(np.asarray(devices), (DATA_AXIS,), axis_types=(AxisType.Auto,))


def make_population_mesh(member_devices: int,
                         devices: Optional[Sequence[jax.Device]] = None) -> Mesh:
  """A 2-D (member, data) mesh: ``member_devices`` groups of data-parallel devices.

  Raises:
    ValueError: the devices do not split into ``member_devices`` equal groups.
  """
  devices = jax.devices() if devices is None else list(devices)
  if member_devices < 1 or len(devices) % member_devices:
    raise ValueError(f"population.member_devices={member_devices} does not divide the "
                     f"{len(devices)} devices")
  grid = np.asarray(devices).reshape(member_devices, len(devices) // member_devices)
  return Mesh(grid, (MEMBER_AXIS, DATA_AXIS), axis_types=(AxisType.Auto,) * 2)


def member_sharded(mesh: Mesh) -> NamedSharding:
  """Splits the leading (member) axis over the member axis; replicated over data."""
  return NamedSharding(mesh, PartitionSpec(MEMBER_AXIS))


def member_batch_sharded(mesh: Mesh) -> NamedSharding:
  """(member, batch, ...) arrays: members over the member axis, rows over data."""
  return NamedSharding(mesh, PartitionSpec(MEMBER_AXIS, DATA_AXIS))


def global_array(shape: tuple[int, ...], sharding: NamedSharding, rows) -> jax.Array:
  """A global array whose shards ``rows(index)`` computes on the processes that
  hold them (any mesh, any number of processes)."""
  return jax.make_array_from_callback(shape, sharding, rows)


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh) -> NamedSharding:
  """Splits the leading (batch) axis over the data axis."""
  return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
  """Raises ValueError unless the global batch splits evenly over the devices
  (over the data axis: a population's members each have a whole batch)."""
  devices = mesh.shape[DATA_AXIS]
  if batch_size % devices:
    raise ValueError(f"train.batch_size={batch_size} is not divisible by the "
                     f"{devices} devices; use a multiple of {devices}")


def process_slice(global_size: int) -> slice:
  """The rows of a global batch that this process feeds (processes in order)."""
  per_process = global_size // jax.process_count()
  start = jax.process_index() * per_process
  return slice(start, start + per_process)


def global_batch(local_rows: Any, mesh: Mesh, global_size: int) -> Any:
  """Assembles a global, batch-sharded array from each process's rows.

  Args:
    local_rows: pytree of host arrays holding ``process_slice(global_size)`` rows.
    mesh: the run's mesh.
    global_size: rows of the global batch.
  """
  sharding = batch_sharded(mesh)
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(
          sharding, x, (global_size,) + x.shape[1:]), local_rows)


def put_replicated(tree: Any, mesh: Mesh) -> Any:
  """Places host values (identical on every process) on every device."""
  sharding = replicated(mesh)
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), tree)
