"""Streaming evaluation: images -> features -> statistics -> scores, batch by batch.

A :class:`Measurer` owns the jitted functions for one extractor and batch size,
so repeated measurements (periodic evaluation during training) reuse compiled
code. Per set it keeps, on device:

* the streaming moments of the features (FID; O(d^2) whatever the count),
* the classifier-score sums and the predicted-class histogram,
* per class, the images labelled (or requested) and those the classifier
  recognises as their label (label accuracy, overall and per class),
* the first ``max_stored`` features (KID and the k-NN metrics).

So 50,000 generated images never exist at once: each batch is generated,
converted to 8-bit pixels like real data, passed through the extractor and
reduced, inside one jitted call.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from ganjax.evaluation import protocol, stats
from ganjax.evaluation.extractor import FeatureExtractor
from ganjax.gan import sampling
from ganjax.models import Condition
from ganjax.utils import sharding
from ganjax.utils.errors import UserError


def to_unit_range(images: jax.Array, pixel_range: tuple[float, float]) -> jax.Array:
  """Generated images -> [0, 1], rounded to 8-bit levels.

  Real images are uint8; quantising generated ones the same way (as saving them
  to PNG would) keeps sub-level noise that no real image has from inflating
  the distances.
  """
  low, high = pixel_range
  unit = jnp.clip((images.astype(jnp.float32) - low) / (high - low), 0.0, 1.0)
  return jnp.round(unit * 255.0) / 255.0


@flax.struct.dataclass
class Accumulator:
  """Streaming statistics of one set of images (a pytree, lives on device).

  Attributes:
    moments: feature moments (FID).
    scores: classifier-score sums.
    class_counts: predicted-class histogram, int32 (C,).
    label_counts: images per given label, int32 (C,); images without a label
      (label -1) are not counted.
    correct_counts: per given label, images classified as that label, int32 (C,).
  """
  moments: stats.Moments
  scores: stats.ClassifierScoreStats
  class_counts: jax.Array
  label_counts: jax.Array
  correct_counts: jax.Array


def accumulator_init(feature_dim: int, num_classes: int) -> Accumulator:
  counts = jnp.zeros((num_classes,), jnp.int32)
  return Accumulator(moments=stats.moments_init(feature_dim),
                     scores=stats.classifier_score_init(num_classes),
                     class_counts=counts, label_counts=counts, correct_counts=counts)


def accumulate(acc: Accumulator, features: jax.Array, logits: jax.Array,
               labels: jax.Array) -> Accumulator:
  """Adds one batch (all rows valid) to ``acc``; label -1 means "no label"."""
  predicted = jnp.argmax(logits, axis=-1)
  num_classes = acc.class_counts.shape[0]
  labelled = labels >= 0
  # bincount would file label -1 under class 0: such rows get weight 0.
  per_label = lambda weights: jnp.bincount(jnp.where(labelled, labels, 0),
                                           weights.astype(jnp.int32), length=num_classes)
  return Accumulator(
      moments=stats.moments_update(acc.moments, features.astype(jnp.float32)),
      scores=stats.classifier_score_update(acc.scores, logits, from_logits=True),
      class_counts=acc.class_counts + jnp.bincount(predicted, length=num_classes),
      label_counts=acc.label_counts + per_label(labelled),
      correct_counts=acc.correct_counts + per_label(predicted == labels))


@dataclasses.dataclass
class SetStatistics:
  """Everything the scores need from one set of images.

  Attributes:
    acc: the streaming statistics.
    stored: the first ``max_stored`` features, (n_stored, d).
    count: number of images.
    labelled: whether the images had labels (real ones, or the labels requested
      from a label-conditional generator), so that accuracies exist.
  """
  acc: Accumulator
  stored: jax.Array
  count: int
  labelled: bool

  @property
  def accuracy(self) -> Optional[float]:
    """Fraction of the images the classifier recognises as their label (or None)."""
    if not self.labelled:
      return None
    return float(np.sum(self.acc.correct_counts)) / self.count

  @property
  def per_class_accuracy(self) -> Optional[list[float]]:
    """Per label, the fraction recognised as it (NaN for a label no image had)."""
    if not self.labelled:
      return None
    correct = np.asarray(self.acc.correct_counts, np.float64)
    counts = np.asarray(self.acc.label_counts)
    return [c / n if n else float("nan") for c, n in zip(correct, counts)]


def _pad_batch(x: np.ndarray, size: int) -> np.ndarray:
  missing = size - x.shape[0]
  return x if missing == 0 else np.concatenate(
      [x, np.zeros((missing,) + x.shape[1:], x.dtype)])


class Measurer:
  """Feature statistics of real and generated image sets, with cached compilations.

  Args:
    extractor: the feature/logit network.
    batch_size: images per jitted call (the last batch is padded).
    max_stored: features kept per set for KID and the k-NN metrics.
    mesh: when given, batches are split over its ``data`` axis (the training
      mesh); None runs on the default device.
  """

  def __init__(self, extractor: FeatureExtractor, batch_size: int = 500,
               max_stored: int = stats.DEFAULT_MAX_STORED_FEATURES,
               mesh: Optional[jax.sharding.Mesh] = None):
    self.extractor = extractor
    self.batch_size = batch_size
    self.max_stored = max_stored
    self.mesh = mesh
    self.params = self._place(extractor.params)
    self._extract_real = jax.jit(self._extract_real_impl)
    self._generate = jax.jit(self._generate_impl, static_argnames=("model",))
    self._accumulate = jax.jit(accumulate)

  # -- placement -------------------------------------------------------------

  def _place(self, tree: Any) -> Any:
    if self.mesh is None:
      # Host arrays are uncommitted: jit puts them wherever the generator state
      # lives (e.g. replicated over the training mesh) instead of clashing.
      return jax.device_get(tree)
    return jax.device_put(tree, sharding.replicated(self.mesh))

  def _split_batch(self, x: jax.Array) -> jax.Array:
    """Constrains a batch to be split over the mesh (when it divides evenly)."""
    if self.mesh is None or x.shape[0] % self.mesh.devices.size:
      return x
    return jax.lax.with_sharding_constraint(x, sharding.batch_sharded(self.mesh))

  # -- jitted bodies ---------------------------------------------------------

  def _extract_real_impl(self, params: Any, images: jax.Array
                         ) -> tuple[jax.Array, jax.Array]:
    images = self._split_batch(images)
    return self.extractor.apply(params, images.astype(jnp.float32) / 255.0)

  def _generate_impl(self, g_state: Any, params: Any, key: jax.Array, index: jax.Array,
                     class_probs: Optional[jax.Array], *, model: Any
                     ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Generates batch ``index`` of the stream ``key`` and extracts its features."""
    noise_key, label_key = jax.random.split(jax.random.fold_in(key, index))
    noise = (self._split_batch(model.sample_noise(noise_key, self.batch_size))
             if model.noise_dim else None)
    if model.condition == Condition.LABEL:
      labels = jax.random.choice(label_key, class_probs.shape[0], (self.batch_size,),
                                 p=class_probs).astype(jnp.int32)
      condition = self._split_batch(labels)
    else:
      labels = jnp.full((self.batch_size,), -1, jnp.int32)  # Never matches a class.
      condition = None
    images = sampling.generate(g_state, noise, condition)
    features, logits = self.extractor.apply(params, to_unit_range(images,
                                                                  model.pixel_range))
    return features, logits, labels

  # -- sets ------------------------------------------------------------------

  def _empty(self) -> Accumulator:
    return self._place(accumulator_init(self.extractor.feature_dim,
                                        self.extractor.num_classes))

  def _add(self, acc: Accumulator, stored: list, features: jax.Array,
           logits: jax.Array, labels: jax.Array, valid: int) -> Accumulator:
    """Accumulates the first ``valid`` rows and stores features still needed."""
    if valid < features.shape[0]:  # Tail batch: one extra (small) compilation.
      features, logits, labels = features[:valid], logits[:valid], labels[:valid]
    kept = sum(s.shape[0] for s in stored)
    if kept < self.max_stored:
      stored.append(features[:self.max_stored - kept])
    return self._accumulate(acc, features, logits, labels)

  def real(self, images: np.ndarray, labels: Optional[np.ndarray] = None,
           num: Optional[int] = None, seed: int = 0,
           progress: Optional[Callable[[int], None]] = None) -> SetStatistics:
    """Statistics of (a random subset of) real uint8 images.

    Args:
      images: uint8 (N, H, W, C).
      labels: int (N,) or None; with labels, ``accuracy`` is the classifier's
        accuracy on these images.
      num: how many images to use (None: all), drawn at random with ``seed``;
        the stored features are then a uniform random subset too.
      seed: the subset and order.
      progress: called with the number of images of each finished batch.
    """
    self._check_shape(images.shape[1:], "the reference images")
    order = np.random.default_rng(seed).permutation(len(images))[:num]
    missing = np.full((len(images),), -1, np.int32) if labels is None else labels
    acc, stored = self._empty(), []
    for start in range(0, len(order), self.batch_size):
      rows = order[start:start + self.batch_size]
      features, logits = self._extract_real(
          self.params, self._place(_pad_batch(images[rows], self.batch_size)))
      batch_labels = self._place(_pad_batch(missing[rows].astype(np.int32),
                                            self.batch_size))
      acc = self._add(acc, stored, features, logits, batch_labels, len(rows))
      if progress is not None:
        progress(len(rows))
    return SetStatistics(acc, jnp.concatenate(stored), len(order), labels is not None)

  def generated(self, model: Any, g_state: Any, num: int, seed: int,
                class_probs: Optional[np.ndarray] = None,
                progress: Optional[Callable[[int], None]] = None) -> SetStatistics:
    """Statistics of ``num`` images from the generator in ``g_state``.

    Args:
      model: the run's :class:`ganjax.models.GanModel`.
      g_state: the generator's TrainState.
      num: images to generate (in batches; never all in memory).
      seed: the noise (and requested-label) stream.
      class_probs: (C,) label distribution to request from label-conditional
        models (normally the real class frequencies); ignored otherwise.
      progress: called with the number of images of each finished batch.
    """
    if model.condition not in (Condition.NONE, Condition.LABEL):
      raise UserError(f"evaluation supports unconditional and label-conditional "
                      f"models, not condition={model.condition}")
    if model.condition == Condition.LABEL and class_probs is None:
      raise UserError("a label-conditional model needs the real class distribution "
                      "(reference data without labels?)")
    probs = None if model.condition != Condition.LABEL else self._place(
        jnp.asarray(class_probs, jnp.float32))
    key = jax.random.PRNGKey(seed)
    acc, stored = self._empty(), []
    for index, start in enumerate(range(0, num, self.batch_size)):
      features, logits, labels = self._generate(g_state, self.params, key, index, probs,
                                                model=model)
      valid = min(self.batch_size, num - start)
      acc = self._add(acc, stored, features, logits, labels, valid)
      if progress is not None:
        progress(valid)
    return SetStatistics(acc, jnp.concatenate(stored), num, model.condition == Condition.LABEL)

  def _check_shape(self, shape: tuple[int, ...], what: str) -> None:
    if tuple(shape) != tuple(self.extractor.image_shape):
      raise UserError(f"{what} are {tuple(shape)} but the classifier "
                      f"({self.extractor.name}) takes {tuple(self.extractor.image_shape)};"
                      " train a classifier on this dataset")

  def check_generator(self, model: Any, g_state: Any, class_probs=None) -> None:
    """Raises UserError unless the generator's images fit the extractor."""
    noise = jax.ShapeDtypeStruct((1, model.noise_dim), jnp.float32) if model.noise_dim else None
    condition = (jax.ShapeDtypeStruct((1,), jnp.int32) if model.condition == Condition.LABEL
                 else None)
    out = jax.eval_shape(sampling.generate, g_state, noise, condition)
    self._check_shape(out.shape[1:], "generated images")


