"""Forward, input gradient and kernel gradient of one convolution, timed apart.

    python benchmarks/conv_parts.py --shape 100,28,28,64 --kernel 5 --features 32
    python benchmarks/conv_parts.py --shape 100,14,14,64 --kernel 5 --stride 2 \\
        --features 128 --lowerings xla,xla_dw_matmul

Prints one line per lowering: the median ms of each part (jitted, after one
untimed call). Shows which part of a slow layer is slow, e.g. XLA:CPU's kernel
gradient on large stride-1 maps.
"""

import argparse
import statistics
import time

import jax

from ganjax.nn.conv import conv2d


def _median_ms(fn, *args, runs: int) -> float:
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(runs):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return 1e3 * statistics.median(times)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--shape", default="100,28,28,64", help="input N,H,W,C")
  parser.add_argument("--kernel", type=int, default=5)
  parser.add_argument("--stride", type=int, default=1)
  parser.add_argument("--features", type=int, default=32)
  parser.add_argument("--lowerings", default="xla,shifted_matmul,xla_dw_matmul")
  parser.add_argument("--runs", type=int, default=5)
  args = parser.parse_args()
  keys = jax.random.split(jax.random.PRNGKey(0), 3)
  shape = tuple(int(v) for v in args.shape.split(","))
  x = jax.random.normal(keys[0], shape)
  kernel = 0.01 * jax.random.normal(keys[1], (args.kernel, args.kernel, shape[-1],
                                              args.features))
  out_shape = jax.eval_shape(lambda x, w: conv2d(x, w, args.stride), x, kernel).shape
  cotangent = jax.random.normal(keys[2], out_shape)
  print(f"input {shape} kernel {args.kernel}x{args.kernel} stride {args.stride} "
        f"F {args.features} -> {out_shape}")
  for lowering in args.lowerings.split(","):
    conv = lambda x, w, lowering=lowering: conv2d(x, w, args.stride, "SAME", lowering)  # noqa: E731
    forward = jax.jit(conv)
    input_grad = jax.jit(lambda x, w, conv=conv: jax.vjp(lambda x: conv(x, w), x)[1](cotangent))
    kernel_grad = jax.jit(lambda x, w, conv=conv: jax.vjp(lambda w: conv(x, w), w)[1](cotangent))
    parts = [_median_ms(f, x, kernel, runs=args.runs) for f in (forward, input_grad, kernel_grad)]
    print(f"{lowering:16s} forward {parts[0]:8.1f} ms  input grad {parts[1]:8.1f} ms  "
          f"kernel grad {parts[2]:8.1f} ms")


if __name__ == "__main__":
  main()
