"""Reproduce the floors and ceilings in docs/evaluation.md.

  python docs/evaluation_floors.py --classifier DIR --idx_dir DIR \
      [--reference_split test] [--other_split train] [--num 10000]

Prints one JSON line per comparison, scored exactly as ``ganjax.eval`` scores a
run (same extractor, quantisation, k, KID subsets):

* ``real halves``: two disjoint random halves of the reference split (the
  floor when only one split exists, as for the offline MNIST copy);
* ``real first/last half``: the split's first vs last half, unshuffled (MNIST's
  test file puts two writer populations one after the other);
* ``real other split``: ``--num`` images of ``--other_split`` vs the reference
  (Fashion-MNIST: train vs test), when that split exists;
* ``untrained <model>``: an initialised, untrained generator of the
  experiments' seed and DCGAN models (the ceiling).
"""

import json

from absl import app, flags

_CLASSIFIER = flags.DEFINE_string("classifier", None, "Domain classifier directory.")
_IDX_DIR = flags.DEFINE_string("idx_dir", None, "MNIST-format IDX directory.")
_REFERENCE_SPLIT = flags.DEFINE_string("reference_split", "test", "Reference split.")
_OTHER_SPLIT = flags.DEFINE_string("other_split", None, "A second real split, or none.")
_NUM = flags.DEFINE_integer("num", 10_000, "Images per set (halves: half of the split).")
_SEED = flags.DEFINE_integer("seed", 0, "Subsets, noise and KID subsets.")
flags.mark_flags_as_required(["classifier", "idx_dir"])


def _untrained(name: str, image_shape, num_classes):
  import jax
  import numpy as np
  import optax

  from ganjax.gan.state import create_train_states
  from ganjax.models import build_model
  model = build_model(name, image_shape, num_classes)
  batch = {"image": np.zeros((1, *image_shape), np.float32)}
  init = jax.jit(lambda key: create_train_states(model, optax.adam(1e-3), optax.adam(1e-3),
                                                 batch, key)[0])
  return model, init(jax.random.PRNGKey(0))


def main(argv):
  del argv
  import numpy as np

  from ganjax.data import load_dataset
  from ganjax.evaluation import classifier, extractor, pipeline
  ext = extractor.from_classifier(classifier.load(_CLASSIFIER.value))
  measurer = pipeline.Measurer(ext, batch_size=500)
  ref = load_dataset("mnist", _REFERENCE_SPLIT.value, idx_dir=_IDX_DIR.value)
  freq = pipeline.class_frequencies(ref.labels, ext.num_classes)
  seed = _SEED.value

  def report(name, real, fake):
    scores = pipeline.compare(real, fake, freq, kid_seed=seed)
    scores.pop("class_histogram")
    print(json.dumps({"comparison": name, "num_real": real.count,
                      "num_generated": fake.count, **scores}), flush=True)

  half = len(ref.images) // 2
  order = np.random.default_rng(seed).permutation(len(ref.images))
  a, b = order[:half], order[half:]
  report("real halves (random)", measurer.real(ref.images[a], ref.labels[a], seed=seed),
         measurer.real(ref.images[b], ref.labels[b], seed=seed + 1))
  report("real first/last half", measurer.real(ref.images[:half], ref.labels[:half]),
         measurer.real(ref.images[half:], ref.labels[half:]))
  num = min(_NUM.value, len(ref.images))
  real = measurer.real(ref.images, ref.labels, num=num, seed=seed)
  if _OTHER_SPLIT.value:
    other = load_dataset("mnist", _OTHER_SPLIT.value, idx_dir=_IDX_DIR.value)
    report(f"real {other.split} vs {ref.split}", real,
           measurer.real(other.images, other.labels, num=num, seed=seed + 1))
  for name in ("seed", "dcgan"):
    model, g_state = _untrained(name, ref.images.shape[1:], ext.num_classes)
    report(f"untrained {name}", real, measurer.generated(model, g_state, num, seed))


if __name__ == "__main__":
  app.run(main)
