"""Inception-V3 (FID weights) in flax and the torch-free reader of its weights file.

No network access here, so the real pytorch-fid weights cannot be fetched: the
architecture is checked with random weights (2048 pool3 features, shapes of every
layer), and the readers with state dicts written in torch.save's two formats.
"""

import collections
import io
import pickle
import struct
import sys
import types
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganjax.evaluation import inception, torch_weights
from ganjax.utils.errors import UserError


@pytest.fixture(scope="module")
def params():
  return inception.random_params(seed=0)


def test_architecture_gives_2048_features_for_grayscale_digits(params):
  # The parameter count of pytorch-fid's FID Inception without fc and aux head.
  count = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params))
  assert count == 21_820_000
  images = jax.random.uniform(jax.random.PRNGKey(0), (2, 28, 28, 1))
  assert inception.preprocess(images).shape == (2, 299, 299, 3)
  features = jax.jit(inception.features)(params, images)
  assert features.shape == (2, inception.FEATURE_DIM)
  assert bool(jnp.all(jnp.isfinite(features)))
  assert float(jnp.abs(features[0] - features[1]).max()) > 0  # Depends on the image.


def test_preprocess_matches_half_pixel_bilinear_resize():
  # A 2x2 image resized to 4x4 with half-pixel centres (F.interpolate with
  # align_corners=False): edge pixels are copies, inner ones 1/4-3/4 mixes.
  image = jnp.asarray([[0.0, 1.0], [0.0, 1.0]]).reshape(1, 2, 2, 1)
  resized = jax.image.resize(image, (1, 4, 4, 1), "bilinear", antialias=False)
  np.testing.assert_allclose(resized[0, 0, :, 0], [0.0, 0.25, 0.75, 1.0], atol=1e-6)


def _torch_state_dict(params) -> dict[str, np.ndarray]:
  """pytorch-fid's names and layouts for ``params`` (the inverse of the loader)."""
  names = {"kernel": "conv.weight", "scale": "bn.weight", "bias": "bn.bias",
           "mean": "bn.running_mean", "var": "bn.running_var"}
  state = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    keys = [p.key for p in path]
    value = np.asarray(leaf)
    if keys[-1] == "kernel":
      value = np.transpose(value, (3, 2, 0, 1))  # HWIO -> OIHW.
    state[".".join(keys[:-1] + [names[keys[-1]]])] = value
    if keys[-1] == "var":
      state[".".join(keys[:-1] + ["bn.num_batches_tracked"])] = np.array(0, np.int64)
  state["fc.weight"] = np.zeros((1008, 2048), np.float32)
  state["fc.bias"] = np.zeros((1008,), np.float32)
  return state


# --- A minimal torch.save writer (no torch here): fake torch globals. ---------


class _Storage:
  def __init__(self, key: str, array: np.ndarray):
    self.key, self.array = key, np.ascontiguousarray(array).reshape(-1)


class _Tensor:
  def __init__(self, storage: _Storage, shape, stride, offset=0):
    self.storage, self.shape, self.stride, self.offset = storage, shape, stride, offset

  def __reduce__(self):
    rebuild = sys.modules["torch._utils"]._rebuild_tensor_v2
    return rebuild, (self.storage, self.offset, tuple(self.shape), tuple(self.stride),
                     False, collections.OrderedDict())


@pytest.fixture
def fake_torch(monkeypatch):
  """Importable stand-ins for the globals torch.save writes (for pickling only)."""
  torch = types.ModuleType("torch")
  utils = types.ModuleType("torch._utils")
  storage_types = {}
  for name in ("FloatStorage", "LongStorage"):
    storage_types[name] = type(name, (), {"__module__": "torch"})
    setattr(torch, name, storage_types[name])

  def _rebuild_tensor_v2(*args):
    raise AssertionError("never called: only pickled")

  _rebuild_tensor_v2.__module__ = "torch._utils"
  _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
  utils._rebuild_tensor_v2 = _rebuild_tensor_v2
  monkeypatch.setitem(sys.modules, "torch", torch)
  monkeypatch.setitem(sys.modules, "torch._utils", utils)
  return storage_types


