"""Image datasets: from TFDS, MNIST-format IDX files, folders of images or
prepared ArrayRecord shards, held in memory or streamed step by step.

Importing this package is cheap: TensorFlow and TFDS are imported only when a
TFDS dataset is actually loaded, grain only when prepared data is read.
"""

from ganjax.data.errors import DataError
from ganjax.data.idx import read_idx
from ganjax.data.sources import ImageDataset, dataset_fingerprint, load_dataset

__all__ = ["DataError", "ImageDataset", "dataset_fingerprint", "load_dataset", "read_idx"]
