"""What a checkpoint records beside the training state: a typed, versioned schema.

The ``state`` item of a checkpoint is the run's pytree (its shapes say what it
is); the ``meta`` item is :class:`RunMetadata` as JSON: enough to rebuild the
networks without loading data (batch layout, number of classes, config) and to
check that a resume continues the same run (config, data identity). Its
``schema`` number rises whenever the state tree or these fields change: an older
checkpoint is migrated by :func:`RunMetadata.from_json`, a newer one is refused
with a sentence naming both versions.
"""

import dataclasses
from typing import Any, Optional

from ganjax.utils.errors import UserError

#: Version of what a checkpoint holds (the state tree and these fields).
#: 1: generator and discriminator states, the run key; this metadata.
#: 2: the generator state may also hold ``ema_params`` (config.ema) and the
#:    discriminator state ADA's ``augment_p`` (config.augment). A schema-1
#:    checkpoint is a schema-2 one without them: it reads unchanged.
#: 3: the metadata may hold ``class_names`` (data that names its classes, e.g. a
#:    folder of class subfolders). A schema-2 checkpoint is a schema-3 one
#:    without them: it reads unchanged.
#: 4: a population (``config.train.population`` > 1): every leaf of the state has
#:    a leading member axis, and the tree also holds ``active`` and ``rollbacks``
#:    per member. A schema-3 checkpoint is a schema-4 single run: it reads unchanged.
SCHEMA_VERSION = 4


class IncompatibleCheckpointError(UserError):
  """An intact checkpoint that does not fit the current run; nothing is changed."""


@dataclasses.dataclass(frozen=True)
class RunMetadata:
  """A checkpoint's metadata.

  Attributes:
    config: the run's config as a plain dict.
    batch_spec: per batch entry (``image``, ``label``, ``input``), the shape of
      one example and the dtype the model sees.
    num_classes: classes of labelled data, else None.
    dataset: identity of the training data (source, counts, content hash; see
      :func:`ganjax.data.examples.data_identity`).
    rollbacks: NaN/Inf rollbacks so far (they move the random stream on).
    class_names: the name of each class in label order when the data names
      them (``ganjax.sample --label NAME``), else None.
  """
  config: dict[str, Any]
  batch_spec: dict[str, dict[str, Any]]
  num_classes: Optional[int]
  dataset: dict[str, Any] = dataclasses.field(default_factory=dict)
  rollbacks: int = 0
  class_names: Optional[list[str]] = None

  @property
  def image_shape(self) -> tuple[int, ...]:
    """Shape (H, W, C) of a generated (target) image."""
    return tuple(self.batch_spec["image"]["shape"])

  @property
  def input_shape(self) -> Optional[tuple[int, ...]]:
    """Shape of an image-to-image model's input image, else None."""
    entry = self.batch_spec.get("input")
    return None if entry is None else tuple(entry["shape"])

  def to_json(self) -> dict[str, Any]:
    return {**dataclasses.asdict(self), "schema": SCHEMA_VERSION}

  @classmethod
  def from_json(cls, raw: dict[str, Any], step: int) -> "RunMetadata":
    """Reads (and migrates) the metadata of checkpoint ``step``.

    Checkpoints written before the schema was numbered hold schema 1's fields.

    Raises:
      IncompatibleCheckpointError: written by a newer ganjax, or fields missing.
    """
    schema = raw.get("schema", 1)
    if not isinstance(schema, int) or schema > SCHEMA_VERSION:
      raise IncompatibleCheckpointError(
          f"checkpoint {step} was written by a newer ganjax (checkpoint schema "
          f"{schema}, this version reads {SCHEMA_VERSION}); upgrade ganjax to resume it")
    names = [f.name for f in dataclasses.fields(cls)]
    missing = [f.name for f in dataclasses.fields(cls)
               if f.name not in raw and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
      raise IncompatibleCheckpointError(
          f"checkpoint {step} (schema {schema}) has no {', '.join(missing)} in its "
          "metadata; this ganjax cannot read it")
    return cls(**{name: raw[name] for name in names if name in raw})
