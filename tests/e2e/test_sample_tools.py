"""``ganjax.sample``'s tools end to end on the shared trained run: latent walks as a
PNG strip and an animated GIF, truncation, and their mistakes as one line.

The per-class layout of walks is unit-tested (tests/unit/run/test_samples.py):
training a class-conditional run for it here would cost more than the rest.
"""

import numpy as np
import pytest
from conftest import assert_user_error, run_command, tree_digest
from PIL import Image

CELL = 28 + 2  # a digit and its gap in a grid at --scale 1


def _sample(run, out, *args, env):
  return run_command("ganjax.sample", ["--workdir", str(run), "--out", str(out),
                                       "--scale", "1", *args], env)


def test_a_walk_strip_has_one_row_per_walk(synthetic_run, ganjax_env, tmp_path):
  out = tmp_path / "walk.png"
  result = _sample(synthetic_run, out, "--interpolate", "5", "--num", "3", env=ganjax_env)
  assert "Wrote 3 walks of 5 samples from step 12" in result.stdout
  strip = np.asarray(Image.open(out))
  assert strip.shape == (3 * CELL + 2, 5 * CELL + 2)
  assert strip.std() > 0


def test_an_animated_walk_loops_through_its_keyframes(synthetic_run, ganjax_env, tmp_path):
  out = tmp_path / "walk.gif"
  result = _sample(synthetic_run, out, "--interpolate", "3", "--keyframes", "2", "--num",
                   "4", "--frame_ms", "40", env=ganjax_env)
  assert "Wrote a 6-frame animation of 4 walks from step 12" in result.stdout
  with Image.open(out) as gif:
    assert gif.format == "GIF" and gif.size == (2 * CELL + 2, 2 * CELL + 2)
    assert gif.info["loop"] == 0  # forever
    durations = []
    for index in range(gif.n_frames):
      gif.seek(index)
      durations.append(gif.info["duration"])
  # Identical consecutive frames (if any) are stored once with their durations added.
  assert 1 < len(durations) <= 6 and sum(durations) == 6 * 40


def test_truncation_changes_the_images_and_repeats_for_a_seed(synthetic_run, ganjax_env,
                                                             tmp_path):
  def grid(name, *args):
    _sample(synthetic_run, tmp_path / name, "--num", "4", "--seed", "3", *args,
            env=ganjax_env)
    return np.asarray(Image.open(tmp_path / name))

  full = grid("full.png")
  half = grid("half.png", "--truncation", "0.5")
  assert not np.array_equal(full, half)
  np.testing.assert_array_equal(half, grid("again.png", "--truncation", "0.5"))


# (extra args, with TMP/ for the test's directory; fragments of the error line).
MISTAKES = {
    "psi 0": (["--truncation", "0", "--out", "TMP/x.png"], ["--truncation", "(0, 1]"]),
    "psi above 1": (["--truncation", "1.5", "--out", "TMP/x.png"], ["--truncation"]),
    "a .jpg": (["--interpolate", "4", "--out", "TMP/walk.jpg"],
               ["--out", "walk.jpg must end with .png or .gif"]),
    "a .gif without a walk": (["--out", "TMP/x.gif"], ["x.gif is an animation",
                                                   "--interpolate"]),
    "keyframes without a walk": (["--keyframes", "3", "--out", "TMP/x.png"],
                                 ["--keyframes", "--interpolate"]),
    "keyframes of a strip": (["--interpolate", "4", "--keyframes", "3", "--out",
                              "TMP/x.png"], ["--keyframes", "only apply to animations"]),
    "an existing file that is no GIF": (["--interpolate", "4", "--out", "TMP/notes.gif"],
                                        ["notes.gif exists and is not a GIF image"]),
    "a walk too large (after restore)": (
        ["--interpolate", "100000", "--num", "1000", "--out", "TMP/huge.gif"],
        ["--interpolate 100000 with 1000 walks", "megapixels"]),
}


@pytest.mark.parametrize("case", MISTAKES)
def test_mistakes_are_one_line_and_write_nothing(case, synthetic_run, ganjax_env,
                                                 tmp_path):
  args, fragments = MISTAKES[case]
  (tmp_path / "notes.gif").write_text("not an image\n")
  before, run_before = tree_digest(tmp_path), tree_digest(synthetic_run)
  args = [arg.replace("TMP/", f"{tmp_path}/") for arg in args]
  result = run_command("ganjax.sample", ["--workdir", str(synthetic_run), *args],
                       ganjax_env, check=False)
  assert_user_error(result, *fragments)
  assert tree_digest(tmp_path) == before and tree_digest(synthetic_run) == run_before