def _tensors(state: dict[str, np.ndarray]):
  """Tensors over storages; 2-D ones are stored transposed (strided views)."""
  tensors, storages = collections.OrderedDict(), []
  for i, (name, value) in enumerate(state.items()):
    if value.ndim == 2:  # Column-major storage: exercises strides.
      storage = _Storage(str(i), value.T)
      tensors[name] = _Tensor(storage, value.shape, (1, value.shape[0]))
    else:
      storage = _Storage(str(i), value)
      strides = [int(np.prod(value.shape[j + 1:])) for j in range(value.ndim)]
      tensors[name] = _Tensor(storage, value.shape, strides)
    storages.append(storage)
  return tensors, storages


def _storage_type(storage: _Storage, types_):
  return types_["LongStorage" if storage.array.dtype == np.int64 else "FloatStorage"]


def _pickle(tensors, persistent_id) -> bytes:
  buffer = io.BytesIO()
  pickler = pickle.Pickler(buffer, protocol=2)
  pickler.persistent_id = persistent_id
  pickler.dump(tensors)
  return buffer.getvalue()


def write_zip_format(path, state, types_) -> None:
  tensors, storages = _tensors(state)
  persistent = lambda obj: (("storage", _storage_type(obj, types_), obj.key, "cpu",
                             obj.array.size) if isinstance(obj, _Storage) else None)
  with zipfile.ZipFile(path, "w") as archive:
    archive.writestr("archive/data.pkl", _pickle(tensors, persistent))
    for storage in storages:
      archive.writestr(f"archive/data/{storage.key}", storage.array.tobytes())


def write_legacy_format(path, state, types_) -> None:
  tensors, storages = _tensors(state)
  persistent = lambda obj: (("storage", _storage_type(obj, types_), obj.key, "cpu",
                             obj.array.size, None) if isinstance(obj, _Storage) else None)
  with open(path, "wb") as file:
    for header in (torch_weights.LEGACY_MAGIC_NUMBER, torch_weights.LEGACY_PROTOCOL_VERSION,
                   {"little_endian": True}):
      pickle.dump(header, file, protocol=2)
    file.write(_pickle(tensors, persistent))
    pickle.dump([s.key for s in storages], file, protocol=2)
    for storage in storages:
      file.write(struct.pack("<q", storage.array.size) + storage.array.tobytes())


@pytest.mark.parametrize("container", ["npz", "zip", "legacy"])
def test_weights_file_round_trip(params, tmp_path, fake_torch, container):
  state = _torch_state_dict(params)
  path = tmp_path / ("weights.npz" if container == "npz" else "weights.pth")
  if container == "npz":
    np.savez(path, **state)
  elif container == "zip":
    write_zip_format(path, state, fake_torch)
  else:
    write_legacy_format(path, state, fake_torch)
  loaded = inception.load_params(path)
  jax.tree.map(np.testing.assert_array_equal, loaded, jax.device_get(params))


def test_bad_weights_are_one_line_errors(params, tmp_path):
  state = _torch_state_dict(params)
  del state["Mixed_7c.branch_pool.conv.weight"]
  np.savez(tmp_path / "partial.npz", **state)
  with pytest.raises(UserError, match="lack Mixed_7c.branch_pool.kernel"):
    inception.load_params(tmp_path / "partial.npz")
  (tmp_path / "junk.pth").write_bytes(b"not a torch file")
  with pytest.raises(UserError, match="cannot read Inception weights"):
    inception.load_params(tmp_path / "junk.pth")
  with pytest.raises(UserError, match="does not exist"):
    inception.load_params(tmp_path / "missing.pth")


def test_reader_refuses_code_in_pickles(tmp_path):
  path = tmp_path / "evil.pth"
  with zipfile.ZipFile(path, "w") as archive:
    archive.writestr("archive/data.pkl", pickle.dumps(print))  # builtins.print
  with pytest.raises(torch_weights.TorchFileError, match="unsupported object"):
    torch_weights.load_state_dict(path)
