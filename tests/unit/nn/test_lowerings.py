"""Every lowering of ganjax.nn's convolutions equals plain XLA / flax, values and grads."""

from __future__ import annotations

import functools
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from ganjax.nn import (LOWERINGS, Conv, ConvTranspose, UpsampleConv, choose_lowering, conv2d,
                       conv_transpose2d, upsample_conv2d)
from ganjax.nn.conv import conv_flops

BATCH, IN_FEATURES, FEATURES = 2, 3, 4
# Phase lowerings also have internal variants: (inner conv lowering, fuse phases).
PHASE_VARIANTS = [(inner, fuse) for inner in ("xla", "shifted_matmul") for fuse in (True, False)]
_RNG = np.random.default_rng(0)

# The slow part of these tests is XLA compilation, so each test compiles ONE
# function computing every lowering and the reference, and arrays come from
# numpy (eager jax.random calls would compile a program per shape).


def _normal(*shape: int) -> jax.Array:
  return jnp.asarray(_RNG.standard_normal(shape), jnp.float32)


def _input(height: int, width: int, channels: int = IN_FEATURES) -> jax.Array:
  return _normal(BATCH, height, width, channels)


def _random_params(module: nn.Module, x: jax.Array) -> dict:
  """Random O(1)-output params with the module's tree (shapes only, no init compile)."""
  shapes = jax.eval_shape(module.init, jax.random.PRNGKey(0), x)["params"]
  fan_in = np.prod(shapes["kernel"].shape[:-1])
  return {
    "kernel": _normal(*shapes["kernel"].shape) / np.sqrt(fan_in),
    "bias": _normal(*shapes["bias"].shape),  # Non-zero: exercises its gradient.
  }


def _assert_close(actual, expected, name: str, rtol: float = 2e-5) -> None:
  """Float32-rounding tolerance relative to each array's scale."""
  for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
    assert a.shape == e.shape and a.dtype == e.dtype, name
    e = np.asarray(e, np.float32)
    atol = rtol * max(1.0, float(np.abs(e).max()))
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=name)


def _check_all(candidates: dict[str, Callable], reference: Callable, params: dict, x: jax.Array):
  """Each candidate(params, x) equals reference(params, x): value, d/dparams, d/dx."""
  weights = _normal(*jax.eval_shape(reference, params, x).shape)

  def value_and_grads(fn: Callable, params: dict, x: jax.Array) -> tuple:
    loss = lambda p, x: (jnp.vdot(fn(p, x), weights), fn(p, x))  # noqa: E731
    (_, y), grads = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(params, x)
    return (y, *grads)

  @jax.jit
  def run_all(params: dict, x: jax.Array) -> dict:
    fns = {**candidates, "reference": reference}
    return {name: value_and_grads(fn, params, x) for name, fn in fns.items()}

  results = run_all(params, x)
  for name in candidates:
    _assert_close(results[name], results["reference"], name)


def _module_candidates(make: Callable[[str], nn.Module], kind: str) -> dict[str, Callable]:
  """name -> apply function of the module built with every lowering of ``kind``."""
  modules = {lowering: make(lowering) for lowering in ("auto",) + LOWERINGS[kind]}
  return {
    lowering: functools.partial(_apply_params, module) for lowering, module in modules.items()
  }


def _apply_params(module: nn.Module, params: dict, x: jax.Array) -> jax.Array:
  return module.apply({"params": params}, x)


# --------------------------------------------------------------------------- #
# Conv.
# --------------------------------------------------------------------------- #

CONV_CASES = [
  # (kernel, stride, padding, (H, W))
  (3, 1, "SAME", (5, 7)),
  (4, 2, "SAME", (6, 9)),  # Even kernel, asymmetric SAME padding.
  (5, 2, "SAME", (7, 7)),  # Odd total padding with stride 2.
  (5, 1, "SAME", (4, 3)),  # Kernel larger than the input.
  (1, 1, "SAME", (3, 4)),
  (4, 1, "VALID", (6, 5)),
  (5, 2, "VALID", (9, 8)),
]


@pytest.mark.parametrize("kernel_size,strides,padding,hw", CONV_CASES)
def test_conv_matches_flax(kernel_size, strides, padding, hw):
  def make(lowering: str) -> Conv:
    return Conv(FEATURES, kernel_size, strides, padding, lowering=lowering)

  reference = nn.Conv(FEATURES, (kernel_size,) * 2, (strides,) * 2, padding)
  x = _input(*hw)
  _check_all(
    _module_candidates(make, "conv"),
    lambda p, x: reference.apply({"params": p}, x),
    _random_params(make("xla"), x),
    x,
  )


