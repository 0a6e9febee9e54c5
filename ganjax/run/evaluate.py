"""Scoring a trained run's checkpoint: the ``ganjax.eval`` and ``ganjax.label_accuracy`` work.

``ganjax.eval`` writes ``eval/<step>.json`` and prints a table of every score;
``ganjax.label_accuracy`` prints only the label accuracy, overall and per class.
Both find the run's data, the domain classifier and the generated images the
same way, so for the same checkpoint, seed and number of images the label
accuracy they print is the same number.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np
import tqdm

from ganjax.data import ImageDataset, dataset_fingerprint, load_dataset
from ganjax.data.examples import load_folder
from ganjax.data.prepared import PreparedSource
from ganjax.evaluation import classifier as classifier_lib
from ganjax.evaluation import extractor as extractor_lib
from ganjax.evaluation import pipeline, protocol
from ganjax.models import Condition
from ganjax.run import config as config_lib
from ganjax.run import members
from ganjax.run import population as population_config
from ganjax.run import trained as runs
from ganjax.utils import paths, sharding
from ganjax.utils.errors import UserError

EVAL_DIR = "eval"
#: config.data keys that locate the run's data; each has a flag of the same name.
DATA_LOCATIONS = ("idx_dir", "data_dir", "folder", "prepared")
#: Real images read from a prepared dataset when ``--num_real`` is not given (the
#: usual FID count): a seeded random subset, so memory does not grow with the data.
MAX_PREPARED_REFERENCE = 50_000
BATCH_SIZE = 500
INCEPTION_BATCH_SIZE = 50


@dataclasses.dataclass(frozen=True)
class EvalOptions:
  """The command's flags (see :mod:`ganjax.eval`)."""
  workdir: str
  num: int = 10_000
  num_real: Optional[int] = None
  classifier: Optional[str] = None
  reference_split: Optional[str] = None
  seed: int = 0
  batch_size: Optional[int] = None
  max_stored: int = 10_000
  inception_weights: Optional[str] = None
  idx_dir: Optional[str] = None
  data_dir: Optional[str] = None
  raw_weights: bool = False
  folder: Optional[str] = None
  prepared: Optional[str] = None

  def resolved(self, has_test_split: bool = True) -> "EvalOptions":
    """Defaults that depend on the extractor: Inception follows Lucic et al.

    Their protocol compares with the test split (when the data has one: a
    folder of images or a prepared dataset has only "train"); Inception's
    activations at 299x299 need smaller batches.
    """
    inception = bool(self.inception_weights)
    return dataclasses.replace(
        self,
        batch_size=self.batch_size or (INCEPTION_BATCH_SIZE if inception else BATCH_SIZE),
        reference_split=self.reference_split or (
            "test" if inception and has_test_split else None))


#: The k-nearest-neighbour metrics need more than k samples in each set.
MIN_SAMPLES = max(protocol.PRECISION_RECALL_K, protocol.DENSITY_COVERAGE_K) + 1


def check_counts(options: EvalOptions, num_reference: Optional[int] = None) -> None:
  """Raises UserError for sample counts the metrics cannot use.

  Args:
    num_reference: images in the reference data, once it is loaded.
  """
  for flag, value in (("--num", options.num), ("--num_real", options.num_real),
                      ("--max_stored", options.max_stored)):
    if value is not None and value < MIN_SAMPLES:
      raise UserError(f"{flag} {value} is too small: the nearest-neighbour metrics need "
                      f"at least {MIN_SAMPLES} images")
  if num_reference is not None and num_reference < MIN_SAMPLES:
    raise UserError(f"the reference data holds only {num_reference} images; the "
                    f"nearest-neighbour metrics need at least {MIN_SAMPLES}")


def configured_classifier(config: Any) -> Optional[str]:
  """``config.eval.classifier_dir`` of a run (older runs have no ``eval`` section)."""
  section = config.get("eval") if hasattr(config, "get") else None
  return None if section is None else section.get("classifier_dir")


