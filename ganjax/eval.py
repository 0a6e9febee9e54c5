r"""Score a trained run: FID, KID, classifier score, precision/recall, coverage.

  python -m ganjax.eval --workdir runs/mnist [--num 10000] [--classifier DIR] \
      [--reference_split test] [--seed 0] [--inception_weights FILE] [--idx_dir DIR]

Restores the newest generator checkpoint of ``--workdir``, generates ``--num``
images in batches, extracts features with the domain classifier and compares
them with the run's own dataset (``config.data``; ``--reference_split`` picks
another split; a folder of images or a prepared dataset has only "train", which
is then the default with ``--inception_weights`` too;
``--idx_dir``/``--data_dir``/``--folder``/``--prepared`` say where that data is
now, when it moved or the run's config holds a path relative to another
directory). Of a prepared dataset only ``--num_real`` images are read (default
50,000, the usual FID count, or all of a smaller split), a random subset drawn
with ``--seed``, so a dataset larger than memory can be the reference. Writes
``<workdir>/eval/<step>.json`` with the scores and the protocol (extractor and its weight hash, sample counts, reference data, seed,
versions) and prints a table.

The classifier is ``--classifier``, else the run's ``config.eval.classifier_dir``,
else ``~/.cache/ganjax/classifiers/<config.data.name>`` (root overridable with
``$GANJAX_CLASSIFIERS``; a run on a folder of images has no default, nor has one
on a prepared dataset unless it was prepared from IDX files, which then has
theirs; ``python -m ganjax.classifier --folder DIR`` or ``--prepared DIR`` with
``--workdir CLASSIFIER`` trains one for such data). If there is none, the
command stops with the one
``python -m ganjax.classifier ...`` line that trains it: it is not trained on the
fly, because the classifier is part of the protocol.
"""

from absl import flags

from ganjax.run import cli
from ganjax.utils import paths

_WORKDIR = flags.DEFINE_string("workdir", None, "Workdir of a ganjax training run.")
_NUM = flags.DEFINE_integer("num", 10_000, "Number of generated images.", lower_bound=2)
_NUM_REAL = flags.DEFINE_integer("num_real", None, "Number of reference images "
                                 "(default: the whole reference split; of a prepared "
                                 "dataset at most 50,000, drawn at random).", lower_bound=2)
_CLASSIFIER = flags.DEFINE_string("classifier", None, "Domain classifier directory "
                                  "(from python -m ganjax.classifier).")
_REFERENCE_SPLIT = flags.DEFINE_string("reference_split", None, "Split of the run's "
                                       "dataset to compare with (default: "
                                       "config.data.split; 'test' with "
                                       "--inception_weights, as in Lucic et al.).")
_SEED = flags.DEFINE_integer("seed", 0, "Noise, requested labels, real subset and KID "
                             "subsets.", lower_bound=0, upper_bound=2**32 - 1)
_BATCH_SIZE = flags.DEFINE_integer("batch_size", None, "Images per jitted batch "
                                   "(default 500; 50 with Inception, whose activations "
                                   "at 299x299 are large).", lower_bound=1)
_MAX_STORED = flags.DEFINE_integer("max_stored", 10_000, "Features kept per set for KID "
                                   "and precision/recall/density/coverage.", lower_bound=10)
_INCEPTION = flags.DEFINE_string("inception_weights", None, "Inception-V3 FID weights "
                                 "(pytorch-fid pt_inception-2015-12-05-6726825d.pth, or "
                                 "that state dict as .npz): FID/KID/precision/recall then "
                                 "use Inception pool3 features (Lucic et al. 2018 "
                                 "protocol); see docs/evaluation.md.")
_IDX_DIR = flags.DEFINE_string("idx_dir", None, "Where the run's IDX files are now "
                               "(replaces config.data.idx_dir of the run).")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Where the run's TFDS data_dir is now "
                                "(replaces config.data.data_dir of the run).")
_FOLDER = flags.DEFINE_string("folder", None, "Where the run's folder of images is now "
                              "(replaces config.data.folder of the run).")
_PREPARED = flags.DEFINE_string("prepared", None, "Where the run's prepared dataset is "
                                "now (replaces config.data.prepared of the run).")
_RAW_WEIGHTS = cli.define_raw_weights_flag()
flags.mark_flags_as_required(["workdir"])
paths.require_non_empty("workdir", "classifier", "reference_split", "inception_weights",
                        "idx_dir", "data_dir", "folder", "prepared")


def _command() -> int:
  from ganjax.run import evaluate
  return evaluate.evaluate_run(evaluate.EvalOptions(
      workdir=_WORKDIR.value, num=_NUM.value, num_real=_NUM_REAL.value,
      classifier=_CLASSIFIER.value, reference_split=_REFERENCE_SPLIT.value,
      seed=_SEED.value, batch_size=_BATCH_SIZE.value, max_stored=_MAX_STORED.value,
      inception_weights=_INCEPTION.value, idx_dir=_IDX_DIR.value,
      data_dir=_DATA_DIR.value, raw_weights=_RAW_WEIGHTS.value, folder=_FOLDER.value,
      prepared=_PREPARED.value))


def run() -> None:
  cli.run_app(_command)


if __name__ == "__main__":
  run()
