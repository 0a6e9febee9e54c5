"""Forward+backward timings of every ganjax convolution layer shape, per lowering.

Prints one row per (layer, lowering): median wall time of a jitted
``value_and_grad`` w.r.t. kernel AND input, the compile time of that
function, and GFLOP/s computed from the layer's *nominal* FLOPs (the FLOPs of
the layer as written: conv at full resolution for UpsampleConv, every input
pixel through every tap for ConvTranspose; times 3 for forward, input grad
and kernel grad). Nominal FLOPs are the same for all lowerings, so GFLOP/s
compare directly. '*' marks the variant lowering='auto' resolves to; 'compile s' is
the first call (compilation + one run).

For Conv layers two more columns give the work each lowering really does
(:func:`ganjax.nn.conv.conv_flops`, times 3 for forward and both grads):
'work GF' in GFLOP per step and 'done GF/s' the achieved rate on it.
``shifted_matmul`` skips taps that only see padding and ``dense`` multiplies
no padding but every (input, output) pixel pair, so they can do less or more
than the nominal work. ``dense`` builds an (H*W*C, out_h*out_w*F) matrix per
call: it is skipped where that matrix exceeds --dense-max-mib.

Usage::

    python benchmarks/layers.py --batch 100
    python benchmarks/layers.py --batch 16 --only seed
    python benchmarks/layers.py --batch 100 --only seed.D --lowerings xla smm dense rows
    python benchmarks/layers.py --batch 100 --conv 4,4,256,512,5,1 --conv 7,7,128,256,5,2
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp

from ganjax.nn.conv import conv2d, conv_flops, conv_transpose2d, upsample_conv2d


@dataclasses.dataclass(frozen=True)
class Layer:
  """One layer shape: kind in {'conv', 'upsample_conv', 'conv_transpose'}."""

  name: str
  kind: str
  height: int
  width: int
  in_features: int
  features: int
  kernel_size: int
  strides: int = 1
  batch: int | None = None  # None: use --batch.

  def flops(self, batch: int) -> float:
    """Nominal forward FLOPs (multiply-adds * 2)."""
    per_pixel = 2 * self.kernel_size**2 * self.in_features * self.features
    if self.kind == "conv":
      out_pixels = (-(-self.height // self.strides)) * (-(-self.width // self.strides))
    elif self.kind == "upsample_conv":
      out_pixels = 4 * self.height * self.width
    else:  # conv_transpose: every input pixel meets every tap.
      out_pixels = self.height * self.width
    return float(batch * out_pixels * per_pixel)

  def work_flops(self, batch: int, lowering: str) -> float | None:
    """Forward FLOPs (multiply-adds * 2) a Conv lowering really does; None otherwise."""
    if self.kind != "conv" or lowering not in CONV_LOWERINGS:
      return None
    shape = (batch, self.height, self.width, self.in_features)
    macs = conv_flops(
      CONV_LOWERINGS[lowering], shape, self.kernel_size, self.strides, self.features, "SAME"
    )
    return 2.0 * macs

  def dense_matrix_mib(self) -> float:
    """Size of the dense lowering's float32 matrix W (its forward MACs per example)."""
    shape = (1, self.height, self.width, self.in_features)
    macs = conv_flops("dense", shape, self.kernel_size, self.strides, self.features, "SAME")
    return 4 * macs / 2**20


def parse_conv(spec: str) -> Layer:
  """A 'SAME' Conv layer from 'H,W,C,F,K,S' (input H x W x C, F outputs, k, stride)."""
  height, width, in_features, features, kernel_size, strides = (int(v) for v in spec.split(","))
  name = f"conv{height}x{width}k{kernel_size}s{strides}"
  return Layer(name, "conv", height, width, in_features, features, kernel_size, strides)


