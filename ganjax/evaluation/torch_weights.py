"""Read a PyTorch ``state_dict`` file (``torch.save``) into NumPy arrays, without torch.

Only what weight files contain is understood: an (Ordered)dict of tensors built
by ``torch._utils._rebuild_tensor_v2`` / ``_rebuild_parameter`` from typed
storages. Any other global in the pickle is refused, so loading a file cannot
run code. Both container formats ``torch.save`` has written are read:

* the zip format (torch >= 1.6): ``<name>/data.pkl`` holds the pickle, each
  storage is the raw little-endian bytes of ``<name>/data/<key>``;
* the legacy format (what pytorch-fid's 2019 ``pt_inception-2015-12-05-*.pth``
  uses): pickles of a magic number, protocol version and system info, the
  object pickle, the list of storage keys, then per storage an int64 element
  count followed by the raw bytes.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001

_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class TorchFileError(ValueError):
  """The file is not a state dict in a format this reader understands."""


@dataclasses.dataclass(frozen=True)
class _StorageType:
  dtype: np.dtype


@dataclasses.dataclass
class _Storage:
  """A storage's dtype and, once read, its flat data."""
  dtype: np.dtype
  numel: int
  data: np.ndarray | None = None


@dataclasses.dataclass(frozen=True)
class _LazyTensor:
  """A tensor view on a storage whose bytes may come later in the file."""
  storage: _Storage
  offset: int
  shape: tuple[int, ...]
  stride: tuple[int, ...]

  def materialise(self) -> np.ndarray:
    flat = self.storage.data
    if flat is None:
      raise TorchFileError("a tensor refers to a storage whose data is missing")
    if not self.shape:
      return np.array(flat[self.offset])
    itemsize = flat.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        flat[self.offset:], shape=self.shape, strides=[s * itemsize for s in self.stride])
    return np.array(view)  # A copy: the view would pin the whole storage.


def _rebuild_tensor(storage: _Storage, offset: int, shape, stride, *unused) -> _LazyTensor:
  del unused  # requires_grad, backward hooks, metadata.
  return _LazyTensor(storage, int(offset), tuple(shape), tuple(stride))


def _rebuild_parameter(data: _LazyTensor, *unused) -> _LazyTensor:
  del unused
  return data


class _Unpickler(pickle.Unpickler):
  """Resolves only the globals a state dict needs; storages via ``storages``."""

  def __init__(self, file: BinaryIO, load_storage):
    super().__init__(file)
    self._load_storage = load_storage

  def find_class(self, module: str, name: str) -> Any:
    if module == "torch" and name in _STORAGE_DTYPES:
      return _StorageType(np.dtype(_STORAGE_DTYPES[name]))
    allowed = {("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
               ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
               ("collections", "OrderedDict"): collections.OrderedDict}
    if (module, name) not in allowed:
      raise TorchFileError(f"unsupported object {module}.{name} in the weights file")
    return allowed[(module, name)]

  def persistent_load(self, pid: Any) -> _Storage:
    kind = pid[0].decode() if isinstance(pid[0], bytes) else pid[0]
    if kind != "storage":
      raise TorchFileError(f"unsupported persistent object {kind!r}")
    return self._load_storage(pid[1:])


def _read_zip(path: Path) -> Any:
  with zipfile.ZipFile(path) as archive:
    names = archive.namelist()
    pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
    if not pickles:
      raise TorchFileError(f"{path} is a zip file without data.pkl")
    prefix = pickles[0][:-len("data.pkl")]

    def load_storage(args) -> _Storage:
      storage_type, key, _location, numel = args[:4]
      raw = archive.read(f"{prefix}data/{key}")
      data = np.frombuffer(raw, storage_type.dtype.newbyteorder("<"))
      return _Storage(storage_type.dtype, int(numel), data.astype(storage_type.dtype))

    with archive.open(pickles[0]) as file:
      return _materialise(_Unpickler(io.BytesIO(file.read()), load_storage).load())


def _read_legacy(path: Path) -> Any:
  with open(path, "rb") as file:
    try:
      magic = pickle.load(file)
    except Exception as e:  # Not a pickle at all.
      raise TorchFileError(f"{path} is not a torch.save file ({e})") from e
    if magic != LEGACY_MAGIC_NUMBER:
      raise TorchFileError(f"{path} is not a torch.save file (bad magic number)")
    if pickle.load(file) != LEGACY_PROTOCOL_VERSION:
      raise TorchFileError(f"{path} has an unknown torch.save protocol version")
    pickle.load(file)  # System info (endianness, type sizes).
    storages: dict[str, _Storage] = {}

    def load_storage(args) -> _Storage:
      storage_type, key, _location, numel, view = args
      if view is not None:
        raise TorchFileError("storage views are not supported")
      return storages.setdefault(str(key), _Storage(storage_type.dtype, int(numel)))

    result = _Unpickler(file, load_storage).load()
    for key in pickle.load(file):
      storage = storages[str(key)]
      (count,) = struct.unpack("<q", file.read(8))
      raw = file.read(count * storage.dtype.itemsize)
      if len(raw) != count * storage.dtype.itemsize:
        raise TorchFileError(f"{path} is truncated")
      storage.data = np.frombuffer(raw, storage.dtype.newbyteorder("<")).astype(storage.dtype)
  return _materialise(result)


def _materialise(tree: Any) -> Any:
  if isinstance(tree, dict):
    return {k: _materialise(v) for k, v in tree.items()}
  if isinstance(tree, _LazyTensor):
    return tree.materialise()
  return tree


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
  """The tensors of a ``torch.save``'d state dict, by name.

  Raises:
    TorchFileError: not a state dict file, or one using unsupported features.
  """
  path = Path(path)
  result = _read_zip(path) if zipfile.is_zipfile(path) else _read_legacy(path)
  if not isinstance(result, dict):
    raise TorchFileError(f"{path} holds a {type(result).__name__}, not a state dict")
  return {str(k): v for k, v in result.items() if isinstance(v, np.ndarray)}