def build_extractor(classifier_dir: Path, inception_weights: Optional[str],
                    say=print) -> extractor_lib.FeatureExtractor:
  """The domain classifier's extractor, with Inception features when weights are given."""
  domain = extractor_lib.from_classifier(classifier_lib.load(classifier_dir))
  if not inception_weights:
    say(f"No Inception weights given (--inception_weights): using the domain classifier "
        f"in {classifier_dir} for all features.")
    return domain
  from ganjax.evaluation import inception
  return inception.extractor(inception_weights, logits_from=domain)


def run_config(workdir: Path, options: EvalOptions) -> Any:
  """The run's config.json with ``--idx_dir``/``--data_dir``/``--folder``/``--prepared``
  applied to its data.

  Raises:
    UserError: a data location (from the flag or the run's config) does not
      exist; the message names the flag that says where the data is now
      (config.json keeps paths as the training command got them, so a
      relative one only works from the directory training ran in).
  """
  saved = config_lib.load_saved(workdir)
  if not isinstance(saved, dict) or not isinstance(saved.get("data"), dict):
    raise UserError(f"{workdir / config_lib.CONFIG_FILE} is not a ganjax run config "
                    "(no data section)")
  config = config_lib.from_json_dict(saved)
  for key in DATA_LOCATIONS:
    given = getattr(options, key)
    if given is not None:
      if not Path(given).expanduser().is_dir():
        raise UserError(f"--{key} {given} does not exist or is not a directory")
      config.data[key] = str(Path(given).expanduser().absolute())
      continue
    stored = config.data.get(key)
    if stored and not Path(stored).expanduser().is_dir():
      where = (f" (from {Path.cwd()}; relative paths are read from the current "
               "directory)" if not Path(stored).expanduser().is_absolute() else "")
      raise UserError(f"the run's data is not where its config says: config.data.{key} "
                      f"is {stored}, which does not exist{where}; pass --{key} DIR to "
                      "say where it is now")
  return config


def check_writable(workdir: Path) -> Path:
  """Checks, before any work, that ``<workdir>/eval/`` can be written (nothing is left)."""
  return paths.check_writable_dir(Path(workdir) / EVAL_DIR,
                                  f"the scores to {Path(workdir) / EVAL_DIR}")


def has_test_split(data: Any) -> bool:
  """Whether the run's data has a "test" split (a folder or a prepared dataset
  has only "train")."""
  return not (data.get("folder") or data.get("prepared"))


def load_reference(data: Any, split: Optional[str], channels: Optional[int] = None,
                   num: Optional[int] = None, seed: int = 0) -> ImageDataset:
  """The run's dataset (``config.data``), optionally another split of it.

  Args:
    data: the run's ``config.data``.
    split: the split to compare with; None: the run's training split.
    channels: of a folder's images: those the run was trained on (a slice of a
      folder could otherwise decode differently when ``data.channels`` is unset).
    num: of a prepared dataset, the images read: a random subset drawn with
      ``seed`` (None: :data:`MAX_PREPARED_REFERENCE`; all of a smaller split).
      Other data is read whole.
    seed: that subset.
  """
  if data.get("prepared"):
    source = PreparedSource(data.prepared, split or data.split)
    return source.sample(num or MAX_PREPARED_REFERENCE, seed)
  if data.get("folder"):
    return load_folder(data, split or data.split, channels)
  return load_dataset(data.name, split or data.split, idx_dir=data.get("idx_dir"),
                      data_dir=data.get("data_dir"))


def _warn_if_other_data(extractor: extractor_lib.FeatureExtractor,
                        reference: ImageDataset, say) -> None:
  """The classifier should know the reference's domain; say so when it may not."""
  trained_on = extractor.protocol.get("classifier_data", {}).get("source")
  if trained_on is not None and trained_on != reference.name:
    say(f"Warning: the classifier was trained on {trained_on}, the reference data is "
        f"{reference.name}.")


def _progress(total: int, desc: str) -> tqdm.tqdm:
  return tqdm.tqdm(total=total, unit="img", desc=desc, dynamic_ncols=True, leave=False)


def num_real(options: EvalOptions, reference: ImageDataset) -> int:
  """Real images compared with: ``--num_real``, at most the whole reference."""
  return min(options.num_real or len(reference.images), len(reference.images))


