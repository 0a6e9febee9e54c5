"""Image datasets in host memory, from TFDS or MNIST-format IDX files.

Importing this package is cheap: TensorFlow and TFDS are imported only when a
TFDS dataset is actually loaded.
"""

from ganjax.data.errors import DataError
from ganjax.data.idx import read_idx
from ganjax.data.sources import ImageDataset, dataset_fingerprint, load_dataset

__all__ = ["DataError", "ImageDataset", "dataset_fingerprint", "load_dataset", "read_idx"]
