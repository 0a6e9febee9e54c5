"""Shared test fixtures: data (real MNIST, synthetic digits), trained runs, and a
runner for ganjax commands."""

import gzip
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
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


_IDX_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C,
              np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
  """Encodes an array as IDX, independently of the code under test."""
  header = struct.pack(">BBBB", 0, 0, _IDX_CODES[array.dtype.type], array.ndim)
  header += struct.pack(f">{array.ndim}I", *array.shape)
  return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray) -> Path:
  """Writes ``array`` as an IDX file, gzipped (reproducibly) when the name ends in .gz."""
  data = idx_bytes(array)
  path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
  return path


# Seven-segment digits. Segments a-g as (x0, y0, x1, y1) in a unit box, y down.
_SEGMENT_ENDS = np.array([(0, 0, 1, 0), (1, 0, 1, .5), (1, .5, 1, 1), (0, 1, 1, 1),
                          (0, .5, 0, 1), (0, 0, 0, .5), (0, .5, 1, .5)], np.float32)
_LIT_SEGMENTS = np.array([[segment in lit for segment in "abcdefg"] for lit in (
    "abcdef", "bc", "abged", "abgcd", "fgbc", "afgcd", "afgedc", "abc", "abcdefg",
    "abcdfg")])


def synthetic_digits(num: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """``num`` digit-like 28x28 images (uint8, (N, 28, 28, 1)) and their labels (int32).

  Seven-segment digits 0-9, anti-aliased, each with its own size, position,
  slant, stroke width and brightness, in equal numbers per class (shuffled): the
  shapes and statistics the models and data checks expect of MNIST, a pure
  function of (num, seed).
  """
  rng = np.random.default_rng(seed)
  labels = rng.permutation(np.arange(num) % 10).astype(np.int32)
  uniform = lambda low, high: rng.uniform(low, high, (num, 1)).astype(np.float32)
  width, height = uniform(8, 13), uniform(15, 20)
  left, top = 4 + uniform(0, 1) * (20 - width), 3 + uniform(0, 1) * (22 - height)
  slant, stroke, brightness = uniform(-.25, .25), uniform(1.2, 2.2), uniform(200, 255)
  x0, y0, x1, y1 = _SEGMENT_ENDS.T[:, None, :]
  # Segment ends in pixels, (N, 7) each, then broadcast against (28, 28) pixels.
  ax = (left + x0 * width - slant * (y0 - .5) * height)[..., None, None]
  bx = (left + x1 * width - slant * (y1 - .5) * height)[..., None, None]
  ay, by = (top + y0 * height)[..., None, None], (top + y1 * height)[..., None, None]
  centres = np.arange(28, dtype=np.float32) + .5
  px, py = centres[None, None, None, :], centres[None, None, :, None]
  dx, dy = bx - ax, by - ay
  along = np.clip(((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy), 0, 1)
  distance = np.hypot(px - ax - along * dx, py - ay - along * dy)
  ink = np.clip(stroke[..., None, None] - distance + .5, 0, 1)
  ink = np.where(_LIT_SEGMENTS[labels][..., None, None], ink, 0).max(axis=1)
  return np.round(ink * brightness[..., None]).astype(np.uint8)[..., None], labels


def write_mnist_files(directory: Path, images: np.ndarray, labels: np.ndarray) -> Path:
  """Writes images and labels under the file names of the shared MNIST folder
  (its test split, which also serves 'train' there)."""
  directory.mkdir(parents=True, exist_ok=True)
  write_idx(directory / "t10k-images-idx3-ubyte.gz", images[..., 0])
  write_idx(directory / "t10k-labels-idx1-ubyte.gz", labels.astype(np.uint8))
  return directory


#: Examples in the synthetic dataset: 100 of each digit.
SYNTHETIC_EXAMPLES = 1000


@pytest.fixture(scope="session")
def synthetic_mnist(tmp_path_factory) -> Path:
  """A directory laid out like the shared MNIST folder, holding
  :data:`SYNTHETIC_EXAMPLES` synthetic digits: for tests of the training path
  that need some 28x28 labelled data, not real MNIST, and run anywhere."""
  return write_mnist_files(tmp_path_factory.mktemp("synthetic") / "mnist",
                           *synthetic_digits(SYNTHETIC_EXAMPLES))


@pytest.fixture(scope="session")
def compilation_cache(tmp_path_factory, worker_id) -> Path:
  """One persistent XLA cache for every process the tests start, shared by the
  pytest-xdist workers (each has its own base directory below the run's)."""
  if worker_id == "master":
    return tmp_path_factory.mktemp("xla-cache")
  cache = tmp_path_factory.getbasetemp().parent / "xla-cache"
  cache.mkdir(exist_ok=True)
  return cache


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
def synthetic_run(tmp_path_factory, synthetic_mnist, session_env) -> Path:
  """An uninterrupted 12-step run of the tiny seed model on the synthetic digits,
  made once per session: what the resume, signal and checkpoint tests resume (on
  ``synthetic_mnist``) in copies, and the run the commands' tests read.

  Tests read it or copy it, never change it: it is also the reference that
  resumed runs must reproduce bit for bit.
  """
  workdir = tmp_path_factory.mktemp("synthetic-trained") / "run"
  run_command("ganjax.main", train_args(workdir, synthetic_mnist, *STEPS_12),
              session_env)
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


def kill_while_saving(args: list[str], env: dict[str, str], workdir: Path,
                      step: int) -> None:
  """Starts a trainer and SIGKILLs it the moment its save of ``step`` starts writing."""
  import signal
  proc = start_trainer(args, env)
  checkpoints = workdir / "checkpoints"
  wait_for(lambda: checkpoints.is_dir() and any(
      p.name.startswith(str(step)) for p in checkpoints.iterdir()), proc)
  proc.send_signal(signal.SIGKILL)
  proc.wait()


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