# The lowerings that skip padding (and xla_dw_matmul's own kernel gradient), on the
# discriminator's tiny maps and on every padding.
SKIPPING_CASES = [
  # (kernel, stride, padding, (H, W))
  (5, 1, "SAME", (4, 4)),  # seed.D4: 5x5 'SAME' on a 4x4 map.
  (5, 2, "SAME", (7, 7)),  # seed.D3: 5x5 stride 2, 7x7 -> 4x4.
  (3, 2, ((2, 0), (1, 3)), (5, 6)),  # Explicit asymmetric padding, non-square.
  (3, 1, ((-1, 2), (0, 1)), (4, 3)),  # Negative padding crops a row.
  (2, 3, "VALID", (5, 4)),  # Stride > kernel: pixels no window reads.
]


@pytest.mark.parametrize("kernel_size,strides,padding,hw", SKIPPING_CASES)
def test_padding_variants_match_xla(kernel_size, strides, padding, hw):
  x = _normal(4, *hw, 8)

  def lowered(lowering: str) -> Callable:
    return lambda p, x: conv2d(x, p["kernel"], strides, padding, lowering) + p["bias"]

  _check_all(
    {lowering: lowered(lowering) for lowering in ("dense", "row_regions", "xla_dw_matmul")},
    lowered("xla"),
    _random_params(Conv(16, kernel_size, lowering="xla"), x),
    x,
  )


# --------------------------------------------------------------------------- #
# UpsampleConv.
# --------------------------------------------------------------------------- #