def model_layers() -> list[Layer]:
  """All layer shapes of the seed, DCGAN-paper and pix2pix-style models."""
  layers = [
    # 1. Seed (Keras DCGAN tutorial) discriminator, 28x28x1.
    Layer("seed.D1", "conv", 28, 28, 1, 64, 5, 2),
    Layer("seed.D2", "conv", 14, 14, 64, 128, 5, 2),
    Layer("seed.D3", "conv", 7, 7, 128, 256, 5, 2),
    Layer("seed.D4", "conv", 4, 4, 256, 512, 5, 1),
    # 2. Seed generator.
    Layer("seed.G1", "upsample_conv", 7, 7, 256, 128, 5),
    Layer("seed.G2", "upsample_conv", 14, 14, 128, 64, 5),
    Layer("seed.G3", "conv", 28, 28, 64, 32, 5, 1),
    Layer("seed.G4", "conv", 28, 28, 32, 1, 5, 1),
    # 3. DCGAN-paper-style at 28x28 (its D layers equal seed.D1/D2).
    Layer("dcgan.G1", "conv_transpose", 7, 7, 256, 128, 5, 2),
    Layer("dcgan.G2", "conv_transpose", 14, 14, 128, 64, 5, 2),
    Layer("dcgan.G2rgb", "conv_transpose", 14, 14, 128, 1, 5, 2),
  ]
  # 4. pix2pix-style U-Net at 64x64 (the 32x32 model is its lower part), batch 8.
  encoder = [
    (64, 3, 64),
    (32, 64, 128),
    (16, 128, 256),
    (8, 256, 512),
    (4, 512, 512),
    (2, 512, 512),
  ]
  for i, (size, cin, cout) in enumerate(encoder, 1):
    layers.append(Layer(f"p2p.E{i}", "conv", size, size, cin, cout, 4, 2, batch=8))
  # Decoder inputs after the first concatenate the matching encoder skip.
  decoder = [
    (1, 512, 512),
    (2, 1024, 512),
    (4, 1024, 512),
    (8, 768, 256),
    (16, 384, 128),
    (32, 192, 3),
  ]
  for i, (size, cin, cout) in enumerate(decoder, 1):
    layers.append(Layer(f"p2p.D{i}", "conv_transpose", size, size, cin, cout, 4, 2, batch=8))
  return layers


# Variant label -> keyword arguments of the functional API.
_PHASE_VARIANTS = {
  "xla": dict(lowering="xla"),
  "fused+xla": dict(lowering="phase", inner_lowering="xla", fuse_phases=True),
  "fused+smm": dict(lowering="phase", inner_lowering="shifted_matmul", fuse_phases=True),
  "split+xla": dict(lowering="phase", inner_lowering="xla", fuse_phases=False),
  "split+smm": dict(lowering="phase", inner_lowering="shifted_matmul", fuse_phases=False),
  "fused+dw": dict(lowering="phase", inner_lowering="xla_dw_matmul", fuse_phases=True),
  "split+dw": dict(lowering="phase", inner_lowering="xla_dw_matmul", fuse_phases=False),
}
# Conv variant label -> lowering name.
CONV_LOWERINGS = {"xla": "xla", "smm": "shifted_matmul", "dense": "dense", "rows": "row_regions",
                  "dw": "xla_dw_matmul"}
VARIANTS: dict[str, dict[str, dict]] = {
  "conv": {label: dict(lowering=lowering) for label, lowering in CONV_LOWERINGS.items()},
  "upsample_conv": _PHASE_VARIANTS,
  "conv_transpose": _PHASE_VARIANTS,
}


def layer_fn(layer: Layer, **kwargs) -> Callable[[jax.Array, jax.Array], jax.Array]:
  """Returns ``f(kernel, x) -> y`` for one layer; kwargs select lowering and dtype."""
  if layer.kind == "conv":
    return lambda w, x: conv2d(x, w, layer.strides, "SAME", **kwargs)
  if layer.kind == "upsample_conv":
    return lambda w, x: upsample_conv2d(x, w, **kwargs)
  return lambda w, x: conv_transpose2d(x, w, layer.strides, **kwargs)


def auto_label(layer: Layer, w: jax.Array, x: jax.Array, dtype: str) -> str:
  """The variant that lowering='auto' resolves to (found by comparing jaxprs)."""
  auto = str(jax.make_jaxpr(layer_fn(layer, lowering="auto", dtype=dtype))(w, x))
  for label, kwargs in VARIANTS[layer.kind].items():
    if str(jax.make_jaxpr(layer_fn(layer, **kwargs, dtype=dtype))(w, x)) == auto:
      return label
  return "?"


def time_interleaved(
  steps: dict[str, Callable], args: tuple, min_runs: int, max_runs: int, budget_s: float
) -> dict[str, tuple[float, float]]:
  """Times several functions round-robin; returns label -> (first call s, median s).

  Round-robin (one call of each per round) spreads load from other
  processes over all variants instead of penalising whichever ran during a
  burst; the median then discards the outliers.
  """
  first: dict[str, float] = {}
  for label, fn in steps.items():
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first[label] = time.perf_counter() - start
  times: dict[str, list[float]] = {label: [] for label in steps}
  spent = 0.0
  for round_ in range(max_runs):
    if round_ >= min_runs and spent >= budget_s:
      break
    for label, fn in steps.items():
      start = time.perf_counter()
      jax.block_until_ready(fn(*args))
      times[label].append(time.perf_counter() - start)
      spent += times[label][-1]
  return {label: (first[label], statistics.median(times[label])) for label in steps}


