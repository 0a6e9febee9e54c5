"""From host arrays to model batches (ganjax.data.pipeline): the order of examples
is a pure function of (seed, step), and both input paths give the same batch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganjax.data import pipeline


def test_a_batch_is_a_pure_function_of_seed_and_step():
  """What makes a resumed run see exactly the batches of an uninterrupted one."""
  first = [pipeline.batch_indices(7, step, 8, 100) for step in range(30)]
  pipeline.epoch_permutation.cache_clear()  # as in a new process
  again = [pipeline.batch_indices(7, step, 8, 100) for step in reversed(range(30))]
  for a, b in zip(first, reversed(again)):
    np.testing.assert_array_equal(a, b)
  other_seed = pipeline.batch_indices(8, 0, 8, 100)
  assert not np.array_equal(first[0], other_seed)


def test_an_epoch_visits_every_example_at_most_once():
  num_examples, batch_size = 103, 10  # 10 full batches; the last 3 examples wait
  steps_per_epoch = num_examples // batch_size
  for epoch in range(3):
    batches = [pipeline.batch_indices(0, epoch * steps_per_epoch + s, batch_size,
                                      num_examples) for s in range(steps_per_epoch)]
    seen = np.concatenate(batches)
    assert all(len(b) == batch_size for b in batches)
    assert len(np.unique(seen)) == len(seen) == steps_per_epoch * batch_size
    assert seen.min() >= 0 and seen.max() < num_examples
  assert not np.array_equal(pipeline.batch_indices(0, 0, 10, 103),
                            pipeline.batch_indices(0, steps_per_epoch, 10, 103))


def test_a_dataset_smaller_than_a_batch_is_refused():
  with pytest.raises(ValueError, match="5 examples, fewer than one batch of 8"):
    pipeline.batch_indices(0, 0, 8, 5)


def test_model_batches_span_the_pixel_range_and_keep_labels():
  rows = {"image": jnp.array([0, 51, 255], jnp.uint8).reshape(3, 1, 1, 1),
          "label": jnp.array([3, 1, 4], jnp.int32)}
  batch = pipeline.to_model_batch(rows, (-1.0, 1.0))
  assert batch["image"].dtype == jnp.float32
  np.testing.assert_allclose(batch["image"].ravel(), [-1.0, -0.6, 1.0], atol=1e-6)
  np.testing.assert_array_equal(batch["label"], rows["label"])
  unit = pipeline.to_model_batch({"input": rows["image"]}, (0.0, 1.0))["input"]
  np.testing.assert_allclose(unit.ravel(), [0.0, 0.2, 1.0], atol=1e-6)


def test_host_and_device_gathering_give_the_same_rows():
  """The host-memory path (take_rows) and the on-device path (gather_rows)."""
  rng = np.random.default_rng(0)
  examples = {"image": rng.integers(0, 256, (20, 4, 4, 1), dtype=np.uint8),
              "label": rng.integers(0, 10, 20).astype(np.int32)}
  indices = pipeline.batch_indices(1, 3, 4, 20)
  host = pipeline.take_rows(examples, indices)
  device = jax.jit(pipeline.gather_rows)(
      {k: jnp.asarray(v) for k, v in examples.items()}, jnp.asarray(indices))
  for name in examples:
    np.testing.assert_array_equal(host[name], examples[name][indices])
    np.testing.assert_array_equal(device[name], host[name])


def test_dataset_megabytes_counts_every_array():
  examples = {"image": np.zeros((1024, 32, 32, 1), np.uint8),
              "label": np.zeros(1024, np.int32)}
  assert pipeline.dataset_megabytes(examples) == pytest.approx(1 + 4 / 1024)


def test_step_indices_hold_consecutive_batches_for_several_discriminator_steps():
  from ganjax.data.pipeline import batch_indices, step_indices
  assert np.array_equal(step_indices(3, 5, 8, 100), batch_indices(3, 5, 8, 100))
  both = step_indices(3, 5, 8, 100, batches_per_step=2)
  assert np.array_equal(both, np.concatenate([batch_indices(3, 10, 8, 100),
                                              batch_indices(3, 11, 8, 100)]))