def _upsample_then_conv(params: dict, x: jax.Array) -> jax.Array:
  """Reference: explicit nearest upsampling, then a plain lax convolution."""
  x = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
  y = lax.conv_general_dilated(
    x, params["kernel"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
  )
  return y + params["bias"]


UPSAMPLE_CASES = [
  # (kernel, (H, W), also check every internal phase variant)
  (5, (3, 4), True),
  (4, (1, 2), True),  # Even kernel: phases of different sizes; 1-pixel rows.
  (4, (4, 3), False),
  (3, (2, 2), False),
  (1, (3, 2), False),
]


@pytest.mark.parametrize("kernel_size,hw,variants", UPSAMPLE_CASES)
def test_upsample_conv_matches_repeat_then_conv(kernel_size, hw, variants):
  def make(lowering: str) -> UpsampleConv:
    return UpsampleConv(FEATURES, kernel_size, lowering=lowering)

  candidates = _module_candidates(make, "upsample_conv")
  for inner, fuse in PHASE_VARIANTS if variants else ():
    candidates[f"phase/{inner}/fused={fuse}"] = lambda p, x, inner=inner, fuse=fuse: (
      upsample_conv2d(x, p["kernel"], "phase", inner, fuse) + p["bias"]
    )
  x = _input(*hw)
  _check_all(candidates, _upsample_then_conv, _random_params(make("xla"), x), x)


# --------------------------------------------------------------------------- #
# ConvTranspose.
# --------------------------------------------------------------------------- #

TRANSPOSE_CASES = [
  # (kernel, stride, (H, W), also check every internal phase variant)
  (5, 2, (3, 4), True),
  (4, 2, (1, 1), True),  # Most taps only ever see padding.
  (2, 3, (2, 2), True),  # Stride > kernel: one phase reads only inserted zeros.
  (4, 2, (4, 3), False),
  (3, 2, (2, 3), False),
  (4, 1, (3, 3), False),
]


@pytest.mark.parametrize("kernel_size,strides,hw,variants", TRANSPOSE_CASES)
def test_conv_transpose_matches_flax(kernel_size, strides, hw, variants):
  def make(lowering: str) -> ConvTranspose:
    return ConvTranspose(FEATURES, kernel_size, strides, lowering=lowering)

  candidates = _module_candidates(make, "conv_transpose")
  for inner, fuse in PHASE_VARIANTS if variants else ():
    candidates[f"phase/{inner}/fused={fuse}"] = lambda p, x, inner=inner, fuse=fuse: (
      conv_transpose2d(x, p["kernel"], strides, "phase", inner, fuse) + p["bias"]
    )
  reference = nn.ConvTranspose(
    FEATURES,
    (kernel_size,) * 2,
    strides=(strides,) * 2,
    padding="SAME",
    transpose_kernel=False,
  )
  x = _input(*hw)
  _check_all(
    candidates,
    lambda p, x: reference.apply({"params": p}, x),
    _random_params(make("xla"), x),
    x,
  )
  out_shape = jax.eval_shape(make("phase").init_with_output, jax.random.PRNGKey(0), x)[0].shape
  assert out_shape == (BATCH, hw[0] * strides, hw[1] * strides, FEATURES)


# --------------------------------------------------------------------------- #
# Parameters are independent of the lowering (portable checkpoints).
# --------------------------------------------------------------------------- #


def test_params_identical_across_lowerings_and_to_flax():
  x, key = _input(4, 4), jax.random.PRNGKey(7)
  flax_twins = {
    Conv: (nn.Conv(FEATURES, (4, 4), (2, 2)), dict(strides=2), "conv"),
    UpsampleConv: (nn.Conv(FEATURES, (4, 4)), {}, "upsample_conv"),
    ConvTranspose: (
      nn.ConvTranspose(FEATURES, (4, 4), (2, 2), padding="SAME"),
      dict(strides=2),
      "conv_transpose",
    ),
  }
  names, modules = [], []
  for cls, (flax_module, kwargs, kind) in flax_twins.items():
    names.append((cls.__name__, "flax"))
    modules.append(flax_module)
    for lowering in ("auto",) + LOWERINGS[kind]:
      names.append((cls.__name__, lowering))
      modules.append(cls(FEATURES, 4, lowering=lowering, **kwargs))
  # One compilation for all inits (XLA dedupes the identical RNG work).
  all_inits = jax.jit(lambda key: [m.init(key, x) for m in modules])(key)
  inits = dict(zip(names, all_inits, strict=True))
  for (cls_name, lowering), params in inits.items():
    expected = inits[(cls_name, "flax")]
    assert jax.tree.structure(params) == jax.tree.structure(expected), lowering
    for a, e in zip(jax.tree.leaves(params), jax.tree.leaves(expected), strict=True):
      assert a.dtype == e.dtype
      np.testing.assert_array_equal(a, e, err_msg=f"{cls_name} {lowering}")


# --------------------------------------------------------------------------- #
# dtype, batch dims, validation, rule.
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
  "module",
  [
    Conv(FEATURES, 5, 2, dtype=jnp.bfloat16, lowering="shifted_matmul"),
    UpsampleConv(FEATURES, 5, dtype=jnp.bfloat16, lowering="phase"),
    ConvTranspose(FEATURES, 4, 2, dtype=jnp.bfloat16, lowering="phase"),
  ],
  ids=["conv", "upsample_conv", "conv_transpose"],
)
def test_bfloat16_compute_dtype(module):
  x = _input(4, 4)
  params = _random_params(module, x)
  reference = module.clone(dtype=jnp.float32, lowering="xla")

  @jax.jit
  def run(params: dict) -> tuple:
    y = module.apply({"params": params}, x)
    loss = lambda p: jnp.sum(module.apply({"params": p}, x).astype(jnp.float32))  # noqa: E731
    return y, reference.apply({"params": params}, x), jax.grad(loss)(params)

  y, y_ref, grads = run(params)
  assert y.dtype == jnp.bfloat16
  np.testing.assert_allclose(y.astype(jnp.float32), y_ref, rtol=0.05, atol=0.05)
  assert all(g.dtype == jnp.float32 for g in jax.tree.leaves(grads))


@pytest.mark.parametrize("lowering", ["dense", "row_regions", "xla_dw_matmul"])
def test_bfloat16_lowerings_match_xla_bfloat16(lowering):
  # Same bf16 operands, float32 accumulation, one rounding: about 1 bf16 ulp apart.
  x = _normal(4, 4, 4, 8)
  skipping = Conv(16, 5, dtype=jnp.bfloat16, lowering=lowering)
  xla = skipping.clone(lowering="xla")
  params = _random_params(skipping, x)

  def value_and_grad(module: nn.Module, params: dict) -> tuple:
    loss = lambda p: jnp.sum(module.apply({"params": p}, x).astype(jnp.float32) ** 2)  # noqa: E731
    return module.apply({"params": params}, x), jax.grad(loss)(params)

  run = jax.jit(lambda p: (value_and_grad(skipping, p), value_and_grad(xla, p)))
  (y, grads), (y_xla, grads_xla) = run(params)
  assert y.dtype == jnp.bfloat16
  _assert_close(y.astype(jnp.float32), y_xla.astype(jnp.float32), "value", rtol=1e-2)
  _assert_close(grads, grads_xla, "grads", rtol=2e-2)
  assert "preferred_element_type=float32" in str(jax.make_jaxpr(skipping.apply)({"params": params}, x))


