"""The layouts of ``ganjax.sample``'s latent walks, on a model without networks."""

import types

import jax
import numpy as np
import pytest

from ganjax.gan import sampling
from ganjax.models import Condition, GanModel
from ganjax.run import samples
from ganjax.utils.errors import UserError

CLASSES = 3


def _run(condition=Condition.LABEL):
  model = GanModel(generator=None, discriminator=None, noise_dim=4,
                   discriminator_batch_norm=False, noise_distribution="normal",
                   condition=condition)
  return types.SimpleNamespace(model=model, num_classes=CLASSES, image_shape=(28, 28, 1),
                               class_names=None)


def test_a_per_class_strip_repeats_one_walk_in_every_class_row():
  sheet = samples.walk_sheet(_run(), seed=0, num=None, label=None,
                             walk=samples.Walk(5), animated=False, columns=None, scale=1)
  inputs = sheet.inputs
  assert sheet.frames == 1 and inputs.columns == 5  # default: one walk, 5 per row
  np.testing.assert_array_equal(inputs.condition, np.repeat(np.arange(CLASSES), 5))
  rows = np.asarray(inputs.noise).reshape(CLASSES, 5, 4)
  for row in rows[1:]:
    np.testing.assert_array_equal(row, rows[0])  # style fixed, the class varies
  walk = sampling.latent_walks(_run().model, jax.random.PRNGKey(0), 1, 2, 4, loop=False)
  np.testing.assert_array_equal(rows[0], walk[0])


def test_a_per_class_animation_shows_each_frame_as_a_class_grid():
  sheet = samples.walk_sheet(_run(), seed=1, num=2, label=None,
                             walk=samples.Walk(3, keyframes=2), animated=True,
                             columns=None, scale=1)
  assert sheet.frames == 6 and sheet.inputs.columns == 2  # a column per walk
  frames = np.asarray(sheet.inputs.noise).reshape(6, CLASSES, 2, 4)
  labels = np.asarray(sheet.inputs.condition).reshape(6, CLASSES, 2)
  np.testing.assert_array_equal(labels, np.broadcast_to(
      np.arange(CLASSES)[None, :, None], labels.shape))
  np.testing.assert_array_equal(frames, np.broadcast_to(frames[:, :1], frames.shape))
  assert not np.array_equal(frames[0], frames[1])  # the walk moves


def test_walks_of_one_class_and_unconditional_walks():
  labelled = samples.walk_sheet(_run(), seed=0, num=3, label=2, walk=samples.Walk(4),
                                animated=False, columns=None, scale=1)
  assert labelled.inputs.noise.shape == (12, 4) and labelled.inputs.columns == 4
  np.testing.assert_array_equal(labelled.inputs.condition, np.full(12, 2))
  plain = samples.walk_sheet(_run(Condition.NONE), seed=0, num=None, label=None,
                             walk=samples.Walk(4, keyframes=3), animated=True,
                             columns=None, scale=1)
  assert plain.frames == 12 and plain.inputs.condition is None
  assert plain.inputs.noise.shape == (12 * samples.DEFAULT_WALKS, 4)


def test_a_huge_walk_is_refused_before_any_latent_is_drawn():
  with pytest.raises(UserError, match="--interpolate 100000 with 1000 walks"):
    samples.walk_sheet(_run(), seed=0, num=1000, label=None,
                       walk=samples.Walk(100000), animated=True, columns=None, scale=1)


def test_an_image_translator_has_no_noise_to_truncate_or_walk():
  run = _run(Condition.IMAGE)
  with pytest.raises(UserError, match=r"translates images \(--interpolate 4 acts on noise"):
    samples.check_run(run, "runs/p2p", None, ["--interpolate 4"])
  with pytest.raises(UserError, match="translates images; use python -m ganjax.translate"):
    samples.check_run(run, "runs/p2p", None, [])
  samples.check_run(_run(), "runs/cgan", 2, ["--truncation 0.5"])
  with pytest.raises(UserError, match="--label 3 is out of range"):
    samples.check_run(_run(), "runs/cgan", 3, [])


def test_a_label_is_a_class_name_first_then_an_index():
  run = _run()
  run.class_names = ("cat", "dog", "owl")
  assert samples.check_run(run, "runs/pets", "dog", []) == 1
  assert samples.check_run(run, "runs/pets", "2", []) == 2
  assert samples.check_run(run, "runs/pets", None, []) is None
  with pytest.raises(UserError, match="'horse' is not a class of the run in runs/pets; "
                                      "its classes are cat, dog, owl"):
    samples.check_run(run, "runs/pets", "horse", [])
  # Folders named by numbers: the name wins ("2" is the third of "0", "10", "2").
  assert samples.class_index(("0", "10", "2"), 3, "2", "runs/n") == 2
  assert samples.class_index(("0", "10", "2"), 3, "1", "runs/n") == 1


def test_a_run_without_class_names_takes_indexes_only():
  assert samples.check_run(_run(), "runs/cgan", "1", []) == 1
  with pytest.raises(UserError, match="'cat' is not a class index: the run in runs/cgan "
                                      "has 3 classes \\(0 to 2\\) and no class names"):
    samples.check_run(_run(), "runs/cgan", "cat", [])
