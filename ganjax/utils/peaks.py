"""How fast a device can multiply matrices: the yardstick for a step's utilisation.

Accelerators: the vendors' published dense peaks (no sparsity), per chip, for
float32 and bfloat16 matrix multiplication. CPUs (and devices not in the table):
the rate of a large jitted matmul measured on this machine, cached per device
kind (for CPUs: model, vector units and core count), dtype and JAX version,
since a CPU's peak depends on its cores, vector units and the BLAS XLA uses; a
home directory that moves to another machine measures again. Measured while other work shares the machine, it
is too low: delete the file (:func:`peaks_file`) to measure again.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

#: Published dense peaks in TFLOP/s: (device-kind substring, float32, bfloat16).
#: The first entry whose substring occurs in ``jax.Device.device_kind`` applies.
#: None: the device has no such matmul units (float32 then runs as several bf16
#: passes on TPUs; V100 has no bfloat16).
PUBLISHED_TFLOPS: tuple[tuple[str, float | None, float | None], ...] = (
    ("H200", 67.0, 989.0),
    ("H100 PCIe", 51.0, 756.0),
    ("H100", 67.0, 989.0),          # SXM
    ("A100", 19.5, 312.0),
    ("A10G", 31.2, 125.0),
    ("A10", 31.2, 125.0),
    ("L40S", 91.6, 362.0),
    ("L4", 30.3, 121.0),
    ("V100", 15.7, None),
    ("T4", 8.1, None),
    ("TPU v6", None, 918.0),        # v6e (Trillium)
    ("TPU v5p", None, 459.0),
    ("TPU v5", None, 197.0),        # v5e ("TPU v5 lite")
    ("TPU v4", None, 275.0),
    ("TPU v3", None, 123.0),
    ("TPU v2", None, 45.0),
)
#: Side of the square matrices whose product measures a device's peak.
_MATMUL_SIDE = 2048
#: The file of measured peaks: ``$GANJAX_PEAKS``, by default this path.
PEAKS_ENV = "GANJAX_PEAKS"
DEFAULT_PEAKS_FILE = "~/.cache/ganjax/peaks.json"


def published_peak(device_kind: str, dtype: str) -> float | None:
  """The published dense peak in FLOP/s of a device kind for ``dtype``
  ("float32" or "bfloat16"), or None when the table has none."""
  for name, float32, bfloat16 in PUBLISHED_TFLOPS:
    if name.lower() in device_kind.lower():
      tflops = float32 if dtype == "float32" else bfloat16
      return None if tflops is None else tflops * 1e12
  return None


def peaks_file() -> Path:
  return Path(os.environ.get(PEAKS_ENV) or DEFAULT_PEAKS_FILE).expanduser()


def measured_matmul_peak(dtype: str, device: jax.Device | None = None,
                         repeats: int = 5, cache: Path | None = None) -> float:
  """FLOP/s of a jitted (2048 x 2048) @ (2048 x 2048) product on ``device`` (best
  of ``repeats``), measured once per device kind, dtype and JAX version and then
  read from ``cache`` (default :func:`peaks_file`)."""
  device = device or jax.devices()[0]
  cache = cache or peaks_file()
  kind = f"{device.device_kind}[{host_cpu()}]" if device.platform == "cpu" else device.device_kind
  key = f"{device.platform}:{kind}:{dtype}:jax{jax.__version__}"
  stored = _read_cache(cache)
  if key in stored:
    return float(stored[key])
  rng = np.random.default_rng(0)
  a, b = (jax.device_put(jnp.asarray(rng.standard_normal((_MATMUL_SIDE,) * 2),
                                     dtype=dtype), device) for _ in range(2))
  product = jax.jit(jnp.matmul)
  product(a, b).block_until_ready()
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    product(a, b).block_until_ready()
    best = min(best, time.perf_counter() - start)
  flops = 2 * _MATMUL_SIDE**3 / best
  stored[key] = flops
  try:
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(stored, indent=1) + "\n")
  except OSError:
    pass  # A read-only home: measure again next time.
  return flops


def host_cpu() -> str:
  """This machine's CPU as the peak depends on it: model, widest vector unit, cores."""
  fields: dict[str, str] = {}
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
      for line in cpuinfo:
        name, _, value = line.partition(":")
        fields.setdefault(name.strip(), value.strip())
        if not line.strip():  # The first processor is enough.
          break
  except OSError:
    pass  # Not Linux: the model and core count still tell machines apart.
  flags = set((fields.get("flags") or fields.get("Features") or "").split())
  vector = next((unit for unit in ("avx512f", "avx2", "sve", "asimd") if unit in flags), "")
  family = f"family {fields['cpu family']} model {fields['model']}" if (
      "cpu family" in fields and "model" in fields) else ""
  model = fields.get("model name") or platform.processor() or platform.machine()
  return " ".join(part for part in (model, family, vector, f"x{os.cpu_count()}") if part)


def _read_cache(cache: Path) -> dict[str, float]:
  if not cache.is_file():
    return {}
  try:
    return dict(json.loads(cache.read_text()))
  except (OSError, ValueError):
    return {}


def device_peak(dtype: str, override_tflops: float | None = None,
                device: jax.Device | None = None) -> tuple[float, str]:
  """The peak FLOP/s a step on ``device`` is measured against, and where it comes
  from: ``override_tflops`` (a flag), the published table, or a measured matmul."""
  device = device or jax.devices()[0]
  if override_tflops:
    return override_tflops * 1e12, "given"
  published = published_peak(device.device_kind, dtype)
  if published is not None:
    return published, f"published peak of {device.device_kind}"
  return measured_matmul_peak(dtype, device), f"measured {_MATMUL_SIDE}x{_MATMUL_SIDE} matmul"
