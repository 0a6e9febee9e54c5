r"""Is a class-conditional generator's conditioning real? Ask the domain classifier.

  python -m ganjax.label_accuracy --workdir runs/mnist_cgan \
      [--idx_dir ../shared/data/mnist] [--classifier DIR] [--num 10000] [--seed 0]

Generates ``--num`` images from the newest checkpoint of ``--workdir``, asking
for classes as often as they occur in the run's own data (``--reference_split``
picks another split of it), and prints how often the domain classifier
recognises the requested class: overall (chance is one over the number of
classes) and per class, next to the classifier's own held-out accuracy. This is
the label accuracy ``ganjax.eval`` reports: for the same checkpoint, ``--num``
and ``--seed`` both commands print the same number.

The classifier is found as ``ganjax.eval`` finds it: ``--classifier``, else the
run's ``config.eval.classifier_dir``, else the default directory for the run's
dataset; if there is none, the command stops with the one
``python -m ganjax.classifier ...`` line that trains it. ``--idx_dir``,
``--data_dir``, ``--folder`` and ``--prepared`` say where the run's data is now,
when it moved. Of a prepared dataset the class frequencies are those of a random
subset of ``--num_real`` images (drawn with ``--seed``, as ``ganjax.eval`` draws
its reference: pass the same ``--num_real`` to both for the same number).
"""

from absl import flags

from ganjax.run import cli
from ganjax.utils import paths

_WORKDIR = flags.DEFINE_string("workdir", None, "Workdir of a class-conditional run.")
_NUM = flags.DEFINE_integer("num", 10_000, "Number of generated images.", lower_bound=1)
_CLASSIFIER = flags.DEFINE_string("classifier", None, "Domain classifier directory "
                                  "(from python -m ganjax.classifier).")
_REFERENCE_SPLIT = flags.DEFINE_string("reference_split", None, "Split of the run's "
                                       "dataset whose class frequencies the requested "
                                       "labels follow (default: config.data.split).")
_SEED = flags.DEFINE_integer("seed", 0, "Noise and requested labels.", lower_bound=0,
                             upper_bound=2**32 - 1)
_NUM_REAL = flags.DEFINE_integer("num_real", None, "Reference images, as ganjax.eval's "
                                 "--num_real (give both the same for the same number); "
                                 "of a prepared dataset, the random subset whose class "
                                 "frequencies are requested (default: 50,000 or the "
                                 "whole split).", lower_bound=1)
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
paths.require_non_empty("workdir", "classifier", "reference_split", "idx_dir",
                        "data_dir", "folder", "prepared")


def _command() -> int:
  from ganjax.run import evaluate
  return evaluate.label_accuracy(evaluate.EvalOptions(
      workdir=_WORKDIR.value, num=_NUM.value, num_real=_NUM_REAL.value,
      classifier=_CLASSIFIER.value,
      reference_split=_REFERENCE_SPLIT.value, seed=_SEED.value, idx_dir=_IDX_DIR.value,
      data_dir=_DATA_DIR.value, raw_weights=_RAW_WEIGHTS.value, folder=_FOLDER.value,
      prepared=_PREPARED.value))


def run() -> None:
  cli.run_app(_command)


if __name__ == "__main__":
  run()