def test_batch_dims_are_flattened_and_restored():
  module = Conv(FEATURES, 3, lowering="shifted_matmul")
  x = _normal(2, 3, 5, 5, IN_FEATURES)
  params = {"params": _random_params(module, x[0])}
  apply = lambda x: module.apply(params, x)  # noqa: E731
  y, y_1, y_12 = jax.jit(lambda x: (apply(x), apply(x[1]), apply(x[1, 2])))(x)
  assert y.shape == (2, 3, 5, 5, FEATURES)
  _assert_close(y[1], y_1, "one batch dim")
  _assert_close(y[1, 2], y_12, "no batch dim")


@pytest.mark.parametrize(
  "module", [Conv(4, 3, lowering="phase"), UpsampleConv(4, 3, lowering="shifted_matmul")]
)
def test_unknown_lowering_raises(module):
  with pytest.raises(ValueError, match="Unknown lowering"):
    jax.eval_shape(module.init, jax.random.PRNGKey(0), _input(4, 4))


@pytest.mark.parametrize("backend", ["gpu", "tpu"])
@pytest.mark.parametrize("kind", sorted(LOWERINGS))
def test_choose_lowering_is_xla_off_cpu(kind, backend):
  # The shape where XLA:CPU is slowest: 5x5 'same' on 4x4, batch 200.
  assert choose_lowering(kind, (200, 4, 4, 256), 5, 1, 512, backend=backend) == "xla"


def test_choose_lowering_cpu_rule():
  cpu = dict(backend="cpu")
  # Kernel larger than the output: rows of padding skipped unless weight-bound.
  assert choose_lowering("conv", (100, 4, 4, 256), 5, 1, 512, **cpu) == "row_regions"
  assert choose_lowering("conv", (100, 7, 7, 128), 5, 2, 256, **cpu) == "row_regions"
  assert choose_lowering("conv", (16, 4, 4, 256), 5, 1, 512, **cpu) == "row_regions"
  assert choose_lowering("conv", (8, 4, 4, 512), 4, 2, 512, **cpu) == "shifted_matmul"
  assert choose_lowering("conv", (8, 8, 8, 256), 4, 2, 512, **cpu) == "shifted_matmul"
  assert choose_lowering("conv", (100, 14, 14, 64), 5, 2, 128, **cpu) == "xla"
  # Large maps: XLA, with GEMMs for the kernel gradient at stride 1 (seed G3).
  assert choose_lowering("conv", (100, 28, 28, 64), 5, 1, 32, **cpu) == "xla_dw_matmul"
  assert choose_lowering("conv", (100, 28, 28, 32), 5, 1, 1, **cpu) == "xla"  # F=1
  assert choose_lowering("conv", (100, 4, 4, 256), 5, 1, 1, **cpu) == "xla"  # F=1
  assert choose_lowering("conv", (100, 8, 8, 64), 5, 1, 64, padding="VALID", **cpu) == (
    "shifted_matmul"  # 4x4 output.
  )
  assert choose_lowering("upsample_conv", (100, 14, 14, 128), 5, 1, 64, **cpu) == "phase"
  assert choose_lowering("conv_transpose", (100, 7, 7, 256), 5, 2, 128, **cpu) == "phase"


def _matmul_macs(layer: Callable, x: jax.Array, kernel: jax.Array) -> int:
  """Multiply-adds of the matmuls (dot_general) in ``layer``'s forward jaxpr."""
  macs = 0
  for eqn in jax.make_jaxpr(layer)(x, kernel).eqns:
    if eqn.primitive.name == "dot_general":
      (lhs_contracting, _), _ = eqn.params["dimension_numbers"]
      lhs_shape = eqn.invars[0].aval.shape
      depth = int(np.prod([lhs_shape[d] for d in lhs_contracting]))
      macs += int(np.prod(eqn.outvars[0].aval.shape)) * depth
  return macs


