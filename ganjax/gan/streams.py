"""Named random streams: each purpose gets its own key, derived by name.

A step's key is split by purpose with ``fold_in(key, id(name))`` rather than by
position (``split(key, n)``), so adding a stream for a new purpose (an
augmentation, a regulariser's noise) changes no other stream: a run that does
not use the new feature draws exactly the numbers it drew before.
"""

import zlib

import jax


def stream_id(name: str) -> int:
  """A stable 31-bit number for ``name`` (CRC-32: the same on every platform)."""
  return zlib.crc32(name.encode("utf-8")) & 0x7FFFFFFF


def stream(key: jax.Array, name: str) -> jax.Array:
  """The key of purpose ``name`` under ``key``."""
  return jax.random.fold_in(key, stream_id(name))
