"""The domain classifier: a small CNN whose features and logits drive evaluation.

Inception-V3 features are the convention for natural images, but on 28x28 digits
a network trained on the domain itself is the more sensitive judge (and runs in
milliseconds on a CPU). This module holds the network, its training loop and its
on-disk form:

  DIR/classifier.json   metadata: architecture, data and splits, held-out
                        accuracy, sha256 of the parameters (the eval protocol
                        records this hash), ganjax version
  DIR/params/           the parameters, an orbax checkpoint

``classifier.json`` is written last, so a directory without it holds no usable
classifier (e.g. an interrupted training).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ganjax.data import prepared as prepared_data
from ganjax.nn import Conv
from ganjax.utils import paths
from ganjax.utils.errors import UserError

METADATA_FILE = "classifier.json"
PARAMS_DIR = "params"
FORMAT = "ganjax-classifier/1"

#: Where classifiers are looked for when none is named: ``<root>/<dataset>``.
CLASSIFIERS_ENV = "GANJAX_CLASSIFIERS"
DEFAULT_CLASSIFIERS_ROOT = "~/.cache/ganjax/classifiers"


class ClassifierError(UserError):
  """A classifier directory is missing, incomplete, corrupt or does not fit the data."""


# ----------------------------------------------------------------------------
# The network.
# ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Architecture:
  """Hyperparameters of :class:`DomainClassifier` (stored in ``classifier.json``).

  Attributes:
    features: output channels of the stride-2 5x5 convolutions.
    hidden: width of the penultimate dense layer (the feature dimension).
    dropout_rate: dropout before the logits, during training only.
  """
  features: tuple[int, ...] = (32, 64)
  hidden: int = 128
  dropout_rate: float = 0.3

  def to_json(self) -> dict[str, Any]:
    return {"name": "DomainClassifier", "features": list(self.features),
            "hidden": self.hidden, "dropout_rate": self.dropout_rate}

  @classmethod
  def from_json(cls, data: dict[str, Any]) -> "Architecture":
    return cls(tuple(data["features"]), int(data["hidden"]), float(data["dropout_rate"]))


class DomainClassifier(nn.Module):
  """Images (B, H, W, C) in [0, 1] -> (penultimate features (B, hidden), logits).

  Stride-2 'SAME' convolutions work for any H x W; the dense layers are sized at
  initialisation from the image shape. The features are taken after the ReLU,
  like Inception's pool3 features.
  """
  num_classes: int
  architecture: Architecture = Architecture()

  @nn.compact
  def __call__(self, images: jax.Array, *, train: bool = False
               ) -> tuple[jax.Array, jax.Array]:
    x = images.astype(jnp.float32) * 2.0 - 1.0  # Zero-centred inputs train faster.
    for features in self.architecture.features:
      x = nn.relu(Conv(features, 5, strides=2)(x))
    x = x.reshape((x.shape[0], -1))
    features = nn.relu(nn.Dense(self.architecture.hidden)(x))
    dropped = nn.Dropout(self.architecture.dropout_rate, deterministic=not train)(features)
    return features, nn.Dense(self.num_classes)(dropped)


def init_params(module: DomainClassifier, image_shape: tuple[int, int, int],
                key: jax.Array) -> Any:
  """Parameters of ``module`` for images of ``image_shape`` (H, W, C).

  Jitted: op-by-op initialisation compiles every small op on its own (seconds).
  """
  init = lambda k: module.init(k, jnp.zeros((1, *image_shape), jnp.float32))["params"]
  return jax.jit(init)(key)


# ----------------------------------------------------------------------------
# Training.
# ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TrainSettings:
  """How the classifier is trained (recorded in ``classifier.json``).

  Attributes:
    steps: optimizer steps.
    batch_size: images per step.
    learning_rate: peak Adam learning rate (cosine decay to 0 over ``steps``).
    weight_decay: decoupled weight decay (AdamW).
    max_shift: random translation of up to this many pixels per axis: the
      augmentation that matters most for small digit datasets.
    seed: initialisation, batch order and augmentation.
  """
  steps: int = 2000
  batch_size: int = 128
  learning_rate: float = 2e-3
  weight_decay: float = 1e-4
  max_shift: int = 2
  seed: int = 0


def random_shift(images: jax.Array, key: jax.Array, max_shift: int) -> jax.Array:
  """Translates each image by up to ``max_shift`` pixels (zero fill)."""
  if max_shift == 0:
    return images
  batch, height, width, _ = images.shape
  padded = jnp.pad(images, ((0, 0), (max_shift,) * 2, (max_shift,) * 2, (0, 0)))
  offsets = jax.random.randint(key, (batch, 2), 0, 2 * max_shift + 1)

  def crop(image: jax.Array, offset: jax.Array) -> jax.Array:
    return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0),
                                 (height, width, image.shape[-1]))

  return jax.vmap(crop)(padded, offsets)


def _make_train_step(module: DomainClassifier, tx: optax.GradientTransformation,
                     max_shift: int) -> Callable:
  """A jitted ``(params, opt_state, images, labels, indices, key) -> (...)``.

  ``images`` (uint8) and ``labels`` stay on device for the whole run; each
  step gathers its batch by index, so only indices cross from the host.
  """

  def step(params, opt_state, images, labels, indices, key):
    shift_key, dropout_key = jax.random.split(key)
    batch = random_shift(images[indices].astype(jnp.float32) / 255.0, shift_key,
                         max_shift)
    targets = labels[indices]

    def loss_fn(p):
      _, logits = module.apply({"params": p}, batch, train=True,
                               rngs={"dropout": dropout_key})
      loss = optax.softmax_cross_entropy_with_integer_labels(logits, targets).mean()
      return loss, jnp.mean(jnp.argmax(logits, -1) == targets)

    (loss, accuracy), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss, accuracy

  return jax.jit(step, donate_argnums=(0, 1))


def batch_order(num_examples: int, batch_size: int, seed: int) -> Iterator[np.ndarray]:
  """Endless batches of indices: a fresh permutation per epoch, no repeats within one."""
  rng = np.random.default_rng(seed)
  if num_examples < batch_size:
    raise UserError(f"need at least batch_size={batch_size} training images, "
                    f"got {num_examples}")
  while True:
    order = rng.permutation(num_examples)
    for start in range(0, num_examples - batch_size + 1, batch_size):
      yield order[start:start + batch_size]


def train(images: np.ndarray, labels: np.ndarray, num_classes: int,
          architecture: Architecture = Architecture(),
          settings: TrainSettings = TrainSettings(),
          progress: Optional[Callable[[int, float, float], None]] = None) -> Any:
  """Trains a :class:`DomainClassifier` with AdamW and random shifts.

  Args:
    images: uint8 (N, H, W, C) training images.
    labels: int (N,) class labels in [0, num_classes).
    num_classes: number of classes.
    architecture: network hyperparameters.
    settings: optimisation hyperparameters.
    progress: called after every step with (step, loss, batch accuracy); the
      values are device scalars fetched only if the callback reads them.

  Returns:
    The trained parameters.
  """
  module = DomainClassifier(num_classes, architecture)
  init_key, step_key = jax.random.split(jax.random.PRNGKey(settings.seed))
  params = init_params(module, images.shape[1:], init_key)
  schedule = optax.cosine_decay_schedule(settings.learning_rate, settings.steps)
  tx = optax.adamw(schedule, weight_decay=settings.weight_decay)
  opt_state = tx.init(params)
  step_fn = _make_train_step(module, tx, settings.max_shift)
  device_images, device_labels = jnp.asarray(images), jnp.asarray(labels, jnp.int32)
  batches = batch_order(len(images), settings.batch_size, settings.seed)
  for step in range(settings.steps):
    params, opt_state, loss, accuracy = step_fn(
        params, opt_state, device_images, device_labels, next(batches),
        jax.random.fold_in(step_key, step))
    if progress is not None:
      progress(step + 1, loss, accuracy)
  return params


def predict_logits(module: DomainClassifier, params: Any, images: np.ndarray,
                   batch_size: int = 1000) -> np.ndarray:
  """Logits of uint8 images, in fixed-size (padded) batches: one compilation."""
  apply = jax.jit(lambda p, x: module.apply({"params": p}, x.astype(jnp.float32) / 255.0)[1])
  outputs = []
  for start in range(0, len(images), batch_size):
    chunk = images[start:start + batch_size]
    padded = np.concatenate([chunk, np.zeros((batch_size - len(chunk), *chunk.shape[1:]),
                                             chunk.dtype)]) if len(chunk) < batch_size else chunk
    outputs.append(np.asarray(apply(params, padded))[:len(chunk)])
  return np.concatenate(outputs)


def accuracy(module: DomainClassifier, params: Any, images: np.ndarray,
             labels: np.ndarray) -> float:
  """Fraction of ``images`` whose arg-max logit is the label."""
  return float(np.mean(predict_logits(module, params, images).argmax(-1) == labels))


# ----------------------------------------------------------------------------
# On disk.
# ----------------------------------------------------------------------------


def params_sha256(params: Any) -> str:
  """A hash of parameter names, shapes, dtypes and values, independent of storage.

  Two classifiers with this hash compute the same function, which is what an
  evaluation protocol must pin down (a file hash would change with the
  checkpoint library's layout).
  """
  digest = hashlib.sha256()
  leaves = jax.tree_util.tree_flatten_with_path(params)[0]
  for path, leaf in sorted(leaves, key=lambda item: jax.tree_util.keystr(item[0])):
    array = np.ascontiguousarray(np.asarray(leaf))
    digest.update(f"{jax.tree_util.keystr(path)}:{array.dtype.str}:{array.shape};".encode())
    digest.update(array.tobytes())
  return digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class Classifier:
  """A restored domain classifier.

  Attributes:
    directory: where it was read from.
    module: the network.
    params: its parameters (host or device arrays).
    metadata: the contents of ``classifier.json``.
  """
  directory: Path
  module: DomainClassifier
  params: Any
  metadata: dict[str, Any]

  @property
  def image_shape(self) -> tuple[int, int, int]:
    return tuple(self.metadata["image_shape"])

  @property
  def num_classes(self) -> int:
    return int(self.metadata["num_classes"])

  @property
  def sha256(self) -> str:
    return self.metadata["params_sha256"]

  @property
  def name(self) -> str:
    return f"domain_classifier:{self.metadata['dataset']['name']}"


def save(directory: Path, params: Any, metadata: dict[str, Any]) -> dict[str, Any]:
  """Writes ``params`` (orbax) and then ``classifier.json``; returns the metadata.

  The parameter hash and format tag are added to ``metadata`` here, so the file
  always describes the parameters next to it. An existing classifier in
  ``directory`` is replaced only once the new parameters are completely written
  (to ``.params.new``, then renamed).

  Raises:
    ClassifierError: writing failed (disk full, permissions...); what this call
      wrote is removed and an existing classifier is left as it was (unless the
      failure came after its parameters were replaced).
  """
  import orbax.checkpoint as ocp
  directory = Path(directory).expanduser().absolute()
  metadata = {"format": FORMAT, **metadata, "params_sha256": params_sha256(params)}
  missing = [d for d in (directory, *directory.parents) if not d.exists()]
  staging = directory / ".params.new"
  try:
    directory.mkdir(parents=True, exist_ok=True)
    if staging.exists():  # Left by an interrupted save.
      shutil.rmtree(staging)
    checkpointer = ocp.StandardCheckpointer()
    try:
      checkpointer.save(staging, jax.device_get(params))
      checkpointer.wait_until_finished()
    finally:
      checkpointer.close()
    (directory / METADATA_FILE).unlink(missing_ok=True)  # Incomplete until rewritten.
    if (directory / PARAMS_DIR).exists():
      shutil.rmtree(directory / PARAMS_DIR)
    os.replace(staging, directory / PARAMS_DIR)
    paths.write_json(directory / METADATA_FILE, metadata)
  except BaseException as e:
    shutil.rmtree(staging, ignore_errors=True)
    for path in directory.glob(".params.new*"):  # orbax's own temporary directory.
      shutil.rmtree(path, ignore_errors=True)
    if missing:  # Made by this call: nothing else is in it.
      shutil.rmtree(directory, ignore_errors=True)
      for parent in missing[1:]:
        try:
          parent.rmdir()
        except OSError:
          break
    if not isinstance(e, Exception):
      raise
    cause = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
    raise ClassifierError(f"could not write the classifier to {directory} ({cause})"
                          ) from e
  return metadata


def read_metadata(directory: Path) -> dict[str, Any]:
  """``classifier.json`` of ``directory``.

  Raises:
    ClassifierError: missing, unreadable or of an unknown format.
  """
  path = Path(directory) / METADATA_FILE
  if not path.exists():
    raise ClassifierError(f"{directory} holds no trained classifier ({METADATA_FILE} "
                          "missing; train one with python -m ganjax.classifier)")
  try:
    metadata = json.loads(path.read_text())
  except (OSError, json.JSONDecodeError) as e:
    raise ClassifierError(f"{path} is unreadable ({e}); retrain the classifier") from e
  if metadata.get("format") != FORMAT:
    raise ClassifierError(f"{path} is not a {FORMAT} file; retrain the classifier")
  return metadata


def load(directory: os.PathLike | str) -> Classifier:
  """Restores the classifier in ``directory`` and checks its parameter hash.

  Raises:
    ClassifierError: missing or incomplete directory, unreadable parameters, or
      parameters whose hash differs from the recorded one (corruption, or a
      ``params/`` from another classifier).
  """
  import orbax.checkpoint as ocp
  directory = Path(directory).expanduser().absolute()
  metadata = read_metadata(directory)
  module = DomainClassifier(int(metadata["num_classes"]),
                            Architecture.from_json(metadata["architecture"]))
  target = jax.eval_shape(lambda: init_params(module, tuple(metadata["image_shape"]),
                                              jax.random.PRNGKey(0)))
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  target = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device),
                        target)
  checkpointer = ocp.StandardCheckpointer()
  try:
    params = checkpointer.restore(directory / PARAMS_DIR, target)
  except Exception as e:  # orbax raises many types for missing/corrupt files.
    first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
    raise ClassifierError(f"cannot read the classifier parameters in "
                          f"{directory / PARAMS_DIR} ({first}); retrain it") from e
  finally:
    checkpointer.close()
  if params_sha256(params) != metadata["params_sha256"]:
    raise ClassifierError(f"the parameters in {directory / PARAMS_DIR} do not match the "
                          f"sha256 recorded in {METADATA_FILE}; retrain the classifier")
  return Classifier(directory, module, params, metadata)


def dataset_key(name: str, idx_dir: Optional[str] = None) -> str:
  """The name a dataset's classifier is filed under.

  With IDX files ``data.name`` is only a label (experiments reading
  Fashion-MNIST's IDX files keep the default "mnist"), so the directory's name
  identifies the data: ``/usr/share/datasets/fashion-mnist`` -> "fashion-mnist".
  """
  if idx_dir:
    return Path(idx_dir).expanduser().absolute().name or name
  return name


def default_dir(dataset: str) -> Path:
  """``$GANJAX_CLASSIFIERS/<dataset>``, by default ``~/.cache/ganjax/classifiers/<dataset>``."""
  root = os.environ.get(CLASSIFIERS_ENV) or DEFAULT_CLASSIFIERS_ROOT
  return Path(root).expanduser().absolute() / dataset


def train_command(dataset: str, idx_dir: Optional[str], workdir: Path) -> str:
  """The command line that trains the classifier ``find`` looks for."""
  idx = f" --idx_dir {Path(idx_dir).expanduser().absolute()}" if idx_dir else ""
  return f"python -m ganjax.classifier --dataset {dataset}{idx} --workdir {workdir}"


def find(explicit: Optional[str], configured: Optional[str], dataset: str,
         idx_dir: Optional[str] = None, folder: Optional[str] = None,
         prepared: Optional[str] = None) -> Path:
  """The classifier directory to use: explicit flag, then config, then default.

  We deliberately do not train a missing classifier on the fly: training takes
  minutes and its data and splits are part of the evaluation protocol, so it is
  one explicit, recorded command.

  Args:
    explicit: a directory named on the command line, or None.
    configured: ``config.eval.classifier_dir`` of the run, or None.
    dataset: ``config.data.name``.
    idx_dir: ``config.data.idx_dir``; with ``dataset`` it names the default
      directory (:func:`dataset_key`) and is repeated in the suggested command.
    folder: ``config.data.folder``: a folder of images has no default
      classifier (what its images show is known only to the user).
    prepared: ``config.data.prepared``: a dataset prepared from IDX files
      (``ganjax.prepare --idx_dir``) has the default classifier of those files;
      one prepared from a folder or TFDS has none, like a folder.

  Raises:
    ClassifierError: the chosen directory holds no classifier; the message is
      one line with the command that trains one there. For a folder (or a
      prepared dataset not made from IDX files) without ``explicit`` or
      ``configured``: one line saying how to name one.
    DataError: ``prepared`` holds no readable prepared dataset.
  """
  chosen = explicit or configured
  if not chosen and folder:
    raise ClassifierError(
        "a folder of images has no default domain classifier: name one trained on "
        "images like them (python -m ganjax.classifier --folder DIR --workdir "
        "CLASSIFIER) with --classifier CLASSIFIER or config.eval.classifier_dir")
  command = None
  if not chosen and prepared:
    prepared = Path(prepared).expanduser().absolute()
    idx_dir = prepared_data.idx_origin(prepared_data.read_info(prepared))
    if idx_dir is None:
      raise ClassifierError(
          f"the prepared dataset {prepared} was not made from IDX files, so it has no "
          "default domain classifier: name one trained on it (python -m "
          f"ganjax.classifier --prepared {prepared} --workdir CLASSIFIER) with "
          "--classifier CLASSIFIER or config.eval.classifier_dir")
    command = f"python -m ganjax.classifier --prepared {prepared} --workdir "
  key = dataset_key(dataset, idx_dir)
  directory = Path(chosen).expanduser().absolute() if chosen else default_dir(key)
  if not (directory / METADATA_FILE).exists():
    command = (f"{command}{directory}" if command
               else train_command(key, idx_dir, directory))
    raise ClassifierError(f"no domain classifier in {directory}; train one with: {command}")
  return directory


def utc_now() -> str:
  return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