def class_frequencies(labels: Optional[np.ndarray], num_classes: int) -> Optional[np.ndarray]:
  """Real class frequencies (C,), or None without labels."""
  if labels is None:
    return None
  counts = np.bincount(labels, minlength=num_classes)[:num_classes].astype(np.float64)
  return counts / counts.sum()


def compare(real: SetStatistics, fake: SetStatistics,
            real_class_freq: Optional[np.ndarray], kid_seed: int = 0) -> dict[str, Any]:
  """All scores of ``fake`` against ``real``.

  Returns:
    ``fid``, ``kid``, ``kid_std_error``, ``classifier_score``, ``precision``,
    ``recall``, ``density``, ``coverage``, ``classes_covered``, ``num_classes``,
    ``class_kl`` (generated vs real class histogram), ``class_histogram`` (a
    list), and ``label_accuracy`` for label-conditional models.
  """
  # Equal set sizes: k-NN radii shrink as a set grows, so unequal sizes would
  # bias precision against recall. Both stored sets are uniform random subsets.
  n_stored = min(real.stored.shape[0], fake.stored.shape[0])
  real_feats, fake_feats = real.stored[:n_stored], fake.stored[:n_stored]
  settings = protocol.metric_settings(n_stored)
  kid, kid_se = stats.kid(real_feats, fake_feats, settings["kid_num_subsets"],
                          settings["kid_subset_size"], key=jax.random.PRNGKey(kid_seed))
  precision, recall = stats.precision_recall(real_feats, fake_feats,
                                             k=settings["precision_recall_k"])
  density, coverage = stats.density_coverage(real_feats, fake_feats,
                                             k=settings["density_coverage_k"])
  counts = np.asarray(fake.acc.class_counts)
  num_classes = counts.shape[0]
  coverage_stats = stats.class_histogram_stats(
      np.repeat(np.arange(num_classes), counts), num_classes, real_class_freq)
  scores = {
      "fid": stats.fid_from_features(real.acc.moments, fake.acc.moments),
      "kid": kid, "kid_std_error": kid_se,
      "classifier_score": stats.classifier_score_finalize(fake.acc.scores),
      "precision": precision, "recall": recall,
      "density": density, "coverage": coverage,
      "classes_covered": coverage_stats["classes_covered"],
      "num_classes": num_classes,
      "class_kl": coverage_stats["class_kl"],
      "class_histogram": coverage_stats["histogram"],
  }
  if fake.labelled:
    scores["label_accuracy"] = fake.accuracy
  return scores


def reference_summary(real: SetStatistics) -> dict[str, Any]:
  """Scores of the real set itself: the ceiling for the classifier score."""
  summary = {"num_images": real.count,
             "classifier_score": stats.classifier_score_finalize(real.acc.scores),
             "class_histogram": np.asarray(real.acc.class_counts).tolist()}
  if real.labelled:
    summary["classifier_accuracy"] = real.accuracy
  return summary