FLOP_CASES = [
  # (input NHWC, kernel, stride, features, padding)
  ((4, 4, 4, 8), 5, 1, 16, "SAME"),  # seed.D4's map.
  ((4, 7, 7, 8), 5, 2, 16, "SAME"),  # seed.D3's map.
  ((2, 1, 1, 8), 3, 1, 16, "SAME"),  # One live tap, one pixel.
  ((2, 9, 8, 3), 5, 2, 4, "VALID"),  # A column no window reads.
  ((2, 6, 5, 3), 3, 1, 4, ((2, 0), (-1, 3))),
]


@pytest.mark.parametrize("lowering", ["shifted_matmul", "dense", "row_regions"])
@pytest.mark.parametrize("shape,kernel_size,strides,features,padding", FLOP_CASES)
def test_conv_flops_counts_the_matmul_of_the_lowering(
  lowering, shape, kernel_size, strides, features, padding
):
  x, kernel = jnp.zeros(shape), jnp.zeros((kernel_size, kernel_size, shape[-1], features))
  layer = lambda x, k: conv2d(x, k, strides, padding, lowering)  # noqa: E731
  expected = conv_flops(lowering, shape, kernel_size, strides, features, padding)
  assert _matmul_macs(layer, x, kernel) == expected


def test_conv_flops_of_the_discriminator_maps():
  # Per example and per C*F: 16 outputs x 25 taps (all live) for xla and
  # shifted_matmul; 16 (4x4 SAME) or 49 (7x7 stride 2) pixels x 16 outputs for dense;
  # for row_regions 4 output columns x 5 column taps x the output rows each kernel
  # row reaches a real pixel for: 2+3+4+3+2 on 4x4 SAME, 3+3+4+3+3 from 7x7 stride 2.
  lowerings = ("xla", "shifted_matmul", "dense", "row_regions")
  d4 = [conv_flops(low, (4, 4, 4, 8), 5, 1, 16) for low in lowerings]
  d3 = [conv_flops(low, (4, 7, 7, 8), 5, 2, 16) for low in lowerings]
  assert d4 == [4 * 8 * 16 * macs for macs in (400, 400, 256, 280)]
  assert d3 == [4 * 8 * 16 * macs for macs in (400, 400, 784, 320)]
  assert conv_flops("shifted_matmul", (1, 1, 1, 8), 3, 1, 16) == 8 * 16  # One live tap.


def _convolutions(layer: Callable, x: jax.Array, kernel: jax.Array) -> int:
  return str(jax.make_jaxpr(layer)(x, kernel)).count("conv_general_dilated")


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the phase rule is CPU's")
def test_phases_are_fused_unless_that_multiplies_zero_taps():
  x = jnp.zeros((2, 7, 7, 8))
  upsample = lambda x, k: upsample_conv2d(x, k, "phase", "xla")
  transpose = lambda x, k: conv_transpose2d(x, k, 2, "phase", "xla")
  # Odd-kernel upsampling: the 4 phases are 3x3 windows on the same offsets.
  assert _convolutions(upsample, x, jnp.zeros((5, 5, 8, 64))) == 1
  # A 5x5 stride-2 transposed conv: 11 of the fused 36 taps would be zeros.
  assert _convolutions(transpose, x, jnp.zeros((5, 5, 8, 64))) == 4
  # Even-kernel upsampling has zero taps too (phase 1 uses 2 of 3 offsets).
  assert _convolutions(upsample, x, jnp.zeros((4, 4, 8, 64))) == 4
  # Thin phases (F < 16) are fused anyway: 4 matrix-vector-like GEMMs are slower.
  assert _convolutions(transpose, x, jnp.zeros((5, 5, 8, 3))) == 1


def test_env_override_forces_xla(monkeypatch):
  monkeypatch.setenv("GANJAX_LOWERING", "xla")
  for kind in LOWERINGS:
    assert choose_lowering(kind, (100, 4, 4, 256), 5, 1, 512, backend="cpu") == "xla"
  monkeypatch.setenv("GANJAX_LOWERING", "bogus")
  with pytest.raises(ValueError, match="GANJAX_LOWERING"):
    choose_lowering("conv", (100, 4, 4, 256), 5, 1, 512, backend="cpu")
