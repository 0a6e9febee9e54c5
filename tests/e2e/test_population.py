"""Populations (config.train.population): K runs trained as one program.

Member m is, leaf by leaf, the single run of seed + m with its swept values; a
population resumes bit-exactly after SIGKILL; a member's NaN rolls back (or
stops) that member only; an extracted member is an ordinary run.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, assert_user_error, kill_while_saving, run_command

from ganjax.run.checkpoints import mismatching_leaves, read_arrays

TINY = ["--config.model.g_features=4", "--config.model.d_features=4",
        "--config.model.noise_dim=8", "--config.train.batch_size=8",
        "--config.ckpt.every_steps=2", "--config.samples.every_steps=2",
        "--config.log.every_steps=2", "--config.samples.num=16",
        "--config.eval.every_steps=0"]
SWEEP = "--config.population.sweep.optim.d.learning_rate=[2e-4,1e-3]"
SEQUENTIAL = "--config.population.mode=sequential"
VMAP = "--config.population.mode=vmap"


def _args(workdir, data, *extra):
  return ["--config", str(REPO / "experiments" / "mnist_dcgan.py"), "--workdir",
          str(workdir), f"--config.data.idx_dir={data}", *TINY, *extra]


def _member(arrays: dict, member: int) -> dict:
  """Member ``member``'s leaves of a population checkpoint, as a single run's."""
  return {name: value[member] for name, value in arrays.items()
          if name not in ("active", "rollbacks")}


def _assert_close(a: dict, b: dict):
  assert a.keys() == b.keys()
  for key in a:
    if a[key].dtype.kind == "f":
      np.testing.assert_allclose(a[key], b[key], rtol=2e-4, atol=2e-5, err_msg=key)
    else:
      np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.fixture(scope="module")
def singles(tmp_path_factory, synthetic_mnist, session_env):
  """The single runs members 0 and 1 of the swept population are: 8 steps, every
  step checkpointed."""
  root = tmp_path_factory.mktemp("singles")
  for seed, rate in ((0, "2e-4"), (1, "1e-3")):
    run_command("ganjax.main", _args(root / f"seed{seed}", synthetic_mnist,
                                     "--config.train.steps=8", f"--config.seed={seed}",
                                     f"--config.optim.d.learning_rate={rate}",
                                     "--config.ckpt.every_steps=1", "--config.ckpt.keep=10"),
                session_env)
  return root


def _single(singles, seed: int, step: int) -> dict:
  return read_arrays(singles / f"seed{seed}" / "checkpoints" / str(step))


@pytest.fixture(scope="module")
def sequential(tmp_path_factory, synthetic_mnist, session_env):
  """The swept population of 2 with members stepped in turn, 6 steps."""
  workdir = tmp_path_factory.mktemp("sequential") / "population"
  result = run_command("ganjax.main", _args(workdir, synthetic_mnist,
                                            "--config.train.steps=6", SEQUENTIAL,
                                            "--config.train.population=2", SWEEP),
                       session_env)
  return workdir, result


def test_members_are_bit_for_bit_the_single_runs_of_their_seeds_and_values(
    sequential, singles):
  workdir, result = sequential
  assert ("Population: 2 members (seeds 0..1; optim.d.learning_rate = 0.0002, 0.001), "
          "stepped in turn") in result.stdout
  population = read_arrays(workdir / "checkpoints" / "6")
  for member in (0, 1):
    assert mismatching_leaves(_member(population, member), _single(singles, member, 6)) == []
  assert list(population["active"]) == [True, True]
  # Reported per member, in one grid per member and one with a row per member.
  records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  assert {(r["step"], r["member"]) for r in records if "member" in r} == {
      (step, member) for step in (2, 4, 6) for member in (0, 1)}
  assert all("d_loss_mean" in r for r in records if "member" not in r)
  for member in (0, 1):
    assert (workdir / "samples" / f"member_{member}" / "step_6.png").is_file()
    assert any((workdir / "tensorboard" / f"member_{member}").iterdir())
  assert (workdir / "samples" / "step_6.png").is_file()


def test_vectorized_population_resumes_bit_exactly_after_sigkill(tmp_path, synthetic_mnist,
                                                                 ganjax_env):
  reference = tmp_path / "reference"
  args = lambda workdir: _args(workdir, synthetic_mnist, "--config.train.steps=6",
                               "--config.train.population=2", SWEEP, VMAP)
  run_command("ganjax.main", args(reference), ganjax_env)
  killed = tmp_path / "killed"
  kill_while_saving(args(killed), ganjax_env, killed, step=4)
  resumed = run_command("ganjax.main", args(killed), ganjax_env)
  assert "Resuming from checkpoint at step" in resumed.stdout
  assert mismatching_leaves(read_arrays(killed / "checkpoints" / "6"),
                            read_arrays(reference / "checkpoints" / "6")) == []


def test_a_members_nan_rolls_back_that_member_alone(tmp_path, synthetic_mnist,
                                                    ganjax_env, singles):
  workdir = tmp_path / "nan"
  result = run_command("ganjax.main", _args(
      workdir, synthetic_mnist, "--config.train.steps=6", "--config.train.population=2",
      SWEEP, SEQUENTIAL, "--config.debug.nan_at_step=3", "--config.debug.nan_member=1"),
      ganjax_env)
  assert "in member(s) 1: rolled back to step 2" in result.stdout
  population = read_arrays(workdir / "checkpoints" / "6")
  assert list(population["rollbacks"]) == [0, 1]
  # Member 0 never noticed; member 1 went on from step 2 with a moved-on stream.
  assert mismatching_leaves(_member(population, 0), _single(singles, 0, 6)) == []
  single_1 = _single(singles, 1, 6)
  member_1 = _member(population, 1)
  assert int(member_1["g/step"]) == 6
  assert all(np.isfinite(v).all() for v in member_1.values() if v.dtype.kind == "f")
  assert mismatching_leaves(member_1, single_1) != []


def test_a_member_that_keeps_failing_stops_and_the_others_finish(tmp_path,
                                                                 synthetic_mnist,
                                                                 ganjax_env):
  workdir = tmp_path / "stopped"
  result = run_command("ganjax.main", _args(
      workdir, synthetic_mnist, "--config.train.steps=6", "--config.train.population=2",
      "--config.debug.nan_at_step=3", "--config.debug.nan_member=1",
      "--config.debug.nan_times=1", "--config.train.max_rollbacks=0", VMAP), ganjax_env)
  assert "member 1: non-finite values by step 4 after 0 rollbacks: it stops at step 2" \
      in result.stderr
  assert "Finished at step 6" in result.stdout
  population = read_arrays(workdir / "checkpoints" / "6")
  assert list(population["active"]) == [True, False]
  assert list(population["g/step"]) == [6, 2]


def test_an_extracted_member_is_an_ordinary_run(tmp_path, sequential, singles,
                                                ganjax_env):
  workdir, _ = sequential
  assert_user_error(run_command("ganjax.sample", [
      "--workdir", str(workdir), "--out", str(tmp_path / "x.png")], ganjax_env,
      check=False), "holds a population of 2 runs", "ganjax.population extract")

  out = tmp_path / "member1"
  result = run_command("ganjax.population", ["extract", "--workdir", str(workdir),
                                             "--member", "1", "--out", str(out)],
                       ganjax_env)
  assert "Member 1" in result.stdout and "seed 1" in result.stdout
  config = json.loads((out / "config.json").read_text())
  assert (config["seed"], config["train"]["population"]) == (1, 1)
  assert config["optim"]["d"]["learning_rate"] == 1e-3
  assert (out / "samples" / "step_6.png").is_file()
  assert all("member" not in json.loads(line)
             for line in (out / "metrics.jsonl").read_text().splitlines())
  run_command("ganjax.sample", ["--workdir", str(out), "--out", str(tmp_path / "s.png")],
              ganjax_env)
  assert (tmp_path / "s.png").is_file()
  # Resumed as the single run it is, it continues exactly as that run did.
  run_command("ganjax.main", ["--workdir", str(out), "--config.train.steps=8"],
              ganjax_env)
  assert mismatching_leaves(read_arrays(out / "checkpoints" / "8"),
                            _single(singles, 1, 8)) == []
  assert_user_error(run_command("ganjax.population", [
      "extract", "--workdir", str(workdir), "--member", "2", "--out",
      str(tmp_path / "m2")], ganjax_env, check=False), "--member 2", "members 0 to 1")
  assert not (tmp_path / "m2").exists()
  assert_user_error(run_command("ganjax.population", [
      "extract", "--workdir", str(workdir), "--member", "0", "--out", str(out)],
      ganjax_env, check=False), "exists")


def test_eval_scores_every_member_and_summarises_them(sequential, classifier_dir,
                                                     ganjax_env):
  workdir, _ = sequential
  result = run_command("ganjax.eval", [
      "--workdir", str(workdir), "--num", "200", "--num_real", "200", "--classifier",
      str(classifier_dir), "--batch_size", "100"], ganjax_env)
  assert "Member 0 (seed 0, step 6):" in result.stdout
  assert "Member 1 (seed 1, step 6):" in result.stdout
  assert "Over the 2 members: mean ± std [min, max]" in result.stdout
  document = json.loads((workdir / "eval" / "6-population.json").read_text())
  fids = [member["scores"]["fid"] for member in document["members"]]
  assert document["summary"]["fid_mean"] == pytest.approx(np.mean(fids))
  assert document["summary"]["fid_max"] == max(fids)


def test_sweep_mistakes_are_one_line(tmp_path, synthetic_mnist, ganjax_env):
  for extra, fragment in (
      (["--config.train.population=3", SWEEP], "has 2 value(s)"),
      (["--config.train.population=2",
        "--config.population.sweep.optim.d.weight_decay=[0.1,0.2]"], "has no weight_decay"),
      ([SWEEP], "a single run sets config.optim.d.learning_rate itself")):
    result = run_command("ganjax.main", _args(tmp_path / "run", synthetic_mnist, *extra),
                         ganjax_env, check=False)
    assert_user_error(result, fragment)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("members, layout", [
    (2, "2 member x 4 data"),
    pytest.param(8, "8 member x 1 data", marks=pytest.mark.slow)])
def test_vectorized_members_on_any_devices_match_their_single_runs(
    tmp_path, synthetic_mnist, ganjax_env, singles, members, layout):
  """After one step (a GAN drifts apart later: Adam amplifies rounding)."""
  workdir = tmp_path / "population"
  sweep = SWEEP if members == 2 else "--config.optim.d.learning_rate=2e-4"
  result = run_command("ganjax.main", _args(
      workdir, synthetic_mnist, "--config.train.steps=1",
      f"--config.train.population={members}", sweep, VMAP),
      dict(ganjax_env, XLA_FLAGS="--xla_force_host_platform_device_count=8"))
  assert layout in result.stdout
  population = read_arrays(workdir / "checkpoints" / "1")
  _assert_close(_member(population, 0), _single(singles, 0, 1))
  if members == 2:
    _assert_close(_member(population, 1), _single(singles, 1, 1))


_COLLECTIVES = """
import sys, tempfile
from pathlib import Path
import jax
from ganjax.run import benchmark, config as config_lib
from ganjax.run.training import make_trainer
config = config_lib.experiment_config("experiments/mnist_dcgan.py")
config.model.g_features = config.model.d_features = 4
config.model.noise_dim = 8
config.train.batch_size = 8
config.train.population = int(sys.argv[1])
config.population.mode = "vmap"
config.eval.every_steps = 0
with tempfile.TemporaryDirectory() as workdir:
  trainer = make_trainer(config, Path(workdir), data=benchmark.random_data((28, 28, 1), 64))
  state = trainer.restore_or_init()
  text = trainer._lowered_step(state, trainer.step_input(0)).compile().as_text()
print("collectives:", sum(text.count(op) for op in (" all-reduce(", " all-gather(",
                                                    " collective-permute(", " all-to-all(")))
"""


@pytest.mark.parametrize("members, communicates", [
    (8, False), pytest.param(2, True, marks=pytest.mark.slow)])
def test_members_on_their_own_devices_do_not_communicate(ganjax_env, members,
                                                         communicates):
  """8 members on 8 devices: no collective in the compiled step; 2 members, each
  4-way data parallel: their gradients are all-reduced."""
  result = subprocess.run(
      [sys.executable, "-c", _COLLECTIVES, str(members)], cwd=REPO, capture_output=True,
      text=True, timeout=600,
      env=dict(ganjax_env, XLA_FLAGS="--xla_force_host_platform_device_count=8"))
  assert result.returncode == 0, result.stderr
  count = int(result.stdout.split("collectives:")[1])
  assert (count > 0) == communicates, result.stdout
