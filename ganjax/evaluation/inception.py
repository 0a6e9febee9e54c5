"""Inception-V3 pool3 features for FID, as in pytorch-fid / TensorFlow's FID code.

Published GAN FIDs (e.g. Lucic et al. 2018, "Are GANs Created Equal?": NS-GAN
6.8 on MNIST, 26.5 on Fashion-MNIST) use the 2015-12-05 TensorFlow Inception
graph. pytorch-fid ports those weights and that graph (including its quirks:
average pools that ignore padding, a max pool in the last block) to
``pt_inception-2015-12-05-6726825d.pth``; this module implements the same network
in flax and reads that file.

Weights format (the one supported): pytorch-fid's FID Inception state dict, keys
like ``Mixed_5b.branch1x1.conv.weight`` (O, I, H, W) and ``...bn.running_var``,
given either as

* the original ``pt_inception-2015-12-05-6726825d.pth`` (read without torch,
  see :mod:`ganjax.evaluation.torch_weights`), or
* an ``.npz`` of the same names, e.g. written where torch is installed by
  ``np.savez("inception.npz", **{k: v.numpy() for k, v in torch.load(p).items()})``.

Preprocessing (Lucic et al.; pytorch-fid): images in [0, 1], grayscale tiled to
three channels, bilinear resize to 299 x 299 (half-pixel centres, as
``F.interpolate(align_corners=False)``), scaled to [-1, 1]. Output: the 2048
pool3 features. The fc layer (1008 logits) is not used.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ganjax.evaluation import extractor as extractor_lib
from ganjax.utils.errors import UserError

INPUT_SIZE = 299
FEATURE_DIM = 2048
NAME = "inception_v3_fid_pool3"
_BN_EPSILON = 1e-3
Pads = tuple[tuple[int, int], tuple[int, int]]


def _pads(padding: int | tuple[int, int]) -> Pads:
  ph, pw = (padding, padding) if isinstance(padding, int) else padding
  return ((ph, ph), (pw, pw))


class BasicConv2d(nn.Module):
  """Convolution (no bias) + inference BatchNorm (eps 1e-3) + ReLU.

  Parameters mirror torchvision's ``BasicConv2d`` (``conv.weight``, ``bn.*``) so
  the state dict maps onto them one to one (:func:`params_from_state_dict`).
  """
  features: int
  kernel: tuple[int, int]
  strides: int = 1
  padding: int | tuple[int, int] = 0

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        (*self.kernel, x.shape[-1], self.features))
    scale = self.param("scale", nn.initializers.ones, (self.features,))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    mean = self.param("mean", nn.initializers.zeros, (self.features,))
    var = self.param("var", nn.initializers.ones, (self.features,))
    y = jax.lax.conv_general_dilated(
        x, kernel, (self.strides, self.strides), _pads(self.padding),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        precision=jax.lax.Precision.HIGHEST)  # No bf16/TF32 passes on TPU/GPU.
    return nn.relu((y - mean) * (scale * jax.lax.rsqrt(var + _BN_EPSILON)) + bias)


def _avg_pool_same(x: jax.Array) -> jax.Array:
  # TensorFlow's average pool: padded zeros are not counted.
  return nn.avg_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_same(x: jax.Array) -> jax.Array:
  return nn.max_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)))


def _max_pool_reduce(x: jax.Array) -> jax.Array:
  return nn.max_pool(x, (3, 3), (2, 2))


class InceptionA(nn.Module):
  pool_features: int

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv2d(64, (1, 1), name="branch1x1")(x)
    b5 = BasicConv2d(48, (1, 1), name="branch5x5_1")(x)
    b5 = BasicConv2d(64, (5, 5), padding=2, name="branch5x5_2")(b5)
    b3 = BasicConv2d(64, (1, 1), name="branch3x3dbl_1")(x)
    b3 = BasicConv2d(96, (3, 3), padding=1, name="branch3x3dbl_2")(b3)
    b3 = BasicConv2d(96, (3, 3), padding=1, name="branch3x3dbl_3")(b3)
    bp = BasicConv2d(self.pool_features, (1, 1), name="branch_pool")(_avg_pool_same(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  @nn.compact
  def __call__(self, x):
    b3 = BasicConv2d(384, (3, 3), strides=2, name="branch3x3")(x)
    bd = BasicConv2d(64, (1, 1), name="branch3x3dbl_1")(x)
    bd = BasicConv2d(96, (3, 3), padding=1, name="branch3x3dbl_2")(bd)
    bd = BasicConv2d(96, (3, 3), strides=2, name="branch3x3dbl_3")(bd)
    return jnp.concatenate([b3, bd, _max_pool_reduce(x)], axis=-1)


class InceptionC(nn.Module):
  channels_7x7: int

  @nn.compact
  def __call__(self, x):
    c7 = self.channels_7x7
    b1 = BasicConv2d(192, (1, 1), name="branch1x1")(x)
    b7 = BasicConv2d(c7, (1, 1), name="branch7x7_1")(x)
    b7 = BasicConv2d(c7, (1, 7), padding=(0, 3), name="branch7x7_2")(b7)
    b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name="branch7x7_3")(b7)
    bd = BasicConv2d(c7, (1, 1), name="branch7x7dbl_1")(x)
    bd = BasicConv2d(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(bd)
    bd = BasicConv2d(c7, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(bd)
    bd = BasicConv2d(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(bd)
    bd = BasicConv2d(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(bd)
    bp = BasicConv2d(192, (1, 1), name="branch_pool")(_avg_pool_same(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  @nn.compact
  def __call__(self, x):
    b3 = BasicConv2d(192, (1, 1), name="branch3x3_1")(x)
    b3 = BasicConv2d(320, (3, 3), strides=2, name="branch3x3_2")(b3)
    b7 = BasicConv2d(192, (1, 1), name="branch7x7x3_1")(x)
    b7 = BasicConv2d(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
    b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
    b7 = BasicConv2d(192, (3, 3), strides=2, name="branch7x7x3_4")(b7)
    return jnp.concatenate([b3, b7, _max_pool_reduce(x)], axis=-1)


class InceptionE(nn.Module):
  """The FID graph's last blocks: avg pool in Mixed_7b, max pool in Mixed_7c."""
  pool: Callable[[jax.Array], jax.Array]

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv2d(320, (1, 1), name="branch1x1")(x)
    b3 = BasicConv2d(384, (1, 1), name="branch3x3_1")(x)
    b3 = jnp.concatenate([
        BasicConv2d(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3),
        BasicConv2d(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3)], axis=-1)
    bd = BasicConv2d(448, (1, 1), name="branch3x3dbl_1")(x)
    bd = BasicConv2d(384, (3, 3), padding=1, name="branch3x3dbl_2")(bd)
    bd = jnp.concatenate([
        BasicConv2d(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd),
        BasicConv2d(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd)], axis=-1)
    bp = BasicConv2d(192, (1, 1), name="branch_pool")(self.pool(x))
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class InceptionV3(nn.Module):
  """(B, 299, 299, 3) in [-1, 1] -> pool3 features (B, 2048)."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = BasicConv2d(32, (3, 3), strides=2, name="Conv2d_1a_3x3")(x)
    x = BasicConv2d(32, (3, 3), name="Conv2d_2a_3x3")(x)
    x = BasicConv2d(64, (3, 3), padding=1, name="Conv2d_2b_3x3")(x)
    x = _max_pool_reduce(x)
    x = BasicConv2d(80, (1, 1), name="Conv2d_3b_1x1")(x)
    x = BasicConv2d(192, (3, 3), name="Conv2d_4a_3x3")(x)
    x = _max_pool_reduce(x)
    x = InceptionA(32, name="Mixed_5b")(x)
    x = InceptionA(64, name="Mixed_5c")(x)
    x = InceptionA(64, name="Mixed_5d")(x)
    x = InceptionB(name="Mixed_6a")(x)
    for name, channels in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160),
                           ("Mixed_6e", 192)):
      x = InceptionC(channels, name=name)(x)
    x = InceptionD(name="Mixed_7a")(x)
    x = InceptionE(_avg_pool_same, name="Mixed_7b")(x)
    x = InceptionE(_max_pool_same, name="Mixed_7c")(x)
    return jnp.mean(x, axis=(1, 2))


def preprocess(images: jax.Array) -> jax.Array:
  """Images in [0, 1] (B, H, W, 1 or 3) -> the network's (B, 299, 299, 3) in [-1, 1]."""
  if images.shape[-1] == 1:
    images = jnp.repeat(images, 3, axis=-1)  # Grayscale tiled to RGB (Lucic et al.).
  resized = jax.image.resize(images.astype(jnp.float32),
                             (images.shape[0], INPUT_SIZE, INPUT_SIZE, 3), "bilinear",
                             antialias=False)  # F.interpolate does not antialias.
  return resized * 2.0 - 1.0


