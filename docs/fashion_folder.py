r"""Write Fashion-MNIST as a folder of PNG files, one subfolder per class: a real
"folder of my images" to try ``data.folder`` and ``ganjax.prepare`` on.

  apt-get install -y dataset-fashion-mnist
  python docs/fashion_folder.py --out runs/fashion_folder [--split train]

writes ``<out>/<class>/<index>.png`` (60,000 28x28 grayscale PNGs for train).
"""

import argparse
from pathlib import Path

from PIL import Image

from ganjax.data import load_dataset

CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
           "sneaker", "bag", "ankle-boot")


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--out", required=True)
  parser.add_argument("--split", default="train")
  parser.add_argument("--idx_dir", default="/usr/share/datasets/fashion-mnist")
  args = parser.parse_args()
  data = load_dataset("fashion_mnist", args.split, idx_dir=args.idx_dir)
  out = Path(args.out)
  for name in CLASSES:
    (out / name).mkdir(parents=True, exist_ok=False)
  for index, (image, label) in enumerate(zip(data.images, data.labels)):
    Image.fromarray(image[..., 0]).save(out / CLASSES[label] / f"{index:05d}.png")
  print(f"Wrote {len(data.images):,} PNG files in {len(CLASSES)} class folders under {out}")


if __name__ == "__main__":
  main()
