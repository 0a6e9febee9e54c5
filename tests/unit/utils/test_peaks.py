"""Device peaks: the published table and the measured, cached CPU matmul rate."""

import json
import os

import jax
import pytest

from ganjax.utils import peaks


@pytest.mark.parametrize("kind, dtype, tflops", [
    ("NVIDIA A100-SXM4-40GB", "bfloat16", 312.0),
    ("NVIDIA A100-SXM4-40GB", "float32", 19.5),
    ("NVIDIA H100 PCIe", "bfloat16", 756.0),   # before the SXM entry's "H100"
    ("NVIDIA H100 80GB HBM3", "bfloat16", 989.0),
    ("TPU v5 lite", "bfloat16", 197.0),
    ("TPU v5p", "bfloat16", 459.0),
    ("NVIDIA L4", "float32", 30.3),
])
def test_published_peaks(kind, dtype, tflops):
  assert peaks.published_peak(kind, dtype) == pytest.approx(tflops * 1e12)


def test_no_published_peak_for_cpus_or_missing_units():
  assert peaks.published_peak("cpu", "float32") is None
  assert peaks.published_peak("TPU v4", "float32") is None
  assert peaks.published_peak("Tesla V100-SXM2-16GB", "bfloat16") is None


def test_the_measured_peak_is_cached_per_device_and_dtype(tmp_path, monkeypatch):
  cache = tmp_path / "peaks.json"
  monkeypatch.setenv(peaks.PEAKS_ENV, str(cache))
  measured = peaks.measured_matmul_peak("float32", repeats=1)
  assert 1e8 < measured < 1e14  # a plausible FLOP/s for any CPU
  stored = json.loads(cache.read_text())
  (key,) = stored
  # Per CPU: a home directory moved to another machine does not reuse the peak.
  assert key.startswith(f"cpu:{jax.devices()[0].device_kind}[{peaks.host_cpu()}]:float32:jax")
  assert f"x{os.cpu_count()}" in peaks.host_cpu()
  stored[key] = 123.0  # the next call reads the file, not the machine
  cache.write_text(json.dumps(stored))
  assert peaks.measured_matmul_peak("float32") == 123.0
  assert peaks.device_peak("float32") == (123.0, "measured 2048x2048 matmul")
  assert peaks.device_peak("float32", override_tflops=2.0) == (2e12, "given")
