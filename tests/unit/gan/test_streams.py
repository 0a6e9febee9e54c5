"""Named random streams are stable and distinct."""

import jax
import numpy as np

from ganjax.gan import streams


def test_stream_ids_are_pinned():
  """A checkpointed run resumes with the same numbers in any process and version:
  the ids are CRC-32 of the names (Python's str hash() differs per process)."""
  assert streams.stream_id("noise") == 2108266025


def test_streams_of_different_names_differ_and_repeat():
  key = jax.random.PRNGKey(0)
  a, b = streams.stream(key, "noise"), streams.stream(key, "g_noise")
  assert not np.array_equal(jax.random.key_data(a), jax.random.key_data(b))
  assert np.array_equal(jax.random.key_data(streams.stream(key, "noise")),
                        jax.random.key_data(a))
