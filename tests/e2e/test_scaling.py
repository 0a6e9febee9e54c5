"""One program on 1 device, 8 devices and 2 processes: same results, movable checkpoints."""

import json
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import REPO, run_command

from ganjax.run.checkpoints import read_arrays

# The DCGAN-paper model, tiny: quick to compile for 8 devices.
SMALL_DCGAN = ["--config", "experiments/mnist_dcgan.py",
               "--config.model.g_features=8", "--config.model.d_features=8",
               "--config.model.noise_dim=16", "--config.train.batch_size=16",
               "--config.log.every_steps=2", "--config.samples.every_steps=1000",
               "--config.ckpt.every_steps=4"]


def _args(workdir, data, steps, *extra):
  return [*SMALL_DCGAN, "--workdir", str(workdir), f"--config.data.idx_dir={data}",
          f"--config.train.steps={steps}", *extra]


def _devices_env(env: dict, count: int) -> dict:
  return dict(env, XLA_FLAGS=f"--xla_force_host_platform_device_count={count}")


def _assert_close(a_dir, b_dir, rtol=2e-4, atol=2e-5):
  a, b = read_arrays(a_dir), read_arrays(b_dir)
  assert a.keys() == b.keys()
  for key in a:
    if a[key].dtype.kind == "f":
      np.testing.assert_allclose(a[key], b[key], rtol=rtol, atol=atol, err_msg=key)
    else:
      np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.fixture(scope="module")
def one_device_run(tmp_path_factory, mnist_dir, session_env):
  workdir = tmp_path_factory.mktemp("one") / "run"
  run_command("ganjax.main", _args(workdir, mnist_dir, 8), _devices_env(session_env, 1))
  return workdir


@pytest.mark.slow
def test_eight_devices_match_one_device_then_resume_on_one(tmp_path, mnist_dir,
                                                          ganjax_env, one_device_run):
  workdir = tmp_path / "run"
  run_command("ganjax.main", _args(workdir, mnist_dir, 4), _devices_env(ganjax_env, 8))
  _assert_close(workdir / "checkpoints" / "4", one_device_run / "checkpoints" / "4")
  # Elastic: the 8-device checkpoint restores on 1 device and training goes on.
  resumed = run_command("ganjax.main", _args(workdir, mnist_dir, 8),
                        _devices_env(ganjax_env, 1))
  assert "Resuming from checkpoint at step 4" in resumed.stdout
  _assert_close(workdir / "checkpoints" / "8", one_device_run / "checkpoints" / "8")