def features(params: Any, images: jax.Array) -> jax.Array:
  """pool3 features (B, 2048) of images in [0, 1]."""
  return InceptionV3().apply({"params": params}, preprocess(images))


def param_shapes() -> Any:
  """The parameter tree as ShapeDtypeStructs (no computation)."""
  return jax.eval_shape(lambda: InceptionV3().init(
      jax.random.PRNGKey(0), jnp.zeros((1, INPUT_SIZE, INPUT_SIZE, 3)))["params"])


def random_params(seed: int = 0) -> Any:
  """Random He-scaled kernels and identity BatchNorms (tests; no weights needed).

  Drawn with NumPy from :func:`param_shapes`: XLA takes minutes on a CPU to
  compile the initialiser of 22M parameters in ~100 tensors.
  """
  rng = np.random.default_rng(seed)

  def draw(path: Sequence[Any], leaf: Any) -> np.ndarray:
    name = path[-1].key
    if name == "kernel":
      fan_in = int(np.prod(leaf.shape[:-1]))
      return (rng.standard_normal(leaf.shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
    return np.full(leaf.shape, 1.0 if name in ("scale", "var") else 0.0, np.float32)

  return jax.tree_util.tree_map_with_path(draw, param_shapes())


# ----------------------------------------------------------------------------
# Weights.
# ----------------------------------------------------------------------------

_BN_NAMES = {"weight": "scale", "bias": "bias", "running_mean": "mean",
             "running_var": "var"}


def _flax_path(torch_key: str) -> tuple[tuple[str, ...], str] | None:
  """``Mixed_5b.branch1x1.conv.weight`` -> (("Mixed_5b", "branch1x1"), "kernel")."""
  *modules, layer, name = torch_key.split(".")
  if layer == "conv" and name == "weight":
    return tuple(modules), "kernel"
  if layer == "bn" and name in _BN_NAMES:
    return tuple(modules), _BN_NAMES[name]
  return None  # fc.*, num_batches_tracked, AuxLogits: not part of pool3.


def params_from_state_dict(state: dict[str, np.ndarray], expected: Any) -> Any:
  """Maps pytorch-fid's state dict onto the parameter tree ``expected`` has.

  Args:
    state: torch names -> arrays.
    expected: the parameter tree (arrays or ShapeDtypeStructs) to fill.

  Raises:
    UserError: a parameter is missing or has the wrong shape.
  """
  flat: dict[tuple[str, ...], np.ndarray] = {}
  for key, value in state.items():
    path = _flax_path(key)
    if path is None:
      continue
    modules, name = path
    if name == "kernel":
      value = np.transpose(value, (2, 3, 1, 0))  # OIHW -> HWIO.
    flat[(*modules, name)] = np.asarray(value, np.float32)

  def fill(path: Sequence[Any], leaf: Any) -> np.ndarray:
    names = tuple(p.key for p in path)
    if names not in flat:
      raise UserError(f"the Inception weights lack {'.'.join(names)} (expected "
                      "pytorch-fid's FID Inception state dict)")
    if flat[names].shape != tuple(leaf.shape):
      raise UserError(f"Inception weight {'.'.join(names)} has shape "
                      f"{flat[names].shape}, expected {tuple(leaf.shape)}")
    return flat[names]

  return jax.tree_util.tree_map_with_path(fill, expected)


def read_weights_file(path: str | Path) -> dict[str, np.ndarray]:
  """The state dict in ``path`` (.pth via the torch-free reader, or .npz).

  Raises:
    UserError: missing or unreadable file.
  """
  from ganjax.evaluation import torch_weights
  path = Path(path).expanduser()
  if not path.is_file():
    raise UserError(f"Inception weights file {path} does not exist")
  try:
    if path.suffix == ".npz":
      with np.load(path) as archive:
        return {k: archive[k] for k in archive.files}
    return torch_weights.load_state_dict(path)
  except (torch_weights.TorchFileError, OSError, ValueError, EOFError) as e:
    raise UserError(f"cannot read Inception weights {path}: {e}") from e


def file_sha256(path: str | Path) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as file:
    for block in iter(lambda: file.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def load_params(path: str | Path) -> Any:
  """Inception parameters from a weights file (see the module docstring)."""
  return params_from_state_dict(read_weights_file(path), param_shapes())


def extractor(weights: str | Path, logits_from: extractor_lib.FeatureExtractor
              ) -> extractor_lib.FeatureExtractor:
  """Inception pool3 features beside ``logits_from``'s logits (domain classifier)."""
  params = load_params(weights)
  return extractor_lib.features_from(
      NAME, params, features, FEATURE_DIM,
      {"inception_weights": str(Path(weights).expanduser().absolute()),
       "inception_sha256": file_sha256(Path(weights).expanduser()),
       "preprocessing": "grayscale tiled to RGB, bilinear resize to 299 (half-pixel, "
                        "no antialias), scaled to [-1, 1]"},
      logits_from)
