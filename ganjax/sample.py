"""Write a grid of generated images from a run's newest checkpoint.

  python -m ganjax.sample --workdir runs/mnist --num 64 --out samples.png [--seed S]
"""

from absl import app, flags

_WORKDIR = flags.DEFINE_string("workdir", None, "Workdir of a ganjax training run.")
_OUT = flags.DEFINE_string("out", None, "PNG file to write.")
_NUM = flags.DEFINE_integer("num", 64, "Number of images.", lower_bound=1)
_SEED = flags.DEFINE_integer("seed", 0, "Noise seed (same seed, same images).")
_COLUMNS = flags.DEFINE_integer("columns", None, "Images per row (default: square).",
                                lower_bound=1)
_SCALE = flags.DEFINE_integer("scale", 2, "Pixel enlargement factor.", lower_bound=1)
flags.mark_flags_as_required(["workdir", "out"])


def write_samples(workdir: str, out: str, num: int, seed: int, columns, scale) -> int:
  """Generates ``num`` images with noise from ``seed`` and writes them to ``out``."""
  import jax

  from ganjax import images, runs, sampling
  run = runs.load_trained(workdir)
  noise = run.model.sample_noise(jax.random.PRNGKey(seed), num)
  fake = sampling.generate_in_batches(run.g_state, noise, None)
  images.save_grid(out, fake, run.model.pixel_range, columns=columns, scale=scale)
  print(f"Wrote {num} samples from step {run.step} to {out}")
  return 0


def main(argv: list[str]) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  from ganjax import cli
  cli.setup()
  return cli.run_reporting_errors(write_samples, _WORKDIR.value, _OUT.value, _NUM.value,
                                  _SEED.value, _COLUMNS.value, _SCALE.value)


def run() -> None:
  from ganjax import cli
  app.run(main, flags_parser=cli.parse_flags)


if __name__ == "__main__":
  run()
