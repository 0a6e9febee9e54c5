"""Shared test fixtures: real data locations and a runner for ganjax commands."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MNIST_DIR = REPO.parent / "shared" / "data" / "mnist"

#: Small enough to compile and run in seconds, same shapes as the real model.
TINY_SEED = ["--config.model.g_features=16", "--config.model.d_features=8",
             "--config.model.noise_dim=16", "--config.train.batch_size=8",
             "--config.log.every_steps=4", "--config.samples.num=16"]


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
  if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists():
    pytest.skip(f"real MNIST IDX files not found in {MNIST_DIR}")
  return MNIST_DIR


@pytest.fixture(scope="session")
def compilation_cache(tmp_path_factory) -> Path:
  """One persistent XLA cache for every process the tests start."""
  return tmp_path_factory.mktemp("xla-cache")


@pytest.fixture(scope="session")
def session_env(compilation_cache, tmp_path_factory) -> dict[str, str]:
  """The environment of every command the tests start.

  One persistent XLA cache, and no domain classifier unless a test names one: a
  classifier in the user's own ~/.cache would otherwise switch on periodic
  evaluation in every training run.
  """
  env = dict(os.environ)
  env["GANJAX_COMPILATION_CACHE"] = str(compilation_cache)
  env["GANJAX_CLASSIFIERS"] = str(tmp_path_factory.mktemp("no-classifiers"))
  env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  return env


@pytest.fixture
def ganjax_env(session_env) -> dict[str, str]:
  return dict(session_env)


#: Optimizer steps of the tests' domain classifier (~98% on held-out digits).
CLASSIFIER_STEPS = 300


@pytest.fixture(scope="session")
def classifier_dir(tmp_path_factory, mnist_dir, session_env) -> Path:
  """A domain classifier trained by the command (short: 300 steps of 64 digits)."""
  directory = tmp_path_factory.mktemp("classifier") / "mnist"
  result = run_command("ganjax.classifier", [
      "--dataset", "mnist", "--idx_dir", str(mnist_dir), "--workdir", str(directory),
      "--steps", str(CLASSIFIER_STEPS), "--batch_size", "64"], session_env)
  assert "Held-out accuracy" in result.stdout
  return directory


#: The shared trained run: checkpoints and sample grids at steps 4, 8 and 12.
STEPS_12 = ["--config.train.steps=12", "--config.ckpt.every_steps=4",
            "--config.samples.every_steps=4"]


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, mnist_dir, session_env) -> Path:
  """An uninterrupted 12-step run of the tiny seed model, made once per session.

  Tests read it or copy it, never change it: it is also the reference that
  resumed runs must reproduce bit for bit.
  """
  workdir = tmp_path_factory.mktemp("trained") / "run"
  run_command("ganjax.main", train_args(workdir, mnist_dir, *STEPS_12), session_env)
  return workdir


def run_command(module: str, args: list[str], env: dict[str, str],
                timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
  """Runs ``python -m module args`` from the repo root and returns its result."""
  result = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
  if check and result.returncode != 0:
    raise AssertionError(f"{module} {' '.join(args)} exited {result.returncode}:\n"
                         f"{result.stdout}\n{result.stderr}")
  return result


def train_args(workdir: Path, data_dir: Path, *extra: str,
               config: str = "experiments/mnist.py") -> list[str]:
  return ["--config", config, "--workdir", str(workdir),
          f"--config.data.idx_dir={data_dir}", *TINY_SEED, *extra]


def tree_digest(root: Path) -> dict[str, str]:
  """sha256 of every file under ``root`` by relative path (directories as 'dir').

  Two digests are equal when nothing under ``root`` was created, removed or changed.
  """
  import hashlib
  root = Path(root)
  if not root.exists():
    return {}
  digest = {}
  for path in sorted(root.rglob("*")):
    name = str(path.relative_to(root))
    digest[name] = ("dir" if path.is_dir() and not path.is_symlink()
                    else hashlib.sha256(path.read_bytes()).hexdigest())
  return digest


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str,
                      code: int = 2) -> str:
  """A user mistake: exit ``code``, no traceback, one ``ganjax: error:`` line naming it.

  Returns that line.
  """
  assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
  assert "Traceback" not in result.stderr + result.stdout, result.stderr
  errors = [line for line in result.stderr.splitlines() if line.startswith("ganjax: error:")]
  assert len(errors) == 1, result.stderr
  for fragment in fragments:
    assert fragment in errors[0], (fragment, errors[0])
  return errors[0]


def start_trainer(args: list[str], env: dict[str, str], **kwargs) -> subprocess.Popen:
  """Starts ``python -m ganjax.main args`` in the background (text pipes by default)."""
  kwargs.setdefault("stdout", subprocess.PIPE)
  kwargs.setdefault("stderr", subprocess.PIPE)
  return subprocess.Popen([sys.executable, "-m", "ganjax.main", *args], cwd=REPO,
                          env=env, text=True, **kwargs)


def wait_for(predicate, proc: subprocess.Popen, timeout: float = 300,
             poll: float = 0.005) -> None:
  """Polls ``predicate`` until true; fails if ``proc`` ends first or time runs out."""
  deadline = time.monotonic() + timeout
  while not predicate():
    if proc.poll() is not None:
      raise AssertionError(f"process ended early:\n{proc.communicate()}")
    if time.monotonic() > deadline:
      proc.kill()
      raise AssertionError("timed out")
    time.sleep(poll)
