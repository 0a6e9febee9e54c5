"""Sample-quality scores during training, cheap enough to run every few hundred steps.

The training loop builds one :class:`PeriodicEvaluator` and calls it with the
generator state at every ``eval.every_steps``::

  evaluator = PeriodicEvaluator(model, classifier_dir, examples,
                                num_samples=config.eval.num_samples, seed=config.seed,
                                mesh=mesh)
  scores = evaluator(g_state, step)   # {"fid": ..., "kid": ..., ...}

What keeps it cheap and comparable across steps:

* the reference statistics (real features, moments, class frequencies) are
  computed once, at the first call, and cached;
* the jitted generate+extract+accumulate function is compiled once and reused;
* the generator's inputs (noise, requested labels) are the same at every call,
  so the curve over steps is not blurred by sampling noise, and the same state
  gives exactly the same numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional

import jax
import numpy as np

from ganjax.evaluation import classifier as classifier_lib
from ganjax.evaluation import extractor as extractor_lib
from ganjax.evaluation import pipeline

#: Scores that are not scalars (or are constants) and stay out of the logs.
_NOT_LOGGED = ("class_histogram", "num_classes")

# Separates the evaluation noise stream from other uses of the run seed.
_EVAL_STREAM = 0xE7A1


class PeriodicEvaluator:
  """FID, KID, classifier score, precision/recall... of a generator state.

  Args:
    model: the run's :class:`ganjax.models.GanModel` (unconditional or
      label-conditional).
    classifier_dir: a directory written by ``python -m ganjax.classifier`` (see
      :func:`ganjax.evaluation.classifier.find`).
    reference: the training examples: uint8 ``image`` (N, H, W, C) and, when
      labelled, int ``label`` (N,). Host arrays; only ``num_reference`` random
      rows of them are used.
    num_samples: generated images per evaluation; also the number of features
      per set used by KID and the k-NN metrics.
    seed: fixes the generated inputs and the reference subset.
    mesh: the training mesh (batches are split over its data axis), or None.
    batch_size: images per jitted batch.
    num_reference: real images in the FID reference statistics (None: all).
  """

  def __init__(self, model: Any, classifier_dir: str | Path,
               reference: Mapping[str, np.ndarray], num_samples: int = 2000,
               seed: int = 0, mesh: Optional[jax.sharding.Mesh] = None,
               batch_size: int = 500, num_reference: Optional[int] = 10_000):
    self.model = model
    self.num_samples = num_samples
    self.seed = seed
    self.extractor = extractor_lib.from_classifier(classifier_lib.load(classifier_dir))
    self.measurer = pipeline.Measurer(self.extractor, min(batch_size, num_samples),
                                      max_stored=num_samples, mesh=mesh)
    self._images = np.asarray(reference["image"])
    labels = reference.get("label")
    self._labels = None if labels is None else np.asarray(labels).astype(np.int32)
    self._num_reference = num_reference
    self.class_freq = pipeline.class_frequencies(self._labels, self.extractor.num_classes)
    self._real: Optional[pipeline.SetStatistics] = None
    self._checked = False

  @property
  def protocol(self) -> dict[str, Any]:
    """What the scores depend on besides the generator (for logs and reports)."""
    return {"extractor": self.extractor.protocol, "num_generated": self.num_samples,
            "num_real": self.reference().count, "seed": self.seed}

  def reference(self) -> pipeline.SetStatistics:
    """The real set's statistics, computed on first use and then kept."""
    if self._real is None:
      self._real = self.measurer.real(self._images, self._labels, self._num_reference,
                                       seed=self.seed)
      self._images = None  # Only the statistics are needed from now on.
    return self._real

  def __call__(self, g_state: Any, step: int) -> dict[str, float]:
    """Scores of the generator in ``g_state`` (``step`` is only for the caller's logs).

    Returns:
      Floats: fid, kid, kid_std_error, classifier_score, precision, recall,
      density, coverage, classes_covered, class_kl, and label_accuracy for
      label-conditional models.
    """
    del step  # The scores depend only on the state.
    if not self._checked:
      self.measurer.check_generator(self.model, g_state)
      self._checked = True
    fake = self.measurer.generated(self.model, g_state, self.num_samples,
                                   self.seed ^ _EVAL_STREAM, self.class_freq)
    scores = pipeline.compare(self.reference(), fake, self.class_freq,
                              kid_seed=self.seed)
    return {k: float(v) for k, v in scores.items() if k not in _NOT_LOGGED}


def locate_classifier(configured: Optional[str], dataset: str, idx_dir: Optional[str],
                      say=print, folder: Optional[str] = None,
                      prepared: Optional[str] = None) -> Optional[Path]:
  """The classifier for periodic evaluation, or None (after one line saying why).

  Args:
    configured: ``config.eval.classifier_dir`` (None: the default location).
    dataset: ``config.data.name``.
    idx_dir: ``config.data.idx_dir``.
    say: where the one-line notice goes when there is no classifier (the
      trainer's warning channel).
    folder: ``config.data.folder`` (a folder has no default classifier).
    prepared: ``config.data.prepared`` (only one made from IDX files has a
      default classifier, theirs).
  """
  try:
    return classifier_lib.find(None, configured, dataset, idx_dir, folder, prepared)
  except classifier_lib.ClassifierError as e:
    say(f"periodic evaluation is off: {e}")
    return None
