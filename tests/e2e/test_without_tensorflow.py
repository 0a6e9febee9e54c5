"""ganjax without TensorFlow: accelerator images often carry JAX but not TF.

TensorFlow and TFDS are imported only to read a TFDS dataset; everything else
(training on IDX files, folders or prepared data, TensorBoard files, sampling,
evaluation) works with both made unimportable, and the TFDS path says in one
line what is missing.
"""

import subprocess
import sys

from conftest import REPO, TINY_SEED, assert_user_error

#: Runs ``python -m MODULE ARGS`` with ``import tensorflow`` (and TFDS) failing.
_WITHOUT_TF = ("import runpy, sys; "
               "sys.modules.update(dict.fromkeys(['tensorflow', 'tensorflow_datasets'], None)); "
               "module, sys.argv = sys.argv[1], sys.argv[1:]; "
               "runpy.run_module(module, run_name='__main__', alter_sys=True)")


def _run_without_tf(module, args, env):
  return subprocess.run([sys.executable, "-c", _WITHOUT_TF, module, *args], cwd=REPO,
                        env=env, capture_output=True, text=True, timeout=600)


def test_train_and_sample_without_tensorflow(tmp_path, synthetic_mnist, ganjax_env):
  workdir = tmp_path / "run"
  trained = _run_without_tf("ganjax.main", [
      "--config", "experiments/mnist.py", "--workdir", str(workdir),
      f"--config.data.idx_dir={synthetic_mnist}", *TINY_SEED,
      "--config.train.steps=2", "--config.eval.every_steps=0"], ganjax_env)
  assert trained.returncode == 0, trained.stderr
  assert "Finished at step 2" in trained.stdout
  assert list((workdir / "tensorboard").rglob("events.out.tfevents.*"))
  sampled = _run_without_tf("ganjax.sample", ["--workdir", str(workdir), "--num", "4",
                                              "--out", str(tmp_path / "s.png")], ganjax_env)
  assert sampled.returncode == 0, sampled.stderr
  assert (tmp_path / "s.png").is_file()


def test_a_tfds_dataset_without_tensorflow_is_one_line(tmp_path, ganjax_env):
  result = _run_without_tf("ganjax.main", [
      "--config", "experiments/mnist.py", "--workdir", str(tmp_path / "run")], ganjax_env)
  assert_user_error(result, "reading a TFDS dataset needs TensorFlow",
                    "--config.data.idx_dir")
  assert not (tmp_path / "run").exists()