def _measurer(options: EvalOptions, run: runs.TrainedRun,
              extractor: extractor_lib.FeatureExtractor, reference: ImageDataset
              ) -> pipeline.Measurer:
  """The measurer both commands use, checked against the run's generator.

  The batch size decides how the generated images' noise is drawn, so it is
  chosen here only.
  """
  # Batches are padded to full size: a huge --batch_size must not allocate more
  # images than there are.
  batch_size = min(options.batch_size, max(options.num, num_real(options, reference)))
  measurer = pipeline.Measurer(extractor, batch_size, options.max_stored,
                               mesh=sharding.make_mesh())
  measurer.check_generator(run.model, run.g_state)
  return measurer


def _generated(measurer: pipeline.Measurer, options: EvalOptions, run: runs.TrainedRun,
               class_freq: Optional[np.ndarray]) -> pipeline.SetStatistics:
  """Statistics of ``options.num`` images from the run's generator.

  A label-conditional generator is asked for labels drawn from ``class_freq``
  (the reference data's class frequencies).
  """
  with _progress(options.num, "generated images") as bar:
    return measurer.generated(run.model, run.g_state, options.num, options.seed,
                              class_freq, progress=bar.update)


def measure(options: EvalOptions, run: runs.TrainedRun,
            extractor: extractor_lib.FeatureExtractor, reference: ImageDataset
            ) -> tuple[dict[str, Any], dict[str, Any], int]:
  """Scores of the run's generator; returns (scores, reference summary, num real)."""
  measurer = _measurer(options, run, extractor, reference)
  real_count = num_real(options, reference)
  with _progress(real_count, "real images") as bar:
    real = measurer.real(reference.images, reference.labels, real_count, options.seed,
                         progress=bar.update)
  freq = pipeline.class_frequencies(reference.labels, extractor.num_classes)
  fake = _generated(measurer, options, run, freq)
  scores = pipeline.compare(real, fake, freq, kid_seed=options.seed)
  return scores, pipeline.reference_summary(real), real_count


def record(options: EvalOptions, run: runs.TrainedRun,
           extractor: extractor_lib.FeatureExtractor, reference: ImageDataset,
           scores: dict[str, Any], summary: dict[str, Any], num_real: int,
           elapsed: float) -> dict[str, Any]:
  """The JSON document: scores, the real set's own scores, and the protocol."""
  stored = min(options.max_stored, num_real, options.num)
  return {
      "step": run.step,
      "workdir": str(run.workdir),
      "scores": scores,
      "reference": {**summary, "dataset": run.config.data.name,
                    "source": reference.name, "split": reference.split},
      "protocol": {
          "extractor": extractor.protocol,
          "num_real": num_real, "num_generated": options.num,
          "reference_dataset": run.config.data.name,
          "reference_source": reference.name,
          "reference_split": reference.split,
          "reference_fingerprint": dataset_fingerprint(reference)["sha256"],
          "seed": options.seed,
          **protocol.metric_settings(stored),
          "versions": protocol.library_versions(),
      },
      "model": {"name": run.config.model.name, "condition": run.model.condition,
                "generator_weights": generator_weights(run)},
      "created": classifier_lib.utc_now(),
      "elapsed_s": round(elapsed, 1),
  }


def write_record(path: Path, document: dict[str, Any]) -> None:
  """Writes the record to ``path`` (see :func:`record_path`) atomically.

  Raises:
    UserError: it could not be written; no temporary file is left.
  """
  paths.write_json(path, document)


