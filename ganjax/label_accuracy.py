r"""Is a class-conditional generator's conditioning real? Ask a classifier.

Trains a small classifier on real labelled images (holding 20% out to report its
own accuracy), generates ``--num`` images per class from a run's newest checkpoint,
and reports how often the classifier recognises the requested class (chance: one
over the number of classes).

  python -m ganjax.label_accuracy --workdir runs/mnist_cgan \
      --idx_dir ../shared/data/mnist [--num 100] [--seed 0]

The real data is any dataset ganjax can load (``--idx_dir`` or a TFDS ``--data``
name); it must have the run's image shape and number of classes.
"""

import dataclasses
from typing import Callable

from absl import flags

from ganjax.run import cli
from ganjax.utils import paths

_WORKDIR = flags.DEFINE_string("workdir", None, "Workdir of a class-conditional run.")
_DATA = flags.DEFINE_string("data", "mnist", "TFDS name of the real labelled data.")
_IDX_DIR = flags.DEFINE_string("idx_dir", None, "MNIST-format IDX directory (no TFDS).")
_SPLIT = flags.DEFINE_string("split", "test", "Split of the real data.")
_NUM = flags.DEFINE_integer("num", 100, "Generated images per class.", lower_bound=1)
_SEED = flags.DEFINE_integer("seed", 0, "Noise and classifier seed.", lower_bound=0,
                             upper_bound=2**32 - 1)
flags.mark_flags_as_required(["workdir"])
paths.require_non_empty("workdir", "data", "idx_dir", "split")


#: Real images the check's classifier needs (80% to train, 20% to score it).
MIN_REAL = 10


@dataclasses.dataclass
class Classifier:
  predict: Callable  # uint8 or [0, 1] float images (N, H, W, C) -> labels (N,)
  held_out_accuracy: float


def train_classifier(images, labels, num_classes: int, *, steps: int = 600,
                     batch_size: int = 128, hidden: int = 256, seed: int = 0
                     ) -> Classifier:
  """A two-layer MLP trained with Adam on uint8 images; 20% held out to score it.

  On MNIST's 10,000 test digits it reaches about 95% held-out accuracy in a few
  seconds on a CPU, which is all a check of conditioning needs.
  """
  import flax.linen as nn
  import jax
  import jax.numpy as jnp
  import numpy as np
  import optax

  class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
      x = x.reshape((x.shape[0], -1))
      x = nn.relu(nn.Dense(hidden)(x))
      return nn.Dense(num_classes)(x)

  rng = np.random.default_rng(seed)
  order = rng.permutation(len(images))
  cut = len(images) * 4 // 5
  scale = lambda x: jnp.asarray(x, jnp.float32) / 255.0
  train_x, train_y = images[order[:cut]], labels[order[:cut]]
  test_x, test_y = images[order[cut:]], labels[order[cut:]]
  model, tx = MLP(), optax.adam(1e-3)
  params = model.init(jax.random.PRNGKey(seed), scale(train_x[:1]))
  opt_state = tx.init(params)

  @jax.jit
  def step(params, opt_state, x, y):
    def loss_fn(p):
      logits = model.apply(p, x)
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    grads = jax.grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  for i in range(steps):
    rows = rng.integers(0, cut, batch_size)
    params, opt_state = step(params, opt_state, scale(train_x[rows]),
                             jnp.asarray(train_y[rows]))
  logits_fn = jax.jit(lambda x: jnp.argmax(model.apply(params, x), -1))

  def predict(x):
    x = np.asarray(x)
    x = scale(x) if x.dtype == np.uint8 else jnp.asarray(x, jnp.float32)
    return np.asarray(logits_fn(x))

  accuracy = float(np.mean(predict(test_x) == test_y)) if len(test_x) else float("nan")
  return Classifier(predict, accuracy)


def generate_per_class(run, num_per_class: int, seed: int):
  """(images as uint8 (C*num, H, W, ch), requested labels) from a cGAN run."""
  import jax
  import jax.numpy as jnp
  import numpy as np

  from ganjax.utils import images
  from ganjax.gan import sampling
  num_classes = run.meta["num_classes"]
  labels = jnp.repeat(jnp.arange(num_classes, dtype=jnp.int32), num_per_class)
  noise = run.model.sample_noise(jax.random.PRNGKey(seed), len(labels))
  fake = sampling.generate_in_batches(run.g_state, noise, labels)
  return images.to_uint8(fake, run.model.pixel_range), np.asarray(labels)


def conditioning_accuracy(run, classifier: Classifier, num_per_class: int, seed: int
                          ) -> tuple[float, list[float]]:
  """Fraction of generated images classified as their requested class (overall,
  and per class)."""
  import numpy as np
  fake, labels = generate_per_class(run, num_per_class, seed)
  hits = classifier.predict(fake) == labels
  per_class = [float(np.mean(hits[labels == k])) for k in range(labels.max() + 1)]
  return float(np.mean(hits)), per_class


def measure(workdir: str, data: str, idx_dir, split: str, num: int, seed: int) -> int:
  run_dir = paths.check_run_dir(workdir)
  if idx_dir is not None:
    paths.check_input_dir(idx_dir, "--idx_dir")
  from ganjax.utils import images
  from ganjax.run import trained as runs
  from ganjax.data import load_dataset
  from ganjax.utils.errors import UserError
  real = load_dataset(data, split, idx_dir=idx_dir)  # Seconds; the restore takes longer.
  if len(real.images) < MIN_REAL:
    raise UserError(f"--split {split} holds {len(real.images)} images; the classifier "
                    f"needs at least {MIN_REAL} (a fifth is held out to score it)")
  run = runs.load_trained(str(run_dir))
  if run.model.condition != "label":
    raise UserError(f"the run in {workdir} is not class-conditional")
  num_classes = run.meta["num_classes"]
  height, width = run.meta["batch_spec"]["image"]["shape"][:2]
  if num * num_classes * height * width > images.MAX_PIXELS:
    raise UserError(f"--num {num} images per class for {num_classes} classes are too "
                    "many to generate at once; ask for fewer")
  if real.labels is None or real.num_classes != num_classes:
    raise UserError(f"the real data needs labels of the run's {num_classes} classes")
  if list(real.images.shape[1:]) != list(run.meta["batch_spec"]["image"]["shape"]):
    raise UserError(f"the real images are {real.images.shape[1:]}, the run's "
                    f"{run.meta['batch_spec']['image']['shape']}")
  classifier = train_classifier(real.images, real.labels, num_classes, seed=seed)
  overall, per_class = conditioning_accuracy(run, classifier, num, seed)
  print(f"classifier accuracy on held-out real images: {classifier.held_out_accuracy:.3f}")
  print("generated images classified as the requested class, per class: "
        + " ".join(f"{k}:{a:.2f}" for k, a in enumerate(per_class)))
  print(f"conditioning accuracy at step {run.step}: {overall:.3f} "
        f"(chance {1 / num_classes:.3f}; {num} images per class)")
  return 0


def _command() -> int:
  return measure(_WORKDIR.value, _DATA.value, _IDX_DIR.value, _SPLIT.value, _NUM.value,
                 _SEED.value)


def run() -> None:
  cli.run_app(_command)


if __name__ == "__main__":
  run()
