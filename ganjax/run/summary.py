"""What a run tells its user: a block at start, the speed once measured, a report at the end.

Pure formatting of values the trainer hands over, so it is tested without training.
"""

import dataclasses
import math
from pathlib import Path
from typing import Any, Mapping, Optional

import jax
import numpy as np

#: Scores of periodic evaluation shown on the console (all go to metrics/TensorBoard).
CONSOLE_EVAL_KEYS = ("fid", "precision", "recall", "coverage")


def parameter_count(params: Any) -> int:
  return int(sum(np.prod(leaf.shape) for leaf in jax.tree.leaves(params)))


def _count(n: int) -> str:
  return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else str(n)


def duration(seconds: float) -> str:
  """``1h02m``, ``12m05s`` or ``7.3s``."""
  if not math.isfinite(seconds):
    return "?"
  if seconds < 60:
    return f"{seconds:.1f}s"
  minutes, secs = divmod(int(round(seconds)), 60)
  hours, minutes = divmod(minutes, 60)
  return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


@dataclasses.dataclass(frozen=True)
class RunFacts:
  """What the start block says."""
  model: str
  dataset: str
  split: str
  num_examples: int
  image_shape: tuple[int, ...]
  num_classes: Optional[int]
  devices: str
  g_params: int
  d_params: int
  batch_size: int
  step: int
  total_steps: int
  workdir: Path
  sample_every: int


def start_block(facts: RunFacts) -> str:
  shape = "x".join(str(n) for n in facts.image_shape)
  classes = (f", {facts.num_classes} class{'es' * (facts.num_classes != 1)}"
             if facts.num_classes else "")
  epochs = facts.total_steps * facts.batch_size / facts.num_examples
  start = f"from step {facts.step:,} " if facts.step else ""
  return "\n".join([
      f"ganjax: {facts.model} on {facts.dataset} {facts.split} ({facts.num_examples:,} "
      f"images {shape}{classes}), {facts.devices}",
      f"  generator {_count(facts.g_params)} parameters, discriminator "
      f"{_count(facts.d_params)}; batch {facts.batch_size}, {start}to step "
      f"{facts.total_steps:,} ({epochs:.1f} epochs)",
      f"  grids every {facts.sample_every} steps in {facts.workdir / 'samples'}; "
      f"tensorboard --logdir {facts.workdir / 'tensorboard'}",
  ])


def layer_tables(model: Any, noise: Optional[jax.Array], condition: Optional[jax.Array],
                 image_shape: tuple[int, ...]) -> str:
  """Keras-style per-layer tables of G and D (flax's ``nn.tabulate``) for one example."""
  import flax.linen as nn
  keys = {"params": jax.random.PRNGKey(0), "dropout": jax.random.PRNGKey(1)}
  first = lambda x: None if x is None else x[:1]
  options = dict(console_kwargs={"width": 120, "color_system": None}, compute_flops=False)
  g = nn.tabulate(model.generator, keys, **options)(first(noise), first(condition),
                                                     train=False)
  images = jax.numpy.zeros((1, *image_shape), jax.numpy.float32)
  d = nn.tabulate(model.discriminator, keys, **options)(images, first(condition),
                                                         train=False)
  return f"Generator\n{g}\nDiscriminator\n{d}"


def speed_line(images_per_s: float, batch_size: int, step: int, total: int) -> str:
  left = (total - step) * batch_size / images_per_s
  return (f"Speed {images_per_s:,.0f} images/s ({images_per_s / batch_size:.2f} steps/s): "
          f"about {duration(left)} to step {total:,}")


def eval_line(step: int, scores: Mapping[str, float]) -> str:
  shown = "  ".join(f"{k}={scores[k]:.4g}" for k in CONSOLE_EVAL_KEYS if k in scores)
  return f"eval at step {step}: {shown}"


def population_eval_line(step: int, per_member: Mapping[int, Mapping[str, float]]) -> str:
  """Each console score as mean ± standard deviation over the members [min, max]."""
  shown = []
  for key in CONSOLE_EVAL_KEYS:
    values = [scores[key] for scores in per_member.values() if key in scores]
    if values:
      shown.append(f"{key}={np.mean(values):.4g}±{np.std(values):.2g} "
                   f"[{min(values):.4g}, {max(values):.4g}]")
  return f"eval at step {step} over {len(per_member)} members: {'  '.join(shown)}"


def end_report(*, steps: int, seconds: float,
               images_per_s: Optional[float], losses: Mapping[str, float],
               eval_scores: Optional[Mapping[str, float]], eval_step: Optional[int],
               grid: Optional[Path]) -> str:
  """The last lines: how far, how fast, where things stand, where to look.

  Args:
    steps: steps this process trained, in ``seconds`` of wall time (compilation,
      grids, evaluation and checkpoints included).
    images_per_s: the last measured training speed (None: not measured).
  """
  speed = f"; training speed {images_per_s:,.0f} images/s" if images_per_s else ""
  lines = [f"Trained {steps:,} steps in {duration(seconds)}{speed}"]
  if losses:
    lines.append("  last losses: " + "  ".join(f"{k}={v:.4g}" for k, v in losses.items()))
  if eval_scores:
    lines.append("  last " + eval_line(eval_step, eval_scores))
  if grid is not None:
    lines.append(f"  newest grid: {grid}")
  return "\n".join(lines)