def format_table(document: dict[str, Any]) -> str:
  """The printed summary of one evaluation."""
  s, p, ref = document["scores"], document["protocol"], document["reference"]
  rows = [
      ("FID", f"{s['fid']:.3f}"),
      ("KID", f"{s['kid']:.5f} ± {s['kid_std_error']:.5f}"),
      ("classifier score", f"{s['classifier_score']:.3f}  (real: "
                           f"{ref['classifier_score']:.3f})"),
      ("precision", f"{s['precision']:.3f}"),
      ("recall", f"{s['recall']:.3f}"),
      ("density", f"{s['density']:.3f}"),
      ("coverage", f"{s['coverage']:.3f}"),
      ("classes covered", f"{s['classes_covered']} / {s['num_classes']}"),
      ("class KL (gen || real)", f"{s['class_kl']:.4f}"),
  ]
  if "label_accuracy" in s:
    rows.append(("label accuracy", f"{s['label_accuracy']:.4f}"))
  extractor = p["extractor"]
  sha = extractor.get("inception_sha256") or extractor["classifier_sha256"]
  weights = {"average": " (moving-average generator)", "raw": " (raw generator weights)"}
  header = (f"Step {document['step']}"
            f"{weights.get(document['model'].get('generator_weights'), '')}: "
            f"{p['num_generated']} generated vs {p['num_real']} "
            f"real ({p['reference_dataset']} {p['reference_split']}), features "
            f"{extractor['features']} (sha256 {sha[:12]}), seed {p['seed']}")
  width = max(len(name) for name, _ in rows)
  return "\n".join([header] + [f"  {name:<{width}}  {value}" for name, value in rows])


def find_classifier(options: EvalOptions, config: Any) -> Path:
  """The domain classifier: ``--classifier``, the run's config, else the default.

  Raises:
    ClassifierError: there is none; one line with the command that trains it.
  """
  return classifier_lib.find(options.classifier, configured_classifier(config),
                             config.data.name, config.data.get("idx_dir"),
                             config.data.get("folder"), config.data.get("prepared"))


def restore(workdir: Path, config: Any, raw_weights: bool) -> runs.TrainedRun:
  """The run's newest generator, with its config's data locations as given."""
  return dataclasses.replace(runs.load_trained(str(workdir), raw_weights), config=config)


def generator_weights(run: runs.TrainedRun) -> str:
  """Which weights made the images: "average" (the moving average), "raw" (the
  trained weights of a run that keeps an average) or "trained" (it keeps none)."""
  if run.g_state.ema is None:
    return "trained"
  return "average" if run.g_state.generates_with_average else "raw"


def record_path(workdir: Path, run: runs.TrainedRun) -> Path:
  """``eval/<step>.json``; ``eval/<step>-raw.json`` when a run that keeps an average
  is measured with its raw weights, so neither record replaces the other."""
  suffix = "-raw" if generator_weights(run) == "raw" else ""
  return Path(workdir) / EVAL_DIR / f"{run.step}{suffix}.json"


def check_reference_labels(run: runs.TrainedRun, reference: ImageDataset) -> None:
  """Raises UserError when a label-conditional run's reference data has no labels.

  The requested labels follow the reference's class frequencies.
  """
  if run.model.condition == Condition.LABEL and reference.labels is None:
    raise UserError(f"the run is label-conditional but its reference data "
                    f"({reference.name} {reference.split}) has no labels")


def evaluate_run(options: EvalOptions) -> int:
  """Evaluates the newest checkpoint in ``options.workdir`` (the command's body).

  Everything a mistake can break is checked before the computation, cheapest
  first: the run, its data, that the scores can be written, the classifier and
  Inception weights; then the run is restored and the reference data loaded.
  """
  start = time.perf_counter()
  check_counts(options)
  workdir = paths.check_run_dir(options.workdir)
  config = run_config(workdir, options)
  options = options.resolved(has_test_split=has_test_split(config.data))
  check_writable(workdir)
  directory = find_classifier(options, config)
  if options.inception_weights:
    paths.check_input_file(options.inception_weights, "--inception_weights")
  population = population_config.size(config) > 1
  runs_measured = ([dataclasses.replace(run, config=population_config.member_config(
      config, member)) for member, run in enumerate(members.member_runs(
          str(workdir), options.raw_weights))]
                   if population else [restore(workdir, config, options.raw_weights)])
  run = runs_measured[0]
  if run.model.condition not in (Condition.NONE, Condition.LABEL):
    raise UserError(f"the run in {options.workdir} is conditioned on "
                    f"{run.model.condition}s; evaluation supports unconditional and "
                    "label-conditional models")
  path = record_path(workdir, run)
  if population:
    path = path.with_name(f"{max(r.step for r in runs_measured)}-population.json")
  if path.is_dir() or (path.exists() and not path.is_file()):
    raise UserError(f"cannot write the scores: {path} exists and is not a file")
  reference = load_reference(config.data, options.reference_split, run.image_shape[-1],
                             options.num_real, options.seed)
  check_counts(options, len(reference.images))
  check_reference_labels(run, reference)
  extractor = build_extractor(directory, options.inception_weights)
  _warn_if_other_data(extractor, reference, print)
  documents = []
  for member, run in enumerate(runs_measured):
    if population:
      print(f"Member {member} (seed {run.config.seed}, step {run.step}):")
    scores, summary, num_real = measure(options, run, extractor, reference)
    documents.append(record(options, run, extractor, reference, scores, summary, num_real,
                            time.perf_counter() - start))
    print(format_table(documents[-1]))
  if population:
    document = population_record(documents)
    print(format_population_table(document))
  else:
    document = documents[0]
  write_record(path, document)
  print(f"Wrote {path}")
  return 0


