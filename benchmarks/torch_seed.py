"""PyTorch reference of the seed model and algorithm, for a speed comparison.

A benchmark, not a test: PyTorch is not a dependency of ganjax. Install it for
this script only (CPU wheel)::

    pip install torch==2.13.0

Model (the seed's Keras DCGAN tutorial, as ``ganjax/models/seed.py``):

* Discriminator: four 5x5 convolutions (64, 128, 256, 512 filters, strides
  2, 2, 2, 1) with TF/Keras 'same' padding (for stride 2 on even sizes TF pads
  one more row/column at the bottom/right: the excess is padded explicitly
  with ``F.pad``, the symmetric part by the convolution), each followed by
  LeakyReLU(0.2) and Dropout(0.4); flatten; Linear to one logit.
* Generator: uniform noise in [-1, 1] (100) -> Linear 7*7*256 -> BatchNorm ->
  ReLU -> (N, 256, 7, 7) -> Dropout(0.4) -> [nearest upsample x2 -> 5x5 conv
  128 -> BN -> ReLU] -> [upsample x2 -> 5x5 conv 64 -> BN -> ReLU] -> 5x5 conv
  32 -> BN -> ReLU -> 5x5 conv 1 -> sigmoid: 28x28x1 in [0, 1]. The seed's
  stride-1 'same' Conv2DTranspose is an ordinary convolution with a flipped
  kernel, so Conv2d. BatchNorm as Keras' defaults: momentum 0.9 (torch 0.1),
  eps 1e-3.

Algorithm per step (batch B):

* D update on real (B) and fake (B, G in train mode, no graph) concatenated into
  one batch, as the seed does; BCE with logits, mean; Adam lr 8e-4, eps 1e-7.
* G update on FRESH noise through the updated D (train mode: dropout active);
  non-saturating BCE; Adam lr 4e-4, eps 1e-7. Only G's gradients are computed
  (``backward(inputs=G's parameters)``), as ``jax.grad`` w.r.t. G's
  parameters does; ``--d-param-grads`` also computes D's parameter gradients
  in the G update (as the PyTorch DCGAN example does, then discards them).
* ``--reuse-fake``: the PyTorch DCGAN example's algorithm, one G forward (with
  graph) shared by the D update (detached) and the G update, like ganjax's
  ``train.reuse_fake``.

Data: random uint8 images held in memory, or ``--mnist`` (the real MNIST test
split read with gzip + numpy); each batch is gathered and normalised to [0, 1]
before its step's timer starts, so data loading is not timed.

Prints one JSON line::

    python benchmarks/torch_seed.py --batch-size 100 --steps 5 --warmup 2
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

_MNIST = Path(__file__).resolve().parents[2] / "shared/data/mnist/t10k-images-idx3-ubyte.gz"
_BN_EPS = 1e-3       # Keras' BatchNormalization default.
_BN_MOMENTUM = 0.1   # torch convention; Keras' momentum=0.9.


def tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
  """(before, after) padding of TF 'same' on one axis."""
  out = -(-size // stride)
  total = max((out - 1) * stride + kernel - size, 0)
  return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
  """Conv2d with TF/Keras 'same' padding for any stride and input size.

  The symmetric part of the padding is left to the convolution; only the
  excess at the bottom/right (stride 2 on even sizes) is padded with F.pad.
  """

  def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
               stride: int = 1):
    super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    k, s = self.kernel_size[0], self.stride[0]
    top, bottom = tf_same_padding(x.shape[-2], k, s)
    left, right = tf_same_padding(x.shape[-1], k, s)
    sym_h, sym_w = min(top, bottom), min(left, right)
    if (top, bottom, left, right) != (sym_h, sym_h, sym_w, sym_w):
      x = F.pad(x, (left - sym_w, right - sym_w, top - sym_h, bottom - sym_h))
    return F.conv2d(x, self.weight, self.bias, self.stride, (sym_h, sym_w))


class Discriminator(nn.Module):
  """Images (N, 1, 28, 28) -> logits (N,)."""

  def __init__(self, base: int = 64, dropout: float = 0.4, size: int = 28,
               channels: int = 1):
    super().__init__()
    layers, c = [], channels
    for i, stride in enumerate((2, 2, 2, 1)):
      layers += [SameConv2d(c, base * 2**i, 5, stride), nn.LeakyReLU(0.2),
                 nn.Dropout(dropout)]
      c = base * 2**i
      size = -(-size // stride)
    self.features = nn.Sequential(*layers)
    self.logit = nn.Linear(c * size * size, 1)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return self.logit(torch.flatten(self.features(x), 1))[:, 0]


class Generator(nn.Module):
  """Noise (N, 100) -> images (N, 1, 28, 28) in [0, 1]."""

  def __init__(self, noise_dim: int = 100, base: int = 256, dropout: float = 0.4,
               size: int = 28, channels: int = 1):
    super().__init__()
    self.start, self.base = size // 4, base
    bn2d = lambda c: nn.BatchNorm2d(c, eps=_BN_EPS, momentum=_BN_MOMENTUM)
    self.dense = nn.Linear(noise_dim, self.start * self.start * base)
    self.bn0 = nn.BatchNorm1d(self.start * self.start * base, eps=_BN_EPS,
                              momentum=_BN_MOMENTUM)
    self.dropout = nn.Dropout(dropout)
    self.body = nn.Sequential(
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(base, base // 2, 5, padding=2), bn2d(base // 2), nn.ReLU(),
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(base // 2, base // 4, 5, padding=2), bn2d(base // 4), nn.ReLU(),
        nn.Conv2d(base // 4, base // 8, 5, padding=2), bn2d(base // 8), nn.ReLU(),
        nn.Conv2d(base // 8, channels, 5, padding=2), nn.Sigmoid())

  def forward(self, z: torch.Tensor) -> torch.Tensor:
    x = F.relu(self.bn0(self.dense(z)))
    x = x.view(-1, self.base, self.start, self.start)
    return self.body(self.dropout(x))


def load_images(args: argparse.Namespace) -> np.ndarray:
  """uint8 images (N, 1, 28, 28): real MNIST test split or random."""
  if args.mnist:
    with gzip.open(args.mnist_path, "rb") as f:
      data = np.frombuffer(f.read(), np.uint8, offset=16)
    return data.reshape(-1, 1, 28, 28)
  rng = np.random.default_rng(args.seed)
  return rng.integers(0, 256, (max(1000, 4 * args.batch_size), 1, 28, 28), dtype=np.uint8)


class Trainer:
  """The seed's train step (or the DCGAN example's with ``reuse_fake``)."""

  def __init__(self, args: argparse.Namespace):
    self.args = args
    self.noise_dim = 100
    self.g, self.d = Generator(self.noise_dim), Discriminator()
    self.g.train()
    self.d.train()
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    self.g.to(memory_format=fmt)
    self.d.to(memory_format=fmt)
    self.memory_format = fmt
    self.g_params = list(self.g.parameters())
    self.opt_g = torch.optim.Adam(self.g_params, lr=4e-4, betas=(0.9, 0.999), eps=1e-7)
    self.opt_d = torch.optim.Adam(self.d.parameters(), lr=8e-4, betas=(0.9, 0.999),
                                  eps=1e-7)

  def noise(self, num: int) -> torch.Tensor:
    return torch.rand(num, self.noise_dim) * 2 - 1

  def step(self, real: torch.Tensor) -> dict:
    b = real.shape[0]
    labels = torch.cat([torch.ones(b), torch.zeros(b)])
    # D update on real + fake (detached) in one batch.
    if self.args.reuse_fake:
      fake = self.g(self.noise(b))              # keeps the graph for the G update
      fake_d = fake.detach()
    else:
      with torch.no_grad():
        fake_d = self.g(self.noise(b))          # train mode (BN batch stats, dropout)
    self.opt_d.zero_grad(set_to_none=True)
    logits = self.d(torch.cat([real, fake_d]).contiguous(memory_format=self.memory_format))
    d_loss = F.binary_cross_entropy_with_logits(logits, labels)
    d_loss.backward()
    self.opt_d.step()
    # G update through the updated D (train mode), non-saturating loss.
    if not self.args.reuse_fake:
      fake = self.g(self.noise(b))              # fresh noise
    self.opt_g.zero_grad(set_to_none=True)
    g_logits = self.d(fake.contiguous(memory_format=self.memory_format))
    g_loss = F.binary_cross_entropy_with_logits(g_logits, torch.ones(b))
    if self.args.d_param_grads:
      g_loss.backward()
    else:
      g_loss.backward(inputs=self.g_params)
    self.opt_g.step()
    return {"d_loss": d_loss.item(), "g_loss": g_loss.item()}


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--batch-size", type=int, default=100)
  parser.add_argument("--steps", type=int, default=5, help="timed steps")
  parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
  parser.add_argument("--reuse-fake", action="store_true",
                      help="one G forward shared by the D and G updates (DCGAN example)")
  parser.add_argument("--d-param-grads", action="store_true",
                      help="also compute D's parameter gradients in the G update")
  parser.add_argument("--channels-last", action="store_true",
                      help="NHWC memory format (default: torch's NCHW)")
  parser.add_argument("--threads", type=int, default=os.cpu_count(),
                      help="torch.set_num_threads (default: os.cpu_count())")
  parser.add_argument("--mnist", action="store_true",
                      help="real MNIST test images instead of random ones")
  parser.add_argument("--mnist-path", type=Path, default=_MNIST)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args(argv)

  torch.set_num_threads(args.threads)
  torch.manual_seed(args.seed)
  images = load_images(args)
  rng = np.random.default_rng(args.seed + 1)
  trainer = Trainer(args)

  def batch() -> torch.Tensor:   # Not timed.
    idx = rng.integers(0, len(images), args.batch_size)
    real = torch.from_numpy(images[idx].astype(np.float32) / 255.0)
    return real.contiguous(memory_format=trainer.memory_format)

  times, losses = [], {}
  for i in range(1 + args.warmup + args.steps):
    real = batch()
    start = time.perf_counter()
    losses = trainer.step(real)
    elapsed = time.perf_counter() - start
    if i == 0:
      first_s = elapsed
    elif i > args.warmup:
      times.append(elapsed)
  step_s = statistics.median(times)
  result = {
      "framework": "pytorch", "torch": torch.__version__,
      "threads": torch.get_num_threads(),
      "step_s": step_s, "images_per_s": args.batch_size / step_s,
      "step_times": [round(t, 4) for t in times], "first_step_s": first_s,
      "batch_size": args.batch_size, "steps": args.steps, "warmup": args.warmup,
      "reuse_fake": args.reuse_fake, "d_param_grads": args.d_param_grads,
      "channels_last": args.channels_last, "data": "mnist" if args.mnist else "random",
      "mkldnn": torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled,
      "cpu_capability": torch.backends.cpu.get_cpu_capability(),
      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
      **{k: round(v, 4) for k, v in losses.items()},
  }
  print(json.dumps(result), flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
