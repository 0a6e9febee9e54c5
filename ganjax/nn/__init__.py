"""Neural-network layers shared by ganjax models (see :mod:`ganjax.nn.conv`)."""

from ganjax.nn.conv import (LOWERINGS, Conv, ConvTranspose, UpsampleConv, choose_lowering,
                            conv2d, conv_transpose2d, upsample_conv2d)

__all__ = [
  "LOWERINGS",
  "Conv",
  "ConvTranspose",
  "UpsampleConv",
  "choose_lowering",
  "conv2d",
  "conv_transpose2d",
  "upsample_conv2d",
]
