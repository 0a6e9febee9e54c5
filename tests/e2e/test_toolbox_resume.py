"""The modern toolbox switched on together trains and resumes bit-exactly after
SIGKILL: EMA generator, lazy R1, WGAN-GP, several critic steps, ADA, spectral norm."""

import signal

import pytest

from conftest import REPO, run_command, start_trainer, wait_for

from ganjax.run.checkpoints import mismatching_leaves, read_arrays

TOOLBOX = ["--config.model.g_features=4", "--config.model.d_features=4",
           "--config.model.noise_dim=8", "--config.train.batch_size=8",
           "--config.train.steps=8", "--config.ckpt.every_steps=4",
           "--config.samples.every_steps=4", "--config.log.every_steps=4",
           "--config.ema.half_life_images=200", "--config.loss.r1_weight=1.0",
           "--config.loss.r1_every=2", "--config.loss.gp_weight=1.0",
           "--config.train.d_steps=2", "--config.augment.policy=translation,cutout,color",
           "--config.augment.ada_target=0.6", "--config.augment.ada_images=2000",
           "--config.model.spectral_norm=True"]


def _args(workdir, data):
  return ["--config", str(REPO / "experiments" / "mnist_dcgan.py"), "--workdir",
          str(workdir), f"--config.data.idx_dir={data}", *TOOLBOX]


@pytest.mark.slow  # Two trainings; the default run's SIGKILL test covers the base state.
def test_toolbox_run_resumes_bit_exactly_after_sigkill(tmp_path, synthetic_mnist,
                                                       ganjax_env):
  reference = tmp_path / "reference"
  result = run_command("ganjax.main", _args(reference, synthetic_mnist), ganjax_env)
  for metric in ("r1", "gp", "augment_p"):
    assert f"{metric}=" in result.stdout
  stored = read_arrays(reference / "checkpoints" / "8")
  assert any(name.startswith("g/ema_params") for name in stored)
  assert "d/augment_p" in stored and float(stored["d/augment_p"]) >= 0
  assert any("SpectralNorm" in name for name in stored)

  killed = tmp_path / "killed"
  proc = start_trainer(_args(killed, synthetic_mnist), ganjax_env)
  wait_for(lambda: (killed / "checkpoints" / "4" / "commit_success.txt").exists(), proc)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  resumed = run_command("ganjax.main", _args(killed, synthetic_mnist), ganjax_env)
  assert "Resuming from checkpoint at step" in resumed.stdout
  assert mismatching_leaves(read_arrays(killed / "checkpoints" / "8"), stored) == []