def benchmark(layer: Layer, batch: int, args: argparse.Namespace) -> list[str]:
  """Benchmarks all lowerings of one layer; prints and returns table rows."""
  batch = layer.batch or batch
  keys = jax.random.split(jax.random.PRNGKey(0), 3)
  x = jax.random.normal(keys[0], (batch, layer.height, layer.width, layer.in_features))
  fan_in = layer.kernel_size**2 * layer.in_features
  w = (
    jax.random.normal(
      keys[1], (layer.kernel_size, layer.kernel_size, layer.in_features, layer.features)
    )
    / fan_in**0.5
  )
  chosen = auto_label(layer, w, x, args.dtype)
  steps = {}
  for label, kwargs in VARIANTS[layer.kind].items():
    if args.lowerings and label not in args.lowerings:
      continue
    if kwargs.get("lowering") == "dense" and layer.dense_matrix_mib() > args.dense_max_mib:
      print(f"{layer.name:12s} dense skipped: W would be {layer.dense_matrix_mib():.0f} MiB")
      continue
    f = layer_fn(layer, **kwargs, dtype=args.dtype)
    ct = jax.random.normal(keys[2], jax.eval_shape(f, w, x).shape)
    # Params stay float32 and the input arrives in float32, as in a model.
    loss = lambda w, x, f=f, ct=ct: jnp.vdot(f(w, x).astype(jnp.float32), ct)  # noqa: E731
    steps[label] = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
  results = time_interleaved(steps, (w, x), args.min_runs, args.max_runs, args.budget)
  xla_s = results.get("xla", (None, None))[1]
  rows = []
  for label, (first_s, median_s) in results.items():
    speedup = f"{xla_s / median_s:6.1f}x" if xla_s else "     -"
    gflops = 3 * layer.flops(batch) / median_s / 1e9
    work = layer.work_flops(batch, label)
    if work is None:
      work_cols = f"{'-':>8s} {'-':>9s}"
    else:
      work_cols = f"{3 * work / 1e9:8.3g} {3 * work / median_s / 1e9:9.1f}"
    shape = f"{batch}x{layer.height}x{layer.width}x{layer.in_features}"
    mark = "*" if label == chosen else " "
    rows.append(
      f"{layer.name:12s} {layer.kind:14s} {shape:16s} "
      f"k{layer.kernel_size}s{layer.strides} F{layer.features:<4d} "
      f"{mark}{label:10s} {1e3 * median_s:10.2f} {gflops:8.1f} {work_cols} {speedup} "
      f"{first_s:8.2f}"
    )
    print(rows[-1], flush=True)
  return rows


def main() -> None:
  """Parses flags and prints the table."""
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument(
    "--batch", type=int, default=100, help="Batch size of the seed/DCGAN layers (pix2pix uses 8)."
  )
  parser.add_argument(
    "--dtype",
    default="float32",
    choices=["float32", "bfloat16"],
    help="Computation dtype (params stay float32).",
  )
  parser.add_argument("--only", default="", help="Substring filter on layer names.")
  parser.add_argument(
    "--lowerings",
    nargs="*",
    default=None,
    help="Subset of variant labels, e.g. xla smm dense fused+smm.",
  )
  parser.add_argument(
    "--conv",
    action="append",
    default=[],
    metavar="H,W,C,F,K,S",
    help="Time this 'SAME' Conv shape instead of the model layers (repeatable).",
  )
  parser.add_argument(
    "--dense-max-mib",
    type=float,
    default=1024.0,
    help="Skip the dense Conv lowering where its float32 matrix W exceeds this size.",
  )
  parser.add_argument(
    "--min-runs", type=int, default=5, help="Minimum timed rounds per layer (after compilation)."
  )
  parser.add_argument("--max-runs", type=int, default=15)
  parser.add_argument(
    "--budget",
    type=float,
    default=3.0,
    help="Stop adding rounds after this many timed seconds per layer.",
  )
  args = parser.parse_args()
  print(
    f"backend={jax.default_backend()} devices={jax.devices()} batch={args.batch} dtype={args.dtype}"
  )
  print(
    f"{'layer':12s} {'kind':14s} {'input NHWC':16s} {'k/s':4s} {'F':5s} "
    f"{' lowering':11s} {'fwd+bwd ms':>10s} {'GFLOP/s':>8s} {'work GF':>8s} "
    f"{'done GF/s':>9s} {'vs xla':>7s} {'compile s':>9s}"
  )
  layers = [parse_conv(spec) for spec in args.conv] or model_layers()
  for layer in layers:
    if args.only in layer.name:
      benchmark(layer, args.batch, args)


if __name__ == "__main__":
  main()