def _start_two_processes(workdir, data, steps, env, port, *extra, args=None):
  """Two processes of 4 devices each; ``args`` replaces the default training flags."""
  common = [*(args or _args(workdir, data, steps)),
            f"--coordinator_address=localhost:{port}", "--num_processes=2", *extra]
  return [subprocess.Popen([sys.executable, "-m", "ganjax.main", *common,
                            f"--process_id={i}"], cwd=REPO, env=_devices_env(env, 4),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
          for i in range(2)]


def _launch_two_processes(workdir, data, steps, env, port, *extra, args=None):
  procs = _start_two_processes(workdir, data, steps, env, port, *extra, args=args)
  outputs = [p.communicate(timeout=900) for p in procs]
  for proc, (out, err) in zip(procs, outputs):
    assert proc.returncode == 0, out + err
  return outputs


@pytest.mark.slow
def test_two_processes_train_checkpoint_and_resume(tmp_path, mnist_dir, ganjax_env,
                                                   one_device_run, classifier_dir):
  workdir = tmp_path / "run"
  _launch_two_processes(workdir, mnist_dir, 4, ganjax_env, 12731)
  assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["4"]
  # The resumed run also evaluates (FID & co.) at step 8, which only process 0 does.
  (out0, _), (out1, _) = _launch_two_processes(
      workdir, mnist_dir, 8, ganjax_env, 12732,
      f"--config.eval.classifier_dir={classifier_dir}", "--config.eval.every_steps=8",
      "--config.eval.num_samples=200", "--config.eval.batch_size=100",
      "--config.eval.num_reference=1000")
  assert "Resuming from checkpoint at step 4" in out0
  # Only process 0 reports (gloo prints its own connection lines everywhere).
  assert "Resuming" not in out1 and "step 8:" not in out1
  records = [json.loads(line) for line in (workdir / "metrics.jsonl").open()]
  assert [r["step"] for r in records if "eval/fid" in r] == [8]
  _assert_close(workdir / "checkpoints" / "8", one_device_run / "checkpoints" / "8")


@pytest.fixture(scope="module")
def prepared_digits(tmp_path_factory, mnist_dir, session_env):
  """The digits ``one_device_run`` trains on, as a prepared dataset."""
  out = tmp_path_factory.mktemp("prepared") / "digits"
  run_command("ganjax.prepare", ["--idx_dir", str(mnist_dir), "--split", "train",
                                 "--out", str(out), "--shard_mb", "2"], session_env)
  return out


def _streamed_args(workdir, prepared, steps, *extra):
  return [*SMALL_DCGAN, "--workdir", str(workdir), f"--config.data.prepared={prepared}",
          "--config.data.host_budget_mb=0", f"--config.train.steps={steps}", *extra]


@pytest.mark.slow
def test_two_processes_stream_their_own_rows_then_resume_on_one_device(
    tmp_path, mnist_dir, ganjax_env, one_device_run, prepared_digits):
  workdir = tmp_path / "run"
  # Each process reads only its half of every global batch from the shards.
  _launch_two_processes(workdir, None, 4, ganjax_env, 12734,
                        args=_streamed_args(workdir, prepared_digits, 4))
  _assert_close(workdir / "checkpoints" / "4", one_device_run / "checkpoints" / "4")
  # Elastic: 8 devices (one process) streaming, then 1 device, from the same checkpoint.
  resumed = run_command("ganjax.main", _streamed_args(workdir, prepared_digits, 6),
                        _devices_env(ganjax_env, 8))
  assert "Resuming from checkpoint at step 4" in resumed.stdout
  resumed = run_command("ganjax.main", _streamed_args(workdir, prepared_digits, 8),
                        _devices_env(ganjax_env, 1))
  assert "Resuming from checkpoint at step 6" in resumed.stdout
  _assert_close(workdir / "checkpoints" / "8", one_device_run / "checkpoints" / "8")


@pytest.mark.slow
def test_preempting_one_process_stops_both_at_the_same_step(tmp_path, mnist_dir,
                                                            ganjax_env):
  workdir = tmp_path / "run"
  procs = _start_two_processes(workdir, mnist_dir, 100_000, ganjax_env, 12733,
                               "--config.ckpt.every_steps=100000")
  metrics = workdir / "metrics.jsonl"
  deadline = time.monotonic() + 300
  while not (metrics.exists() and metrics.stat().st_size > 0):
    assert all(p.poll() is None for p in procs) and time.monotonic() < deadline, [p.communicate() for p in procs if p.poll() is not None]
    time.sleep(0.05)
  procs[1].send_signal(signal.SIGTERM)  # Only the non-leading host is preempted.
  (out0, err0), (out1, err1) = [p.communicate(timeout=300) for p in procs]
  assert [p.returncode for p in procs] == [0, 0], err0 + err1
  saved = [int(p.name) for p in (workdir / "checkpoints").iterdir()]
  assert len(saved) == 1  # One multi-host checkpoint, at the step both agreed on.
  assert f"Stopped at step {saved[0]}; checkpoint saved" in out0
  assert "Resume with:" in out0
  assert json.loads(metrics.read_text().splitlines()[-1])["step"] == saved[0]


def test_batch_must_divide_over_devices(tmp_path, synthetic_mnist, ganjax_env):
  result = run_command("ganjax.main", _args(tmp_path / "run", synthetic_mnist, 4,
                                            "--config.train.batch_size=12"),
                       _devices_env(ganjax_env, 8), check=False)
  assert result.returncode == 2
  assert "not divisible by the 8 devices" in result.stderr


@pytest.mark.slow
def test_bfloat16_compute_keeps_float32_state():
  from ganjax.gan.optimizers import build_optimizer
  from ganjax.gan.state import create_train_states
  from ganjax.gan.step import StepSpec, train_step
  from ganjax.models import build_model
  model = build_model("dcgan", (28, 28, 1), None, noise_dim=8, g_features=4,
                      d_features=4, dtype="bfloat16")
  batch = {"image": jnp.zeros((4, 28, 28, 1))}
  g, d = create_train_states(model, build_optimizer(), build_optimizer(), batch,
                             jax.random.PRNGKey(0))
  g, d, metrics = jax.jit(lambda g, d: train_step(g, d, batch, jax.random.PRNGKey(1),
                                                  spec=StepSpec(model)))(g, d)
  assert bool(metrics["finite"])
  for leaf in jax.tree.leaves((g.params, d.params, g.opt_state, d.opt_state)):
    assert leaf.dtype in (jnp.float32, jnp.int32)
