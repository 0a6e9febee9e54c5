"""The training loop's metric windows: means, NaN flag and honest throughput."""

import jax.numpy as jnp

from ganjax.run.trainer import MetricsWindow


def _metrics(loss: float) -> dict:
  return {"d_loss": jnp.float32(loss), "finite": jnp.isfinite(jnp.float32(loss))}


def test_first_window_of_only_the_compiling_step_reports_no_throughput():
  window = MetricsWindow(batch_size=8, step=0)
  window.add(_metrics(1.0))
  window.start_clock(1, say=lambda _: None)
  first = window.close(1)
  assert first == {"d_loss": 1.0, "finite": True}  # no images_per_s=0
  window.add(_metrics(2.0))
  window.add(_metrics(4.0))
  second = window.close(3)
  assert second["d_loss"] == 3.0 and second["finite"]
  assert second["images_per_s"] > 0


def test_a_nan_anywhere_in_the_window_clears_finite():
  window = MetricsWindow(batch_size=8, step=0)
  window.add(_metrics(1.0))
  window.add(_metrics(float("nan")))
  assert window.close(2)["finite"] is False
