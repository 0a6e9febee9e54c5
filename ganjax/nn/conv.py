"""Convolution layers with interchangeable, numerically equivalent lowerings.

All ganjax models build their convolutions from three flax.linen modules (NHWC):

* :class:`Conv`: drop-in for ``flax.linen.Conv`` (square kernel, 'SAME'/'VALID').
* :class:`UpsampleConv`: nearest-neighbour x2 upsampling, then a stride-1
  'SAME' convolution.
* :class:`ConvTranspose`: ``flax.linen.ConvTranspose(F, (k, k), (s, s),
  padding='SAME', transpose_kernel=False)``.

Their parameters ('kernel' (k, k, in, F), 'bias' (F,), flax's default inits)
never depend on the lowering, so a checkpoint trained with one lowering (say
on CPU) restores and gives the same outputs with another (say on GPU).

Lowerings
---------
``xla``
    ``lax.conv_general_dilated`` / ``lax.conv_transpose``, as flax does.
``shifted_matmul`` (Conv)
    Pad; take the kh*kw strided slices ``x_pad[:, i::s, j::s, :]``;
    concatenate them on the channel axis; do ONE matmul with the kernel
    reshaped to (kh*kw*C, F). The backward pass is two more GEMMs plus
    pads/slices. Taps whose window only ever sees padding are dropped.
    ``lax.conv_general_dilated_patches`` is deliberately NOT used: its forward
    pass is fast, but its gradient is a convolution again (20 s and OOM on
    larger inputs).
``dense`` (Conv; never chosen by 'auto' yet)
    ONE matmul ``x.reshape(N, H*W*C) @ W`` with the layer's dense matrix W
    of shape (H*W*C, out_h*out_w*F): ``kernel[i, j]`` wherever tap (i, j)
    links an input pixel to an output pixel, zeros elsewhere. W is gathered
    from the kernel with a static numpy index table (built once per shape),
    so gradients reach the kernel. W has rows only for real input pixels, so
    no multiply-add ever touches padding. But every (input pixel, output
    pixel) pair costs one, linked or not: H*W*out_h*out_w*C*F multiply-adds
    per example against out_h*out_w*(live taps)*C*F for ``shifted_matmul``
    (:func:`conv_flops`), a ratio of (H/live_h)*(W/live_w) (H and W count
    only the pixels some window reads). So dense does less work only on maps
    smaller than the kernel's live window. A 5x5 'SAME' conv on 4x4 needs 256
    instead of 400 per C*F (0.64x). A 5x5 stride-2 conv from 7x7 to 4x4 needs
    784 instead of 400 (1.96x: dense does NOT skip work there). W has
    H*W*out_h*out_w / (kh*kw) times the kernel's elements (10x for 4x4). It is
    rebuilt, and its gradient scatter-added into the kernel, on every call
    whatever the batch, so it is only meant for tiny maps.
``row_regions`` (Conv)
    ``shifted_matmul`` per kernel row, over only the output rows where that
    kernel row reads real pixels (kernel rows reaching the same output rows
    share a GEMM); the partial outputs are padded into place and summed. No
    multiply-add touches a padding ROW: a 5x5 'SAME' conv on 4x4 does 280
    instead of 400 per C*F, 5x5 stride 2 from 7x7 to 4x4 320 instead of 400.
``xla_dw_matmul`` (Conv)
    ``xla`` forward and input gradient, but the kernel gradient as GEMMs of
    the input against width-shifted copies of the cotangent (kh GEMMs at
    stride 1). XLA:CPU computes a kernel gradient as a convolution whose
    "kernel" is the output-sized cotangent, larger than its kh x kw output:
    the pathological case again.
``phase`` (UpsampleConv, ConvTranspose; "sub-pixel")
    Both layers are a stride-1 correlation on a grid f times finer than the
    input (f = 2 for upsampling, f = s for a transposed conv). Output pixel
    f*m + r (phase r) reads input pixel m + floor((r + t - p) / f) through
    tap t, where p is the fine grid's leading padding. Each of the f*f phases
    is therefore a small correlation on the INPUT grid. Their outputs are
    interleaved by depth-to-space. The 2-D phase kernels are outer products of
    the 1-D rules below (see :func:`phase_taps`).

    * Upsampling (p = (k-1)//2): a phase sums the taps that land on the same
      input pixel. For k=5: phase 0 = (w0+w1, w2+w3, w4) and phase 1 =
      (w0, w1+w2, w3+w4), both at offsets (-1, 0, +1). That gives four 3x3
      convs instead of one 5x5 conv at 4x the pixels, 36 instead of 100 MACs
      per input pixel (2.8x fewer). For k=4 (p=1): phase 0 = (w0, w1+w2, w3)
      at (-1, 0, 1) and phase 1 = (w0+w1, w2+w3) at (0, 1).
    * Transposed conv: XLA inserts s-1 zeros between input pixels, and p is
      lax's ceil((k+s-2)/2) (k-1 if s > k-1). Tap t only feeds the phases
      with (r + t - p) % s == 0, so a phase kernel is a strided slice of the
      kernel and no inserted zero is ever multiplied. For k=5, s=2 (p=3):
      phase 0 = taps (1, 3) at offsets (-1, 0), and phase 1 = taps (0, 2, 4)
      at (-1, 0, 1). That is 25 instead of 100 MACs per input pixel.

    The phases run either "split" (one conv per phase with exactly its taps)
    or "fused" (one conv over the union of all phases' offsets with f*f*F
    outputs; structural zero taps where a phase has none). Each phase conv
    is lowered by the Conv rule.

The rule (:func:`choose_lowering`), measured on a 2-core XLA:CPU machine
-------------------------------------------------------------------------
* Off CPU (GPU/TPU): always ``xla``. cuDNN and the TPU emitters handle all
  of these shapes well.
* Conv on CPU with F < 8: ``xla`` (2-10x faster: the GEMMs degenerate to
  matrix-vector products).
* Conv on CPU, kernel larger than the output (k > out_h or k > out_w): XLA:CPU
  is pathological whatever the batch (5.3-9x slower in a sweep of batch
  32-128, 128->128 channels, k3 on 2x2 ... k6 on 5x5 outputs; 5-55x on the
  model layers; k == out is fine). Use ``row_regions`` when some kernel row
  reads padding for part of the output rows and batch*out_h*out_w > 128
  (1.15-1.37x over ``shifted_matmul`` on seed D3/D4 at batch 16-200), else
  ``shifted_matmul`` (weight-bound GEMMs: row_regions is 0.94x at 32 rows).
* Conv on CPU, otherwise: ``shifted_matmul`` if batch*out_h*out_w <= 128
  (weight-bound: 1.2-1.5x faster), else ``xla_dw_matmul`` at stride 1
  (2.9-5.7x on seed G3, 1.5x on the seed G2 phase conv) and ``xla`` at
  stride 2, whose kernel gradient XLA handles well.
* ``dense`` is not part of the rule: it measured slower than the others.
* UpsampleConv / ConvTranspose on CPU: use ``phase`` (2.1-3.0x / 1.7-43x).
  Fused when the phases have no structural zero taps (odd-kernel upsampling)
  or F < 16 (F=1 or 3: fused is 2-5x faster than split), else split. Each
  phase conv follows the Conv rule.

The measurements behind the rule, layer by layer, are in
``benchmarks/README.md`` (``python benchmarks/layers.py --batch 100``).

Environment
-----------
``GANJAX_LOWERING=xla`` forces ``xla`` in every 'auto' decision, including
the phase convs of an explicit 'phase' lowering. Use it for debugging, or to
compare against plain XLA. ``GANJAX_LOWERING=auto`` (or unset) applies the
rule. An explicit ``lowering=`` argument is always honoured.

dtype
-----
As in flax, ``dtype`` is the computation dtype (the input and kernel are cast
to it; params stay ``param_dtype``). For bfloat16/float16 the GEMMs and convs
accumulate in float32 (``preferred_element_type``) and round once. Phase
kernels (sums of taps) are formed in the param dtype before the cast.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Sequence
from typing import Any, Final

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

Array = jax.Array
Dtype = Any
Initializer = Callable[..., Array]
# Explicit spatial padding: ((top, bottom), (left, right)).
Pairs = tuple[tuple[int, int], tuple[int, int]]

ENV_VAR: Final = "GANJAX_LOWERING"

#: Lowerings that can be requested explicitly for each layer kind ("auto" is
#: accepted everywhere as well and resolved by :func:`choose_lowering`).
LOWERINGS: Final[dict[str, tuple[str, ...]]] = {
  "conv": ("xla", "shifted_matmul", "dense", "row_regions", "xla_dw_matmul"),
  "upsample_conv": ("xla", "phase"),
  "conv_transpose": ("xla", "phase"),
}

_DIMENSION_NUMBERS: Final = ("NHWC", "HWIO", "NHWC")
_UPSAMPLE_FACTOR: Final = 2


# --------------------------------------------------------------------------- #
# The rule.
# --------------------------------------------------------------------------- #

# Below this many GEMM rows (batch * output pixels) a convolution is bound by
# its weight-sized work, where shifted_matmul's three plain GEMMs beat XLA:CPU's
# convolution emitter (1.2-1.5x at 128 rows, a tie or a loss from 256-512).
_MAX_WEIGHT_BOUND_ROWS: Final = 128
# With fewer output channels than this, the GEMMs degenerate into matrix-vector
# products and XLA wins even where it is otherwise pathological (2.4x at F=1,
# 7-10x for seed G4), while F=8 is already 1.5x faster as a GEMM.
_MIN_MATMUL_FEATURES: Final = 8
# Phase convolutions with fewer output channels than this are fused into one
# convolution with factor**2 times the channels (2-5x at F=1 and F=3; for
# F >= 64 split is as fast or faster).
_MIN_SPLIT_PHASE_FEATURES: Final = 16


def _check_lowering(kind: str, lowering: str) -> None:
  """Raises ValueError unless ``lowering`` is a valid explicit lowering for ``kind``."""
  if kind not in LOWERINGS:
    raise ValueError(f"Unknown layer kind {kind!r}; expected one of {sorted(LOWERINGS)}.")
  if lowering not in LOWERINGS[kind]:
    raise ValueError(
      f"Unknown lowering {lowering!r} for {kind!r}; expected 'auto' or one of {LOWERINGS[kind]}."
    )


def _forced_xla(backend: str | None) -> bool:
  """True if the env override or a non-CPU backend rules out CPU tricks."""
  override = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
  if override not in ("auto", "xla"):
    raise ValueError(f"{ENV_VAR} must be 'auto' or 'xla', got {override!r}.")
  backend = jax.default_backend() if backend is None else backend
  # cuDNN / the TPU convolution emitters are fast for all these shapes.
  return override == "xla" or backend != "cpu"


def _output_size(size: int, kernel: int, stride: int, pads: str | tuple[int, int]) -> int:
  """Output length of a 1-D correlation with 'SAME', 'VALID' or (lo, hi) padding."""
  if isinstance(pads, str):
    if pads.upper() == "SAME":
      return -(-size // stride)
    return max(0, -(-(size - kernel + 1) // stride))
  return (size + pads[0] + pads[1] - kernel) // stride + 1


def choose_lowering(
  kind: str,
  input_shape: Sequence[int],
  kernel_size: int | Sequence[int],
  strides: int | Sequence[int],
  features: int,
  backend: str | None = None,
  *,
  padding: str | Sequence[tuple[int, int]] = "SAME",
) -> str:
  """Picks the fastest lowering for one layer (rule and numbers: module docstring).

  Args:
    kind: 'conv', 'upsample_conv' or 'conv_transpose'.
    input_shape: (..., H, W, C) input shape; leading dims are the batch.
    kernel_size: k or (kh, kw).
    strides: Convolution stride (ignored for 'upsample_conv').
    features: Output channels F.
    backend: 'cpu', 'gpu', 'tpu'; defaults to ``jax.default_backend()``.
    padding: Padding of a 'conv' ('SAME', 'VALID' or explicit pairs).

  Returns:
    A lowering name from ``LOWERINGS[kind]``. Always 'xla' off CPU or when
    the environment variable ``GANJAX_LOWERING=xla`` is set.
  """
  if kind not in LOWERINGS:
    raise ValueError(f"Unknown layer kind {kind!r}; expected one of {sorted(LOWERINGS)}.")
  if _forced_xla(backend):
    return "xla"
  if kind != "conv":
    # Phases never multiply inserted zeros or repeated pixels: 1.7-43x.
    return "phase"
  return _cpu_conv_rule(input_shape, _pair(kernel_size), _pair(strides), features, padding)


def _cpu_conv_rule(
  input_shape: Sequence[int],
  kernel_size: tuple[int, int],
  strides: tuple[int, int],
  features: int,
  padding: str | Sequence[tuple[int, int]],
) -> str:
  """The Conv rule on XLA:CPU (see the module docstring for the numbers)."""
  if features < _MIN_MATMUL_FEATURES:
    return "xla"
  *batch_dims, height, width, _ = input_shape
  pads_h, pads_w = resolve_padding((height, width), kernel_size, strides, padding)
  out_h = _output_size(height, kernel_size[0], strides[0], pads_h)
  out_w = _output_size(width, kernel_size[1], strides[1], pads_w)
  rows = int(np.prod(batch_dims, dtype=np.int64)) * out_h * out_w
  # XLA:CPU is pathological (5-55x slower) when the window is larger than the
  # output, e.g. 5x5 on 4x4 outputs, whatever the batch; k == out is fine.
  if kernel_size[0] > out_h or kernel_size[1] > out_w:
    # Skipping the kernel rows' padding pays unless the GEMMs are weight-bound
    # (1.15-1.37x on seed D3/D4 at batch 16-200; 0.94x at 32 rows).
    if rows > _MAX_WEIGHT_BOUND_ROWS and _skips_kernel_rows(height, kernel_size[0], strides[0],
                                                            pads_h[0], out_h):
      return "row_regions"
    return "shifted_matmul"
  if rows <= _MAX_WEIGHT_BOUND_ROWS:
    return "shifted_matmul"
  # XLA's forward and input gradient are fast here, its kernel gradient is not
  # (2.9-5.7x on seed G3 forward + backward); stride 2 kernel gradients are fine.
  return "xla_dw_matmul" if strides == (1, 1) else "xla"


def _skips_kernel_rows(size: int, taps: int, stride: int, pad_before: int, out: int) -> bool:
  """Whether some output row sees padding through a live kernel row (row_regions saves work)."""
  spans = [_tap_outputs(size, i, stride, pad_before, out) for i in range(taps)]
  return any(0 < stop - first < out for first, stop in spans)


def _fuse_phases(features: int, phases_h: Sequence["_Phase1D"],
                 phases_w: Sequence["_Phase1D"], union: tuple[int, int],
                 backend: str | None = None) -> bool:
  """Whether to run all phases as one convolution instead of one per phase.

  Fused costs what split costs plus the structural zero taps where a phase has
  no tap at an offset of the union (a 5x5 stride-2 transposed conv has 25 live
  taps of the fused 36, 4x4 has 16 of 36), and is one wide GEMM instead of
  f*f thin ones. So fuse when there are no zero taps (odd-kernel upsampling:
  every phase is 3x3 on the same offsets; 1.04-1.26x over split on seed G1/G2)
  or when F is small (thin phase GEMMs: 2-5x at F=1 and 3). Off CPU: one conv.
  """
  no_zero_taps = all(p.start == 0 and len(p.taps) == size
                     for phases, size in ((phases_h, union[0]), (phases_w, union[1]))
                     for p in phases)
  return (_forced_xla(backend) or features < _MIN_SPLIT_PHASE_FEATURES
          or no_zero_taps)


# --------------------------------------------------------------------------- #
# Small helpers.
# --------------------------------------------------------------------------- #


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
  """Returns ``(value, value)`` for an int, else the 2-tuple itself."""
  if isinstance(value, int):
    return (value, value)
  first, second = value
  return (int(first), int(second))


def _accumulation_dtype(dtype: Dtype) -> Dtype | None:
  """Returns float32 for sub-32-bit float dtypes, else None (= the input dtype).

  bfloat16 has an 8-bit mantissa: summing k*k*C products in it would lose
  most of the signal, so matmuls/convs accumulate in float32 and the result
  is rounded once at the end.
  """
  if jnp.issubdtype(dtype, jnp.floating) and jnp.finfo(dtype).bits < 32:
    return jnp.float32
  return None


def _compute_dtype(x: Array, kernel: Array, dtype: Dtype | None) -> Dtype:
  """Flax semantics: explicit ``dtype`` wins, else promote input and kernel."""
  return jnp.result_type(x, kernel) if dtype is None else jnp.dtype(dtype)


def _flatten_batch(x: Array) -> tuple[Array, tuple[int, ...]]:
  """Flattens the leading batch dims (zero or more) of (*batch, H, W, C) into one."""
  if x.ndim < 3:
    raise ValueError(f"Expected (*batch, H, W, C) input, got shape {x.shape}.")
  batch_shape = x.shape[:-3]
  return x.reshape((-1,) + x.shape[-3:]), batch_shape


def resolve_padding(
  spatial_shape: Sequence[int],
  kernel_shape: Sequence[int],
  strides: tuple[int, int],
  padding: str | Sequence[tuple[int, int]],
) -> Pairs:
  """Returns explicit ``((top, bottom), (left, right))`` padding.

  Uses ``lax.padtype_to_pads`` so 'SAME' matches XLA/TF/flax exactly,
  including the asymmetric (extra row at the bottom/right) case.
  """
  if isinstance(padding, str):
    pads = lax.padtype_to_pads(tuple(spatial_shape), tuple(kernel_shape), strides, padding.upper())
  else:
    pads = padding
  (top, bottom), (left, right) = pads
  return ((int(top), int(bottom)), (int(left), int(right)))


def depth_to_space(x: Array, factor: int) -> Array:
  """(N, H, W, f*f*C) -> (N, f*H, f*W, C); channel blocks ordered (row, col, C).

  Block ``(p, q)`` of the channel axis becomes output pixel
  ``(f*i + p, f*j + q)``.
  """
  n, h, w, c = x.shape
  out_channels = c // (factor * factor)
  x = x.reshape(n, h, w, factor, factor, out_channels)
  x = x.transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(n, h * factor, w * factor, out_channels)


# --------------------------------------------------------------------------- #
# Plain convolution lowerings (functional).
# --------------------------------------------------------------------------- #


def conv2d_xla(x: Array, kernel: Array, strides: tuple[int, int], pads: Pairs) -> Array:
  """Cross-correlation via ``lax.conv_general_dilated`` (what flax uses)."""
  return lax.conv_general_dilated(
    x,
    kernel,
    window_strides=strides,
    padding=pads,
    dimension_numbers=_DIMENSION_NUMBERS,
    preferred_element_type=_accumulation_dtype(x.dtype),
  )


def _kernel_grad_by_row_matmuls(x: Array, cotangent: Array, kernel_size: tuple[int, int],
                                strides: tuple[int, int], pads: Pairs) -> Array:
  """A correlation's kernel gradient as kh*min(sw, kw) GEMMs (see conv2d_xla_dw_matmul).

  ``dw[i, j] = sum over (n, y, x) of x_pad[n, y*sh + i, x*sw + j]^T dy[n, y, x]``.
  Shifting the cotangent instead of the input along the width turns the
  column taps j = r, r + sw, r + 2*sw, ... of kernel row i into ONE GEMM: the
  input's rows i, i + sh, ... and columns r, r + sw, ... flattened to
  (pixels, C), against the cotangent shifted by 0, 1, 2, ... columns and
  concatenated on the channel axis, (pixels, taps*F).
  """
  kh, kw = kernel_size
  sh, sw = strides
  n, out_h, out_w, features = cotangent.shape
  zero = jnp.zeros((), x.dtype)
  x = lax.pad(x, zero, ((0, 0, 0), *((before, after, 0) for before, after in pads), (0, 0, 0)))
  c = x.shape[-1]
  cotangent = cotangent.astype(x.dtype)
  accumulation = _accumulation_dtype(x.dtype) or x.dtype
  grad = jnp.zeros((kh, kw, c, features), accumulation)
  for r in range(min(sw, kw)):
    taps = len(range(r, kw, sw))
    width = out_w + taps - 1
    columns = lax.slice_in_dim(x, r, r + (width - 1) * sw + 1, sw, axis=2)
    shifted = jnp.concatenate(
      [lax.pad(cotangent, zero, ((0, 0, 0), (0, 0, 0), (q, taps - 1 - q, 0), (0, 0, 0)))
       for q in range(taps)], axis=-1).reshape(-1, taps * features)
    for i in range(kh):
      rows = lax.slice_in_dim(columns, i, i + (out_h - 1) * sh + 1, sh, axis=1)
      part = lax.dot_general(rows.reshape(-1, c), shifted,
                             dimension_numbers=(((0,), (0,)), ((), ())),
                             preferred_element_type=accumulation)
      grad = grad.at[i, r::sw].set(part.reshape(c, taps, features).transpose(1, 0, 2))
  return grad


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv2d_xla_dw_matmul(x: Array, kernel: Array, strides: tuple[int, int], pads: Pairs) -> Array:
  """``xla`` forward and input gradient; the kernel gradient by GEMMs.

  XLA:CPU computes a convolution's kernel gradient as a convolution whose
  "kernel" is the output-sized cotangent, far larger than its kh x kw
  output: its pathological case. On large stride-1 maps its forward pass and
  input gradient are fast, so only the kernel gradient is replaced
  (:func:`_kernel_grad_by_row_matmuls`).
  """
  return conv2d_xla(x, kernel, strides, pads)


def _xla_dw_matmul_forward(x, kernel, strides, pads):
  return conv2d_xla_dw_matmul(x, kernel, strides, pads), (x, kernel)


def _xla_dw_matmul_backward(strides, pads, residuals, cotangent):
  x, kernel = residuals
  _, input_grad = jax.vjp(lambda x: conv2d_xla(x, kernel, strides, pads), x)
  kernel_grad = _kernel_grad_by_row_matmuls(x, cotangent, kernel.shape[:2], strides, pads)
  return input_grad(cotangent)[0], kernel_grad.astype(kernel.dtype)


conv2d_xla_dw_matmul.defvjp(_xla_dw_matmul_forward, _xla_dw_matmul_backward)


def _conv_output_shape(size: tuple[int, int], kernel: tuple[int, int],
                       strides: tuple[int, int], pads: Pairs) -> tuple[int, int]:
  """(out_h, out_w) of a correlation with explicit ``pads``.

  Raises:
    ValueError: the kernel is larger than the padded input.
  """
  out = tuple((n + before + after - k) // s + 1
              for n, k, s, (before, after) in zip(size, kernel, strides, pads))
  if min(out) <= 0:
    raise ValueError(f"Kernel {kernel[0]}x{kernel[1]} larger than padded input of {size}.")
  return out


def _live_taps(size: int, taps: int, stride: int, pad_before: int, out: int) -> np.ndarray:
  """1-D kernel taps whose strided window meets at least one real input pixel.

  The other taps only ever multiply padding zeros (common for tiny inputs:
  a 3x3 'SAME' kernel on a 1x1 input has one live tap), so dropping them
  saves their FLOPs and patch memory without changing the result.
  """
  positions = np.arange(out) * stride
  live = [
    i
    for i in range(taps)
    if np.any((i + positions >= pad_before) & (i + positions < pad_before + size))
  ]
  return np.asarray(live, dtype=np.int32)


def conv2d_shifted_matmul(x: Array, kernel: Array, strides: tuple[int, int], pads: Pairs) -> Array:
  """Cross-correlation as ONE matmul over kh*kw shifted slices ("im2col by slicing").

  Each tap (i, j) of the kernel sees the strided slice
  ``x_padded[:, i::sh, j::sw, :]`` of the padded input; concatenating the
  slices on the channel axis gives patches whose channel order (i, j, c)
  matches ``kernel.reshape(kh*kw*C, F)``. Forward and backward are then
  three large GEMMs plus slices/pads that XLA fuses, which is far faster on
  XLA:CPU than its convolution emitter for tiny spatial inputs.
  (``lax.conv_general_dilated_patches`` builds the same patches but its
  gradient is itself a convolution, which is as slow as the original.)
  Taps that only see padding are skipped (see :func:`_live_taps`).
  """
  n, h, w, c = x.shape
  kh, kw, _, features = kernel.shape
  sh, sw = strides
  (top, bottom), (left, right) = pads
  out_h, out_w = _conv_output_shape((h, w), (kh, kw), strides, pads)
  rows = _live_taps(h, kh, sh, top, out_h)
  cols = _live_taps(w, kw, sw, left, out_w)
  accumulation = _accumulation_dtype(x.dtype)
  if rows.size == 0 or cols.size == 0:  # Every window is pure padding.
    return jnp.zeros((n, out_h, out_w, features), accumulation or x.dtype)
  if rows.size < kh or cols.size < kw:
    kernel = kernel[rows[:, None], cols[None, :]]
  # lax.pad (unlike jnp.pad) also accepts negative padding = cropping.
  x = lax.pad(
    x,
    jnp.zeros((), x.dtype),
    ((0, 0, 0), (top, bottom, 0), (left, right, 0), (0, 0, 0)),
  )
  taps = [
    lax.slice(
      x,
      (0, int(i), int(j), 0),
      (n, int(i) + (out_h - 1) * sh + 1, int(j) + (out_w - 1) * sw + 1, c),
      (1, sh, sw, 1),
    )
    for i in rows
    for j in cols
  ]
  patches = taps[0] if len(taps) == 1 else jnp.concatenate(taps, axis=-1)
  return lax.dot_general(
    patches,
    kernel.reshape(len(taps) * c, features),
    dimension_numbers=(((3,), (0,)), ((), ())),
    preferred_element_type=accumulation,
  )


def _read_range(size: int, taps: int, stride: int, pad_before: int, out: int) -> tuple[int, int]:
  """``[first, stop)`` of the input pixels that at least one output window reads (1-D).

  Pixels outside it (e.g. the leftover rows of a 'VALID' stride-2 conv) never
  meet a tap, so the dense lowering drops them from its matrix.
  """
  first = max(0, -pad_before)
  stop = min(size, (out - 1) * stride + taps - pad_before)
  return first, max(first, stop)


@functools.lru_cache(maxsize=64)
def _dense_tap_table(
  size_h: int, size_w: int, kernel_size: tuple[int, int], strides: tuple[int, int], pads: Pairs
) -> np.ndarray:
  """Static index table of the dense lowering, built once per shape.

  Entry ``[(r, c), (oh, ow)]`` is the flat kernel tap ``i * kw + j`` with
  ``(i, j) = (r + top - oh * sh, c + left - ow * sw)``, the only tap through
  which input pixel (r, c) reaches output pixel (oh, ow), or ``kh * kw``
  (an appended zero tap) when that (i, j) lies outside the kernel. (r, c) run
  over the read ranges of :func:`_read_range` only.

  Returns:
    Read-only int32 array of shape (rows * cols, out_h * out_w).
  """
  (kh, kw), (sh, sw) = kernel_size, strides
  (top, bottom), (left, right) = pads
  out_h = (size_h + top + bottom - kh) // sh + 1
  out_w = (size_w + left + right - kw) // sw + 1
  rows = np.arange(*_read_range(size_h, kh, sh, top, out_h))
  cols = np.arange(*_read_range(size_w, kw, sw, left, out_w))
  tap_h = rows[:, None] + top - sh * np.arange(out_h)[None, :]  # (rows, out_h)
  tap_w = cols[:, None] + left - sw * np.arange(out_w)[None, :]  # (cols, out_w)
  valid = ((tap_h >= 0) & (tap_h < kh))[:, None, :, None] & (
    (tap_w >= 0) & (tap_w < kw)
  )[None, :, None, :]
  flat = tap_h[:, None, :, None] * kw + tap_w[None, :, None, :]
  table = np.where(valid, flat, kh * kw).astype(np.int32)
  table = table.reshape(len(rows) * len(cols), out_h * out_w)
  table.flags.writeable = False
  return table


def conv2d_dense(x: Array, kernel: Array, strides: tuple[int, int], pads: Pairs) -> Array:
  """Cross-correlation as ONE matmul with the layer's dense (Toeplitz) matrix.

  A convolution is linear in x: ``y.reshape(N, -1) = x.reshape(N, -1) @ W``
  with W of shape (H*W*C, out_h*out_w*F) holding ``kernel[i, j]`` where tap
  (i, j) links input pixel (r, c) to output pixel (oh, ow) and zeros
  elsewhere. W is gathered from the kernel with the static table of
  :func:`_dense_tap_table` (plus one appended zero tap), so the gradient
  flows to the kernel as a scatter-add of dW = x^T @ dy. Only real input
  pixels have rows, so no multiply-add ever touches padding, but unlinked
  (input, output) pairs cost one each: H*W*C*out_h*out_w*F multiply-adds per
  example against out_h*out_w*(live taps)*C*F for ``shifted_matmul``, fewer
  only when the map is smaller than the kernel's live window (see
  :func:`conv_flops`). W itself has (H*W*out_h*out_w)/(kh*kw) times the
  kernel's elements and is rebuilt (and its gradient reduced) on every call,
  whatever the batch: meant for tiny maps.
  """
  n, h, w, c = x.shape
  kh, kw, _, features = kernel.shape
  sh, sw = strides
  (top, bottom), (left, right) = pads
  out_h, out_w = _conv_output_shape((h, w), (kh, kw), strides, pads)
  (r0, r1) = _read_range(h, kh, sh, top, out_h)
  (c0, c1) = _read_range(w, kw, sw, left, out_w)
  accumulation = _accumulation_dtype(x.dtype)
  if r1 == r0 or c1 == c0:  # Every window is pure padding.
    return jnp.zeros((n, out_h, out_w, features), accumulation or x.dtype)
  table = _dense_tap_table(h, w, (kh, kw), (sh, sw), pads)
  if (r0, r1, c0, c1) != (0, h, 0, w):
    x = lax.slice(x, (0, r0, c0, 0), (n, r1, c1, c))
  # (C, kh*kw + 1, F) with a zero last tap; gathering along the tap axis gives
  # W as (C, rows*cols, out_h*out_w, F): rows of W in (C, r, c) order, so only
  # the small input is transposed, never W.
  taps = kernel.reshape(kh * kw, c, features)
  taps = jnp.concatenate([taps, jnp.zeros((1, c, features), taps.dtype)]).transpose(1, 0, 2)
  dense = jnp.take(taps, table.reshape(-1), axis=1, mode="clip")
  dense = dense.reshape(c * table.shape[0], table.shape[1] * features)
  patches = x.transpose(0, 3, 1, 2).reshape(n, c * table.shape[0])
  y = lax.dot_general(
    patches, dense, dimension_numbers=(((1,), (0,)), ((), ())), preferred_element_type=accumulation
  )
  return y.reshape(n, out_h, out_w, features)


def _tap_outputs(size: int, tap: int, stride: int, pad_before: int, out: int) -> tuple[int, int]:
  """``[first, stop)`` of the outputs whose window puts ``tap`` on a real pixel (1-D).

  Output o reads input ``o * stride + tap - pad_before`` through the tap; the
  outputs where that index lies in ``[0, size)`` form one contiguous range.
  """
  first = max(0, -(-(pad_before - tap) // stride))
  stop = min(out, (size - 1 + pad_before - tap) // stride + 1)
  return first, max(first, stop)


def conv2d_row_regions(x: Array, kernel: Array, strides: tuple[int, int], pads: Pairs) -> Array:
  """Cross-correlation as one shifted matmul per kernel row, over only the output rows
  that kernel row reads real pixels for.

  Kernel row i reaches a contiguous range of output rows (:func:`_tap_outputs`)
  through a strided slice of the UNPADDED input rows; along the width it works
  as ``shifted_matmul`` (padded columns, live column taps concatenated on the
  channel axis). Kernel rows that reach the same output rows share one GEMM.
  The products are padded into place and summed, so no multiply-add touches
  a padding row. Work is N*C*F*out_w*(live column taps)*(sum of the row
  ranges): for a 5x5 'SAME' conv on 4x4 that is 280 per C*F instead of
  shifted_matmul's 400; for 5x5 stride 2 from 7x7 to 4x4, 320 instead of 400.
  The kernel is only sliced by rows (no copy, unlike ``dense``'s gather), and
  each GEMM contracts over (kernel rows)*(column taps)*C. Per-tap GEMMs, which
  would also skip padding columns (196 and 256), measured no faster: they
  contract over C only.
  """
  n, h, w, c = x.shape
  kh, kw, _, features = kernel.shape
  sh, sw = strides
  (top, bottom), (left, right) = pads
  out_h, out_w = _conv_output_shape((h, w), (kh, kw), strides, pads)
  cols = _live_taps(w, kw, sw, left, out_w)
  accumulation = _accumulation_dtype(x.dtype)
  groups: dict[tuple[int, int], list[int]] = {}
  for i in range(kh):
    first, stop = _tap_outputs(h, i, sh, top, out_h)
    if stop > first:
      groups.setdefault((first, stop), []).append(i)
  if not groups or cols.size == 0:  # Every window is pure padding.
    return jnp.zeros((n, out_h, out_w, features), accumulation or x.dtype)
  if cols.size < kw:
    kernel = kernel[:, cols]
  x = lax.pad(x, jnp.zeros((), x.dtype), ((0, 0, 0), (0, 0, 0), (left, right, 0), (0, 0, 0)))
  parts = []
  for (first, stop), kernel_rows in groups.items():
    taps = []
    for i in kernel_rows:  # Consecutive: the ranges move monotonically with i.
      row = first * sh + i - top
      rows = lax.slice(x, (0, row, 0, 0), (n, row + (stop - first - 1) * sh + 1, x.shape[2], c),
                       (1, sh, 1, 1))
      taps += [lax.slice(rows, (0, 0, int(j), 0),
                         (n, rows.shape[1], int(j) + (out_w - 1) * sw + 1, c), (1, 1, sw, 1))
               for j in cols]
    patches = taps[0] if len(taps) == 1 else jnp.concatenate(taps, axis=-1)
    group_kernel = kernel[kernel_rows[0]:kernel_rows[-1] + 1]
    part = lax.dot_general(
      patches,
      group_kernel.reshape(len(taps) * c, features),
      dimension_numbers=(((3,), (0,)), ((), ())),
      preferred_element_type=accumulation,
    )
    parts.append(lax.pad(part, jnp.zeros((), part.dtype),
                         ((0, 0, 0), (first, out_h - stop, 0), (0, 0, 0), (0, 0, 0))))
  return functools.reduce(jnp.add, parts)


_CONV_IMPLS: Final[dict[str, Callable[[Array, Array, tuple[int, int], Pairs], Array]]] = {
  "xla": conv2d_xla,
  "shifted_matmul": conv2d_shifted_matmul,
  "dense": conv2d_dense,
  "row_regions": conv2d_row_regions,
  "xla_dw_matmul": conv2d_xla_dw_matmul,
}


def conv_flops(
  lowering: str,
  input_shape: Sequence[int],
  kernel_size: int | Sequence[int],
  strides: int | Sequence[int],
  features: int,
  padding: str | Sequence[tuple[int, int]] = "SAME",
) -> int:
  """Multiply-adds of one forward Conv with ``lowering`` (the work it does, not the nominal).

  * ``xla`` and ``xla_dw_matmul``: every output pixel through every tap,
    padding included, N*out_h*out_w*kh*kw*C*F (nominal; XLA's emitters are
    not known to skip padding, and the kernel gradient's GEMMs multiply the
    padded input).
  * ``shifted_matmul``: only live taps (:func:`_live_taps`),
    N*out_h*out_w*live_h*live_w*C*F.
  * ``dense``: only real input pixels that some window reads
    (:func:`_read_range`), N*rows*cols*C*out_h*out_w*F.
  * ``row_regions``: every kernel row over only the output rows it reads
    real pixels for (:func:`_tap_outputs`), live column taps as in
    ``shifted_matmul``: N*(sum of the row ranges)*out_w*live_w*C*F.

  The backward pass of each does twice the forward's multiply-adds (input
  and kernel gradients are GEMMs/convolutions of the same size; dense adds a
  scatter-add of W's gradient, additions only).

  Args:
    lowering: a name in ``LOWERINGS['conv']`` or 'auto' (resolved by
      :func:`choose_lowering` for the default backend).
    input_shape: (*batch, H, W, C).
    kernel_size: k or (kh, kw).
    strides: s or (sh, sw).
    features: Output channels F.
    padding: 'SAME', 'VALID' or explicit ((top, bottom), (left, right)).
  """
  *batch_dims, h, w, c = input_shape
  (kh, kw), (sh, sw) = _pair(kernel_size), _pair(strides)
  pads = resolve_padding((h, w), (kh, kw), (sh, sw), padding)
  if lowering == "auto":
    lowering = choose_lowering("conv", input_shape, (kh, kw), (sh, sw), features, padding=pads)
  _check_lowering("conv", lowering)
  (top, bottom), (left, right) = pads
  out_h = max(0, (h + top + bottom - kh) // sh + 1)
  out_w = max(0, (w + left + right - kw) // sw + 1)
  batch = int(np.prod(batch_dims, dtype=np.int64))
  if lowering in ("xla", "xla_dw_matmul"):
    per_example = out_h * out_w * kh * kw * c * features
  elif lowering == "shifted_matmul":
    live = len(_live_taps(h, kh, sh, top, out_h)) * len(_live_taps(w, kw, sw, left, out_w))
    per_example = out_h * out_w * live * c * features
  elif lowering == "row_regions":
    rows = sum(stop - first for first, stop in
               (_tap_outputs(h, i, sh, top, out_h) for i in range(kh)))
    per_example = rows * out_w * len(_live_taps(w, kw, sw, left, out_w)) * c * features
  else:
    r0, r1 = _read_range(h, kh, sh, top, out_h) if out_h else (0, 0)
    c0, c1 = _read_range(w, kw, sw, left, out_w) if out_w else (0, 0)
    per_example = (r1 - r0) * (c1 - c0) * c * out_h * out_w * features
  return batch * per_example


def conv2d(
  x: Array,
  kernel: Array,
  strides: int | Sequence[int] = 1,
  padding: str | Sequence[tuple[int, int]] = "SAME",
  lowering: str = "auto",
  dtype: Dtype | None = None,
) -> Array:
  """2-D cross-correlation (NHWC input, HWIO kernel), like ``flax.linen.Conv``.

  Args:
    x: Input of shape (N, H, W, C).
    kernel: Kernel of shape (kh, kw, C, F).
    strides: Int or (sh, sw).
    padding: 'SAME', 'VALID' or explicit ((top, bottom), (left, right)).
    lowering: 'auto' or a name in ``LOWERINGS['conv']``.
    dtype: Computation dtype; None promotes ``x`` and ``kernel``.

  Returns:
    (N, H', W', F) array in the computation dtype.
  """
  strides = _pair(strides)
  compute_dtype = _compute_dtype(x, kernel, dtype)
  x, kernel = x.astype(compute_dtype), kernel.astype(compute_dtype)
  pads = resolve_padding(x.shape[1:3], kernel.shape[:2], strides, padding)
  if lowering == "auto":
    lowering = choose_lowering(
      "conv", x.shape, kernel.shape[:2], strides, kernel.shape[-1], padding=pads
    )
  _check_lowering("conv", lowering)
  y = _CONV_IMPLS[lowering](x, kernel, strides, pads)
  return y.astype(compute_dtype)


# --------------------------------------------------------------------------- #
# Phase ("sub-pixel") lowering shared by UpsampleConv and ConvTranspose.
# --------------------------------------------------------------------------- #


def phase_taps(
  kernel_size: int, factor: int, pad_before: int, zero_insert: bool
) -> tuple[np.ndarray, tuple[int, int]]:
  """Maps kernel taps to low-resolution offsets for each output phase (1-D).

  Both layers convolve (stride 1, taps t = 0..k-1, ``pad_before`` zeros in
  front) a signal ``z`` living on a grid ``factor`` times finer than the
  input ``x``:

    out[factor*m + r] = sum_t z[factor*m + r + t - pad_before] * w[t]

  * nearest upsampling (``zero_insert=False``): ``z[j] = x[floor(j/f)]``;
  * transposed conv (``zero_insert=True``): ``z[j] = x[j/f]`` if f divides j
    else 0 (the zeros XLA inserts with ``lhs_dilation``).

  Writing ``j - factor*m = r + t - pad_before``, output phase r reads
  ``x[m + d]`` with ``d = floor((r + t - pad_before) / f)``, i.e. each phase
  is a small stride-1 correlation on ``x`` whose taps are sums of the
  original taps sharing the same ``d``. For k=5, f=2, 'SAME' upsampling
  (pad_before=2): phase 0 gets d = (-1, -1, 0, 0, 1) for t = 0..4, i.e. low-
  res taps (w0+w1, w2+w3, w4), and phase 1 gets d = (-1, 0, 0, 1, 1), i.e.
  (w0, w1+w2, w3+w4): both are 3-tap kernels at offsets -1..1.
  Zero padding is consistent on both grids because ``floor(j/f)`` (or
  ``j/f``) is outside [0, H) exactly when j is outside [0, f*H).

  Args:
    kernel_size: k, number of taps of the original kernel.
    factor: Upsampling factor / transposed-conv stride f.
    pad_before: Padding in front of ``z`` (on the fine grid).
    zero_insert: True for transposed convolution, False for upsampling.

  Returns:
    ``(taps, pads)``: ``taps[r, a, t]`` is 1 iff original tap t contributes
    to low-res offset ``a + d_min`` of phase r (shape (f, d_max-d_min+1, k));
    ``pads = (-d_min, d_max)`` is the padding of the low-res correlation,
    which then has exactly one output per input pixel. All phases share the
    union of offsets (zero taps where a phase has none) so that all of them
    run as one convolution with f*f*F output channels.
  """
  offsets: dict[tuple[int, int], int] = {}
  for r in range(factor):
    for t in range(kernel_size):
      fine_offset = r + t - pad_before
      if zero_insert and fine_offset % factor:
        continue  # This tap only ever sees inserted zeros for phase r.
      offsets[(r, t)] = fine_offset // factor  # Python // is floor.
  d_min, d_max = min(offsets.values()), max(offsets.values())
  taps = np.zeros((factor, d_max - d_min + 1, kernel_size), np.float32)
  for (r, t), d in offsets.items():
    taps[r, d - d_min, t] = 1.0
  return taps, (-d_min, d_max)


@dataclasses.dataclass(frozen=True)
class _Phase1D:
  """One output phase along one axis, trimmed to the offsets it really uses.

  Attributes:
    taps: (offsets, k) 0/1 matrix: row a sums original taps into offset a.
    pads: Low-res padding of this phase's correlation (may be negative).
    start: Index of the first used offset inside the union of all phases.
  """

  taps: np.ndarray
  pads: tuple[int, int]
  start: int


def _split_phases(taps: np.ndarray, pads: tuple[int, int]) -> list[_Phase1D]:
  """Trims each phase of a (factor, offsets, k) tap tensor to its used offsets.

  A phase with no taps at all (it only reads inserted zeros) gets an empty
  matrix.
  """
  phases = []
  before, _ = pads
  for phase_taps_ in taps:  # Trailing _: phase_taps is the module function.
    used = np.flatnonzero(phase_taps_.any(axis=1))
    if used.size == 0:
      phases.append(_Phase1D(phase_taps_[:0], pads, 0))
      continue
    first, last = int(used[0]), int(used[-1])
    # Row a of the union sits at low-res offset a - before.
    trimmed_pads = (before - first, last - before)
    phases.append(_Phase1D(phase_taps_[first : last + 1], trimmed_pads, first))
  return phases


def _strided_selection(taps: np.ndarray) -> tuple[int, int] | None:
  """Returns (start, step) if ``taps`` just picks taps start, start+step, ...

  Transposed-convolution phases are such selections (every stride-th tap),
  so their kernels are strided slices: no arithmetic, exact in any dtype.
  """
  if not np.all(taps.sum(axis=1) == 1) or not np.all((taps == 0) | (taps == 1)):
    return None
  picked = taps.argmax(axis=1)
  step = int(picked[1] - picked[0]) if len(picked) > 1 else 1
  if step < 1 or np.any(np.diff(picked) != step):
    return None
  return int(picked[0]), step


def phase_kernel(kernel: Array, rows: np.ndarray, cols: np.ndarray) -> Array:
  """Kernel of one phase: ``out[a, b] = sum_{t, s} rows[a, t] cols[b, s] kernel[t, s]``.

  Args:
    kernel: (kh, kw, C, F) original kernel.
    rows: (A, kh) tap matrix of the phase along height.
    cols: (B, kw) tap matrix of the phase along width.

  Returns:
    (A, B, C, F) kernel, in the kernel's (param) dtype. Sums of taps run
    before any cast to a low-precision compute dtype, at HIGHEST precision
    (TPUs would otherwise round the operands to bfloat16).
  """
  kh, kw, c, f = kernel.shape
  row_sel, col_sel = _strided_selection(rows), _strided_selection(cols)
  if row_sel is not None and col_sel is not None:
    (r0, r_step), (c0, c_step) = row_sel, col_sel
    limit = (r0 + (len(rows) - 1) * r_step + 1, c0 + (len(cols) - 1) * c_step + 1, c, f)
    return lax.slice(kernel, (r0, c0, 0, 0), limit, (r_step, c_step, 1, 1))
  # One (A*B, kh*kw) x (kh*kw, C*F) GEMM whose output is already in HWIO order.
  taps = np.kron(rows, cols).astype(kernel.dtype)
  out = jnp.dot(taps, kernel.reshape(kh * kw, c * f), precision=lax.Precision.HIGHEST)
  return out.reshape(len(rows), len(cols), c, f)


def _fused_phase_kernel(
  kernel: Array, phases_h: list[_Phase1D], phases_w: list[_Phase1D], union: tuple[int, int]
) -> Array:
  """All phase kernels zero-padded to the union of offsets: (A, B, C, f*f*F).

  Output channels are ordered (row phase, col phase, feature) to match
  :func:`depth_to_space`.
  """
  *_, c, f = kernel.shape
  blocks = []
  for ph in phases_h:
    for pw in phases_w:
      if ph.taps.size == 0 or pw.taps.size == 0:
        blocks.append(jnp.zeros(union + (c, f), kernel.dtype))
        continue
      block = phase_kernel(kernel, ph.taps, pw.taps)
      blocks.append(
        jnp.pad(
          block,
          (
            (ph.start, union[0] - ph.start - len(ph.taps)),
            (pw.start, union[1] - pw.start - len(pw.taps)),
            (0, 0),
            (0, 0),
          ),
        )
      )
  # Stacking at axis 3 writes the (p, q, o) channel order in a single pass.
  return jnp.stack(blocks, axis=3).reshape(union + (c, -1))


def _phase_conv(
  x: Array,
  kernel: Array,
  factor: int,
  pads_fine: Pairs,
  zero_insert: bool,
  inner_lowering: str,
  fuse_phases: bool | None,
  dtype: Dtype | None,
) -> Array:
  """Computes a fine-grid stride-1 correlation as phases on the coarse grid.

  Fused: one convolution over the union of all phases' offsets with
  factor**2 * F outputs (one big GEMM; some taps are structural zeros for
  even kernels and transposed convs). Split: one convolution per phase with
  exactly its own taps (fewer FLOPs, smaller kernels, more and smaller ops).
  """
  kh, kw = kernel.shape[:2]
  (top, _), (left, _) = pads_fine  # Only the leading pad fixes the alignment.
  taps_h, pads_h = phase_taps(kh, factor, top, zero_insert)
  taps_w, pads_w = phase_taps(kw, factor, left, zero_insert)
  phases_h, phases_w = _split_phases(taps_h, pads_h), _split_phases(taps_w, pads_w)
  union = (taps_h.shape[1], taps_w.shape[1])
  if fuse_phases is None:
    fuse_phases = _fuse_phases(kernel.shape[-1], phases_h, phases_w, union)
  if fuse_phases:
    fused = _fused_phase_kernel(kernel, phases_h, phases_w, union)
    y = conv2d(x, fused, 1, (pads_h, pads_w), inner_lowering, dtype)
    return depth_to_space(y, factor)
  outputs = []
  for ph in phases_h:
    for pw in phases_w:
      if ph.taps.size == 0 or pw.taps.size == 0:  # Reads only inserted zeros.
        shape = x.shape[:3] + (kernel.shape[-1],)
        outputs.append(jnp.zeros(shape, _compute_dtype(x, kernel, dtype)))
        continue
      phase = phase_kernel(kernel, ph.taps, pw.taps)
      outputs.append(conv2d(x, phase, 1, (ph.pads, pw.pads), inner_lowering, dtype))
  return depth_to_space(jnp.concatenate(outputs, axis=-1), factor)


def upsample_nearest(x: Array, factor: int = _UPSAMPLE_FACTOR) -> Array:
  """Nearest-neighbour upsampling of an NHWC array by an integer factor."""
  return jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)


def upsample_conv2d(
  x: Array,
  kernel: Array,
  lowering: str = "auto",
  inner_lowering: str = "auto",
  fuse_phases: bool | None = None,
  dtype: Dtype | None = None,
) -> Array:
  """Nearest x2 upsampling followed by a stride-1 'SAME' correlation.

  Args:
    x: Input (N, H, W, C).
    kernel: (kh, kw, C, F) kernel of the convolution at high resolution.
    lowering: 'auto', 'xla' (upsample, then conv) or 'phase' (4 phase
      convolutions on the low-res input fused into one, + depth-to-space).
    inner_lowering: Lowering of the phase convolution ('auto', 'xla',
      'shifted_matmul', 'dense'); ignored for 'xla'.
    fuse_phases: Run all phases as one convolution (True) or one per phase
      (False); None decides by the rule. Ignored for 'xla'.
    dtype: Computation dtype; None promotes ``x`` and ``kernel``.

  Returns:
    (N, 2H, 2W, F) array.
  """
  factor = _UPSAMPLE_FACTOR
  n, h, w, c = x.shape
  kh, kw, _, features = kernel.shape
  if lowering == "auto":
    lowering = choose_lowering("upsample_conv", x.shape, (kh, kw), 1, features)
  _check_lowering("upsample_conv", lowering)
  if lowering == "xla":
    return conv2d(upsample_nearest(x, factor), kernel, 1, "SAME", "xla", dtype)
  fine_pads = resolve_padding((factor * h, factor * w), (kh, kw), (1, 1), "SAME")
  return _phase_conv(x, kernel, factor, fine_pads, False, inner_lowering, fuse_phases, dtype)


def conv_transpose_pads(kernel_size: int, stride: int) -> tuple[int, int]:
  """Fine-grid padding of ``lax.conv_transpose(..., 'SAME')`` (1-D).

  Mirrors ``jax._src.lax.convolution._conv_transpose_padding`` (private), so
  the phase lowering agrees with flax's ConvTranspose for even kernels too.
  """
  pad_len = kernel_size + stride - 2
  pad_before = kernel_size - 1 if stride > kernel_size - 1 else -(-pad_len // 2)
  return pad_before, pad_len - pad_before


def conv_transpose2d(
  x: Array,
  kernel: Array,
  strides: int | Sequence[int] = 2,
  lowering: str = "auto",
  inner_lowering: str = "auto",
  fuse_phases: bool | None = None,
  dtype: Dtype | None = None,
) -> Array:
  """'SAME' transposed convolution, equal to ``flax.linen.ConvTranspose``.

  Semantics are those of ``lax.conv_transpose(x, kernel, strides, 'SAME',
  transpose_kernel=False)``: zeros are inserted between input pixels
  (``lhs_dilation=strides``) and the result is correlated with the
  *unflipped* kernel, giving output size ``input * strides``.

  Args:
    x: Input (N, H, W, C).
    kernel: (kh, kw, C, F) kernel, flax ConvTranspose layout.
    strides: Int or (sh, sw); the 'phase' lowering requires sh == sw.
    lowering: 'auto', 'xla' or 'phase' (s*s phase convolutions on the input,
      fused into one, + depth-to-space; never multiplies inserted zeros).
    inner_lowering: Lowering of the phase convolution; ignored for 'xla'.
    fuse_phases: One fused convolution (True) or one per phase (False);
      None decides by the rule. Ignored for 'xla'.
    dtype: Computation dtype; None promotes ``x`` and ``kernel``.

  Returns:
    (N, sh*H, sw*W, F) array.
  """
  strides = _pair(strides)
  kh, kw, _, features = kernel.shape
  if lowering == "auto":
    lowering = choose_lowering("conv_transpose", x.shape, (kh, kw), strides, features)
  _check_lowering("conv_transpose", lowering)
  if lowering == "xla":
    compute_dtype = _compute_dtype(x, kernel, dtype)
    y = lax.conv_transpose(
      x.astype(compute_dtype),
      kernel.astype(compute_dtype),
      strides,
      "SAME",
      dimension_numbers=_DIMENSION_NUMBERS,
      transpose_kernel=False,
      preferred_element_type=_accumulation_dtype(compute_dtype),
    )
    return y.astype(compute_dtype)
  if strides[0] != strides[1]:
    raise ValueError(f"'phase' lowering needs equal strides, got {strides}.")
  pads = (conv_transpose_pads(kh, strides[0]), conv_transpose_pads(kw, strides[1]))
  return _phase_conv(x, kernel, strides[0], pads, True, inner_lowering, fuse_phases, dtype)


# --------------------------------------------------------------------------- #
# Flax modules.
# --------------------------------------------------------------------------- #


def _make_params(
  module: nn.Module, kernel_size: int, in_features: int
) -> tuple[Array, Array | None]:
  """Creates flax.linen.Conv-compatible 'kernel' and 'bias' params.

  Parameters never depend on the lowering, so checkpoints are portable
  between backends (e.g. trained on CPU, sampled on GPU).
  """
  kernel = module.param(
    "kernel",
    module.kernel_init,
    (kernel_size, kernel_size, in_features, module.features),
    module.param_dtype,
  )
  bias = None
  if module.use_bias:
    bias = module.param("bias", module.bias_init, (module.features,), module.param_dtype)
  return kernel, bias


def _add_bias(y: Array, bias: Array | None, batch_shape: tuple[int, ...]) -> Array:
  """Adds the bias in the computation dtype and restores batch dimensions."""
  if bias is not None:
    y = y + bias.astype(y.dtype)
  return y.reshape(batch_shape + y.shape[1:])


def _resolve_module_lowering(kind: str, lowering: str) -> str:
  """Validates a module's ``lowering`` field (resolution of 'auto' is lazy)."""
  if lowering != "auto":
    _check_lowering(kind, lowering)
  return lowering


class Conv(nn.Module):
  """k x k convolution (NHWC), drop-in for ``flax.linen.Conv`` with square kernels.

  Attributes:
    features: Number of output channels.
    kernel_size: Square kernel size k.
    strides: Stride in both spatial dimensions.
    padding: 'SAME' (TF/flax semantics, asymmetric for even totals) or 'VALID'.
    use_bias: Whether to add a bias.
    dtype: Computation dtype (inputs and kernel are cast to it); None
      promotes input and params like flax.
    param_dtype: Parameter dtype.
    kernel_init: Kernel initializer (flax default: lecun_normal).
    bias_init: Bias initializer.
    lowering: 'auto' or a name in ``LOWERINGS['conv']``.
  """

  features: int
  kernel_size: int
  strides: int = 1
  padding: str = "SAME"
  use_bias: bool = True
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32
  kernel_init: Initializer = nn.initializers.lecun_normal()
  bias_init: Initializer = nn.initializers.zeros
  lowering: str = "auto"

  @nn.compact
  def __call__(self, x: Array) -> Array:
    """Applies the convolution to x of shape (*batch, H, W, C)."""
    lowering = _resolve_module_lowering("conv", self.lowering)
    kernel, bias = _make_params(self, self.kernel_size, x.shape[-1])
    x, batch_shape = _flatten_batch(x)
    y = conv2d(x, kernel, self.strides, self.padding, lowering, self.dtype)
    return _add_bias(y, bias, batch_shape)


class UpsampleConv(nn.Module):
  """Nearest-neighbour x2 upsampling, then a k x k stride-1 'SAME' convolution.

  Params are exactly those of :class:`Conv` applied after upsampling.

  Attributes:
    features: Number of output channels.
    kernel_size: Square kernel size k (odd or even).
    use_bias: Whether to add a bias.
    dtype: Computation dtype; None promotes input and params.
    param_dtype: Parameter dtype.
    kernel_init: Kernel initializer.
    bias_init: Bias initializer.
    lowering: 'auto', 'xla' (upsample then conv) or 'phase' (4 phase
      convolutions on the low-res input + depth-to-space; the phase
      convolution's own lowering is chosen by :func:`choose_lowering`).
  """

  features: int
  kernel_size: int
  use_bias: bool = True
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32
  kernel_init: Initializer = nn.initializers.lecun_normal()
  bias_init: Initializer = nn.initializers.zeros
  lowering: str = "auto"

  @nn.compact
  def __call__(self, x: Array) -> Array:
    """Upsamples and convolves x of shape (*batch, H, W, C) -> (*batch, 2H, 2W, F)."""
    lowering = _resolve_module_lowering("upsample_conv", self.lowering)
    kernel, bias = _make_params(self, self.kernel_size, x.shape[-1])
    x, batch_shape = _flatten_batch(x)
    y = upsample_conv2d(x, kernel, lowering, dtype=self.dtype)
    return _add_bias(y, bias, batch_shape)


class ConvTranspose(nn.Module):
  """Strided 'SAME' transposed convolution; output spatial size = input * strides.

  Semantics and parameter layout equal ``flax.linen.ConvTranspose(features,
  (k, k), strides=(s, s), padding='SAME', transpose_kernel=False)``.

  Attributes:
    features: Number of output channels.
    kernel_size: Square kernel size k (odd or even).
    strides: Upsampling stride s in both spatial dimensions.
    use_bias: Whether to add a bias.
    dtype: Computation dtype; None promotes input and params.
    param_dtype: Parameter dtype.
    kernel_init: Kernel initializer.
    bias_init: Bias initializer.
    lowering: 'auto', 'xla' (``lax.conv_transpose``) or 'phase' (s*s phase
      convolutions on the input + depth-to-space).
  """

  features: int
  kernel_size: int
  strides: int = 2
  use_bias: bool = True
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32
  kernel_init: Initializer = nn.initializers.lecun_normal()
  bias_init: Initializer = nn.initializers.zeros
  lowering: str = "auto"

  @nn.compact
  def __call__(self, x: Array) -> Array:
    """Applies the transposed convolution to x of shape (*batch, H, W, C)."""
    lowering = _resolve_module_lowering("conv_transpose", self.lowering)
    kernel, bias = _make_params(self, self.kernel_size, x.shape[-1])
    x, batch_shape = _flatten_batch(x)
    y = conv_transpose2d(x, kernel, self.strides, lowering, dtype=self.dtype)
    return _add_bias(y, bias, batch_shape)
