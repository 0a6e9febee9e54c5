"""Feature extractors: images in [0, 1] -> (features, logits), plus their protocol.

The default extractor is the domain classifier (penultimate features for FID,
KID and the k-NN metrics; logits for the classifier score, class coverage and
label accuracy). With Inception-V3 weights, the features come from Inception's
pool3 layer and the logits still from the domain classifier, whose classes are
the dataset's own.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax

from ganjax.evaluation.classifier import Classifier

#: ``apply(params, images) -> (features (B, d), logits (B, C))``, images in [0, 1].
ApplyFn = Callable[[Any, jax.Array], tuple[jax.Array, jax.Array]]


@dataclasses.dataclass(frozen=True)
class FeatureExtractor:
  """A jittable feature/logit function with its parameters and provenance.

  Attributes:
    name: what produced the features, e.g. ``domain_classifier:mnist``.
    params: the parameters ``apply`` takes (any pytree).
    apply: ``(params, images in [0, 1] (B, H, W, C)) -> (features, logits)``.
    image_shape: (H, W, C) the extractor expects.
    feature_dim: length of a feature vector.
    num_classes: number of logits.
    protocol: JSON facts identifying the extractor (names, weight hashes).
  """
  name: str
  params: Any
  apply: ApplyFn
  image_shape: tuple[int, int, int]
  feature_dim: int
  num_classes: int
  protocol: dict[str, Any]


def from_classifier(classifier: Classifier) -> FeatureExtractor:
  """The domain classifier's penultimate features and logits."""
  module = classifier.module

  def apply(params: Any, images: jax.Array) -> tuple[jax.Array, jax.Array]:
    return module.apply({"params": params}, images)

  meta = classifier.metadata
  return FeatureExtractor(
      name=classifier.name, params=classifier.params, apply=apply,
      image_shape=classifier.image_shape, feature_dim=meta["architecture"]["hidden"],
      num_classes=classifier.num_classes,
      protocol={"features": classifier.name, "logits": classifier.name,
                "classifier_sha256": classifier.sha256,
                "classifier_dir": str(classifier.directory),
                "classifier_accuracy": meta["accuracy"],
                "classifier_data": meta["dataset"],
                "feature_dim": meta["architecture"]["hidden"]})


def features_from(feature_name: str, feature_params: Any,
                  feature_apply: Callable[[Any, jax.Array], jax.Array], feature_dim: int,
                  feature_protocol: dict[str, Any],
                  logits_from: FeatureExtractor) -> FeatureExtractor:
  """Features of another network (e.g. Inception) beside the classifier's logits.

  Args:
    feature_name: name of the feature network.
    feature_params: its parameters.
    feature_apply: ``(params, images in [0, 1]) -> features``.
    feature_dim: length of its feature vectors.
    feature_protocol: facts identifying it (e.g. the weights' sha256).
    logits_from: the extractor whose logits are kept (the domain classifier).
  """

  def apply(params: Any, images: jax.Array) -> tuple[jax.Array, jax.Array]:
    own, classifier_params = params
    _, logits = logits_from.apply(classifier_params, images)
    return feature_apply(own, images), logits

  return FeatureExtractor(
      name=feature_name, params=(feature_params, logits_from.params), apply=apply,
      image_shape=logits_from.image_shape, feature_dim=feature_dim,
      num_classes=logits_from.num_classes,
      protocol={**logits_from.protocol, **feature_protocol, "features": feature_name,
                "feature_dim": feature_dim})
