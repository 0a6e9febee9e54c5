"""A run that keeps a moving average of its generator generates with it, and
``--raw_weights`` switches sample, translate, eval and label_accuracy to the
trained weights."""

import jax
import numpy as np
from PIL import Image

from conftest import REPO, run_command

from ganjax.run import evaluate, samples, trained

EMA_RUN = ["--config.model.g_features=4", "--config.model.d_features=4",
           "--config.model.noise_dim=8", "--config.train.batch_size=8",
           "--config.train.steps=4", "--config.ckpt.every_steps=4",
           "--config.samples.every_steps=4", "--config.log.every_steps=4",
           "--config.eval.every_steps=0", "--config.ema.half_life_images=1000"]


def test_raw_weights_flag_switches_from_the_average_to_the_trained_weights(
    tmp_path, synthetic_mnist, ganjax_env):
  workdir = tmp_path / "run"
  run_command("ganjax.main", ["--config", str(REPO / "experiments" / "mnist_dcgan.py"),
                              "--workdir", str(workdir),
                              f"--config.data.idx_dir={synthetic_mnist}", *EMA_RUN],
              ganjax_env)

  average = trained.load_trained(str(workdir))
  raw = trained.load_trained(str(workdir), raw_weights=True)
  leaves = lambda tree: jax.tree.leaves(tree["params"])
  for got, want in zip(leaves(average.g_state.inference_variables()),
                       jax.tree.leaves(average.g_state.ema_params)):
    np.testing.assert_array_equal(got, want)
  for got, want in zip(leaves(raw.g_state.inference_variables()),
                       jax.tree.leaves(raw.g_state.params)):
    np.testing.assert_array_equal(got, want)
  assert evaluate.generator_weights(average) == "average"
  assert evaluate.generator_weights(raw) == "raw"
  # Scores of the raw weights go beside those of the average, not over them.
  assert evaluate.record_path(workdir, average).name == "4.json"
  assert evaluate.record_path(workdir, raw).name == "4-raw.json"

  grids = {}
  for name, raw_weights in (("average", False), ("raw", True)):
    out = tmp_path / f"{name}.png"
    assert samples.write(str(workdir), str(out), 4, None, 0, None, 1,
                         raw_weights=raw_weights) == 0
    grids[name] = np.asarray(Image.open(out))
  assert grids["average"].shape == grids["raw"].shape
  assert not np.array_equal(grids["average"], grids["raw"])