def population_record(members_measured: list[dict[str, Any]]) -> dict[str, Any]:
  """A population's evaluation: each member's record and every numeric score's
  mean, standard deviation, min and max over the members."""
  numeric = [{k: v for k, v in document["scores"].items()
              if isinstance(v, (int, float)) and not isinstance(v, bool)}
             for document in members_measured]
  summary = population_config.spread(numeric)
  return {"step": max(document["step"] for document in members_measured),
          "scores": {key: summary[f"{key}_mean"] for key in numeric[0]},  # The means.
          "summary": summary, "members": members_measured,
          "protocol": members_measured[0]["protocol"]}


def format_population_table(document: dict[str, Any]) -> str:
  """Mean ± standard deviation [min, max] over the members, per headline score."""
  summary, count = document["summary"], len(document["members"])
  rows = [(name, f"{summary[f'{key}_mean']:.4g} ± {summary[f'{key}_std']:.2g}  "
                 f"[{summary[f'{key}_min']:.4g}, {summary[f'{key}_max']:.4g}]")
          for name, key in (("FID", "fid"), ("KID", "kid"), ("precision", "precision"),
                            ("recall", "recall"), ("coverage", "coverage"),
                            ("classes covered", "classes_covered"))
          if f"{key}_mean" in summary]
  width = max(len(name) for name, _ in rows)
  return "\n".join([f"Over the {count} members: mean ± std [min, max]"]
                   + [f"  {name:<{width}}  {value}" for name, value in rows])


def label_accuracy(options: EvalOptions) -> int:
  """Prints how often the domain classifier recognises the requested class.

  The label accuracy of ``ganjax.eval`` (same classifier, same generated images
  and requested labels for the same options), overall and per class, with the
  classifier's own held-out accuracy as its ceiling. Nothing is written.

  Raises:
    UserError: the run is not class-conditional, its data or classifier is
      missing, or the reference data has no labels.
  """
  options = options.resolved()
  workdir = paths.check_run_dir(options.workdir)
  config = run_config(workdir, options)
  directory = find_classifier(options, config)
  run = restore(workdir, config, options.raw_weights)
  if run.model.condition != Condition.LABEL:
    raise UserError(f"the run in {options.workdir} is not class-conditional")
  reference = load_reference(config.data, options.reference_split, run.image_shape[-1],
                             options.num_real, options.seed)
  check_reference_labels(run, reference)
  classifier = classifier_lib.load(directory)
  extractor = extractor_lib.from_classifier(classifier)
  _warn_if_other_data(extractor, reference, print)
  measurer = _measurer(options, run, extractor, reference)
  freq = pipeline.class_frequencies(reference.labels, extractor.num_classes)
  fake = _generated(measurer, options, run, freq)
  print(f"domain classifier in {directory}: accuracy {classifier.metadata['accuracy']:.4f} "
        f"on held-out real images")
  print("generated images classified as the requested class, per class: "
        + " ".join(f"{k}:{a:.2f}" for k, a in enumerate(fake.per_class_accuracy)))
  print(f"label accuracy at step {run.step}: {fake.accuracy:.4f} (chance "
        f"{1 / extractor.num_classes:.3f}; {options.num} images, classes requested "
        f"as often as in {reference.name} {reference.split})")
  return 0
