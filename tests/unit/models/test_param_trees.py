"""The parameter trees of every model family, pinned.

Checkpoints store variables by these paths and shapes, so a refactor of the
model code that renames a layer (flax names unnamed layers by class and order)
or reshapes one would make existing checkpoints unrestorable. The trees below
were written down from the models as they were trained; a change to them is a
change of checkpoint format.
"""

import jax
import jax.numpy as jnp
import pytest

from ganjax.models import MODELS, Condition, build_model

#: Family case -> (model name, image shape, classes, options): small sizes.
CASES = {
    "seed": ("seed", (28, 28, 1), None,
             dict(noise_dim=8, g_features=16, d_features=8)),
    "dcgan": ("dcgan", (28, 28, 1), None, dict(noise_dim=8, g_features=4, d_features=4)),
    "cgan-cbn-projection": ("cgan", (28, 28, 1), 10, dict(
        noise_dim=8, g_features=4, d_features=4, embed_dim=4, g_conditioning="cbn",
        d_conditioning="projection")),
    "cgan-concat-concat": ("cgan", (28, 28, 1), 10, dict(
        noise_dim=8, g_features=4, d_features=4, embed_dim=4, g_conditioning="concat",
        d_conditioning="concat")),
    "pix2pix": ("pix2pix", (16, 16, 1), None,
                dict(g_features=4, d_features=4, max_depth=3, dtype="bfloat16")),
    "resnet": ("resnet", (32, 32, 3), None, dict(noise_dim=8, g_features=4, d_features=4)),
    "resnet-conditional-28": ("resnet", (28, 28, 1), 10, dict(
        noise_dim=8, g_features=4, d_features=4, conditional=True)),
}

#: Family case -> network -> "collection/module/.../leaf" -> shape.
GOLDEN = {
    "seed": {
        "generator": {
            "batch_stats/BatchNorm_0/mean": (784,),
            "batch_stats/BatchNorm_0/var": (784,),
            "batch_stats/BatchNorm_1/mean": (8,),
            "batch_stats/BatchNorm_1/var": (8,),
            "batch_stats/BatchNorm_2/mean": (4,),
            "batch_stats/BatchNorm_2/var": (4,),
            "batch_stats/BatchNorm_3/mean": (2,),
            "batch_stats/BatchNorm_3/var": (2,),
            "params/BatchNorm_0/bias": (784,),
            "params/BatchNorm_0/scale": (784,),
            "params/BatchNorm_1/bias": (8,),
            "params/BatchNorm_1/scale": (8,),
            "params/BatchNorm_2/bias": (4,),
            "params/BatchNorm_2/scale": (4,),
            "params/BatchNorm_3/bias": (2,),
            "params/BatchNorm_3/scale": (2,),
            "params/Conv_0/bias": (2,),
            "params/Conv_0/kernel": (5, 5, 4, 2),
            "params/Conv_1/bias": (1,),
            "params/Conv_1/kernel": (5, 5, 2, 1),
            "params/Dense_0/bias": (784,),
            "params/Dense_0/kernel": (8, 784),
            "params/UpsampleConv_0/bias": (8,),
            "params/UpsampleConv_0/kernel": (5, 5, 16, 8),
            "params/UpsampleConv_1/bias": (4,),
            "params/UpsampleConv_1/kernel": (5, 5, 8, 4),
        },
        "discriminator": {
            "params/Conv_0/bias": (8,),
            "params/Conv_0/kernel": (5, 5, 1, 8),
            "params/Conv_1/bias": (16,),
            "params/Conv_1/kernel": (5, 5, 8, 16),
            "params/Conv_2/bias": (32,),
            "params/Conv_2/kernel": (5, 5, 16, 32),
            "params/Conv_3/bias": (64,),
            "params/Conv_3/kernel": (5, 5, 32, 64),
            "params/Dense_0/bias": (1,),
            "params/Dense_0/kernel": (1024, 1),
        },
    },
    "dcgan": {
        "generator": {
            "batch_stats/BatchNorm_0/mean": (784,),
            "batch_stats/BatchNorm_0/var": (784,),
            "batch_stats/BatchNorm_1/mean": (8,),
            "batch_stats/BatchNorm_1/var": (8,),
            "params/BatchNorm_0/bias": (784,),
            "params/BatchNorm_0/scale": (784,),
            "params/BatchNorm_1/bias": (8,),
            "params/BatchNorm_1/scale": (8,),
            "params/ConvTranspose_0/kernel": (5, 5, 16, 8),
            "params/ConvTranspose_1/bias": (1,),
            "params/ConvTranspose_1/kernel": (5, 5, 8, 1),
            "params/Dense_0/kernel": (8, 784),
        },
        "discriminator": {
            "batch_stats/BatchNorm_0/mean": (8,),
            "batch_stats/BatchNorm_0/var": (8,),
            "params/BatchNorm_0/bias": (8,),
            "params/BatchNorm_0/scale": (8,),
            "params/Conv_0/bias": (4,),
            "params/Conv_0/kernel": (5, 5, 1, 4),
            "params/Conv_1/kernel": (5, 5, 4, 8),
            "params/Dense_0/bias": (1,),
            "params/Dense_0/kernel": (392, 1),
        },
    },
    "cgan-cbn-projection": {
        "generator": {
            "batch_stats/ConditionalBatchNorm_0/BatchNorm_0/mean": (16,),
            "batch_stats/ConditionalBatchNorm_0/BatchNorm_0/var": (16,),
            "batch_stats/ConditionalBatchNorm_1/BatchNorm_0/mean": (8,),
            "batch_stats/ConditionalBatchNorm_1/BatchNorm_0/var": (8,),
            "params/ConditionalBatchNorm_0/scale/embedding": (10, 16),
            "params/ConditionalBatchNorm_0/shift/embedding": (10, 16),
            "params/ConditionalBatchNorm_1/scale/embedding": (10, 8),
            "params/ConditionalBatchNorm_1/shift/embedding": (10, 8),
            "params/ConvTranspose_0/bias": (8,),
            "params/ConvTranspose_0/kernel": (5, 5, 16, 8),
            "params/ConvTranspose_1/bias": (1,),
            "params/ConvTranspose_1/kernel": (5, 5, 8, 1),
            "params/Dense_0/bias": (784,),
            "params/Dense_0/kernel": (12, 784),
            "params/label_embedding/embedding": (10, 4),
        },
        "discriminator": {
            "batch_stats/BatchNorm_0/mean": (8,),
            "batch_stats/BatchNorm_0/var": (8,),
            "params/BatchNorm_0/bias": (8,),
            "params/BatchNorm_0/scale": (8,),
            "params/Conv_0/bias": (4,),
            "params/Conv_0/kernel": (5, 5, 1, 4),
            "params/Conv_1/bias": (8,),
            "params/Conv_1/kernel": (5, 5, 4, 8),
            "params/Dense_0/bias": (1,),
            "params/Dense_0/kernel": (392, 1),
            "params/projection/embedding": (10, 392),
        },
    },
    "cgan-concat-concat": {
        "generator": {
            "batch_stats/BatchNorm_0/mean": (16,),
            "batch_stats/BatchNorm_0/var": (16,),
            "batch_stats/BatchNorm_1/mean": (8,),
            "batch_stats/BatchNorm_1/var": (8,),
            "params/BatchNorm_0/bias": (16,),
            "params/BatchNorm_0/scale": (16,),
            "params/BatchNorm_1/bias": (8,),
            "params/BatchNorm_1/scale": (8,),
            "params/ConvTranspose_0/bias": (8,),
            "params/ConvTranspose_0/kernel": (5, 5, 16, 8),
            "params/ConvTranspose_1/bias": (1,),
            "params/ConvTranspose_1/kernel": (5, 5, 8, 1),
            "params/Dense_0/bias": (784,),
            "params/Dense_0/kernel": (12, 784),
            "params/label_embedding/embedding": (10, 4),
        },
        "discriminator": {
            "batch_stats/BatchNorm_0/mean": (8,),
            "batch_stats/BatchNorm_0/var": (8,),
            "params/BatchNorm_0/bias": (8,),
            "params/BatchNorm_0/scale": (8,),
            "params/Conv_0/bias": (4,),
            "params/Conv_0/kernel": (5, 5, 5, 4),
            "params/Conv_1/bias": (8,),
            "params/Conv_1/kernel": (5, 5, 4, 8),
            "params/Dense_0/bias": (1,),
            "params/Dense_0/kernel": (392, 1),
            "params/label_embedding/embedding": (10, 4),
        },
    },
    "pix2pix": {
        "generator": {
            "batch_stats/BatchNorm_0/mean": (8,),
            "batch_stats/BatchNorm_0/var": (8,),
            "batch_stats/BatchNorm_1/mean": (8,),
            "batch_stats/BatchNorm_1/var": (8,),
            "batch_stats/BatchNorm_2/mean": (4,),
            "batch_stats/BatchNorm_2/var": (4,),
            "params/BatchNorm_0/bias": (8,),
            "params/BatchNorm_0/scale": (8,),
            "params/BatchNorm_1/bias": (8,),
            "params/BatchNorm_1/scale": (8,),
            "params/BatchNorm_2/bias": (4,),
            "params/BatchNorm_2/scale": (4,),
            "params/down0/bias": (4,),
            "params/down0/kernel": (4, 4, 1, 4),
            "params/down1/bias": (8,),
            "params/down1/kernel": (4, 4, 4, 8),
            "params/down2/bias": (16,),
            "params/down2/kernel": (4, 4, 8, 16),
            "params/up0/bias": (1,),
            "params/up0/kernel": (4, 4, 8, 1),
            "params/up1/bias": (4,),
            "params/up1/kernel": (4, 4, 16, 4),
            "params/up2/bias": (8,),
            "params/up2/kernel": (4, 4, 16, 8),
        },
        "discriminator": {
            "batch_stats/BatchNorm_0/mean": (8,),
            "batch_stats/BatchNorm_0/var": (8,),
            "batch_stats/BatchNorm_1/mean": (16,),
            "batch_stats/BatchNorm_1/var": (16,),
            "batch_stats/BatchNorm_2/mean": (32,),
            "batch_stats/BatchNorm_2/var": (32,),
            "params/BatchNorm_0/bias": (8,),
            "params/BatchNorm_0/scale": (8,),
            "params/BatchNorm_1/bias": (16,),
            "params/BatchNorm_1/scale": (16,),
            "params/BatchNorm_2/bias": (32,),
            "params/BatchNorm_2/scale": (32,),
            "params/Conv_0/bias": (4,),
            "params/Conv_0/kernel": (4, 4, 2, 4),
            "params/Conv_1/bias": (8,),
            "params/Conv_1/kernel": (4, 4, 4, 8),
            "params/Conv_2/bias": (16,),
            "params/Conv_2/kernel": (4, 4, 8, 16),
            "params/Conv_3/bias": (32,),
            "params/Conv_3/kernel": (4, 4, 16, 32),
            "params/Conv_4/bias": (1,),
            "params/Conv_4/kernel": (4, 4, 32, 1),
        },
    },
    "resnet": {
        "generator": {
            "batch_stats/BatchNorm_0/mean": (4,),
            "batch_stats/BatchNorm_0/var": (4,),
            "batch_stats/block0/BatchNorm_0/mean": (4,),
            "batch_stats/block0/BatchNorm_0/var": (4,),
            "batch_stats/block0/BatchNorm_1/mean": (4,),
            "batch_stats/block0/BatchNorm_1/var": (4,),
            "batch_stats/block1/BatchNorm_0/mean": (4,),
            "batch_stats/block1/BatchNorm_0/var": (4,),
            "batch_stats/block1/BatchNorm_1/mean": (4,),
            "batch_stats/block1/BatchNorm_1/var": (4,),
            "batch_stats/block2/BatchNorm_0/mean": (4,),
            "batch_stats/block2/BatchNorm_0/var": (4,),
            "batch_stats/block2/BatchNorm_1/mean": (4,),
            "batch_stats/block2/BatchNorm_1/var": (4,),
            "params/BatchNorm_0/bias": (4,),
            "params/BatchNorm_0/scale": (4,),
            "params/block0/BatchNorm_0/bias": (4,),
            "params/block0/BatchNorm_0/scale": (4,),
            "params/block0/BatchNorm_1/bias": (4,),
            "params/block0/BatchNorm_1/scale": (4,),
            "params/block0/Conv_0/bias": (4,),
            "params/block0/Conv_0/kernel": (3, 3, 4, 4),
            "params/block0/UpsampleConv_0/kernel": (3, 3, 4, 4),
            "params/block0/shortcut/bias": (4,),
            "params/block0/shortcut/kernel": (1, 1, 4, 4),
            "params/block1/BatchNorm_0/bias": (4,),
            "params/block1/BatchNorm_0/scale": (4,),
            "params/block1/BatchNorm_1/bias": (4,),
            "params/block1/BatchNorm_1/scale": (4,),
            "params/block1/Conv_0/bias": (4,),
            "params/block1/Conv_0/kernel": (3, 3, 4, 4),
            "params/block1/UpsampleConv_0/kernel": (3, 3, 4, 4),
            "params/block1/shortcut/bias": (4,),
            "params/block1/shortcut/kernel": (1, 1, 4, 4),
            "params/block2/BatchNorm_0/bias": (4,),
            "params/block2/BatchNorm_0/scale": (4,),
            "params/block2/BatchNorm_1/bias": (4,),
            "params/block2/BatchNorm_1/scale": (4,),
            "params/block2/Conv_0/bias": (4,),
            "params/block2/Conv_0/kernel": (3, 3, 4, 4),
            "params/block2/UpsampleConv_0/kernel": (3, 3, 4, 4),
            "params/block2/shortcut/bias": (4,),
            "params/block2/shortcut/kernel": (1, 1, 4, 4),
            "params/output/bias": (3,),
            "params/output/kernel": (3, 3, 4, 3),
            "params/project/bias": (64,),
            "params/project/kernel": (8, 64),
        },
        "discriminator": {
            "batch_stats/SpectralNorm_0/logit/kernel/sigma": (),
            "batch_stats/SpectralNorm_0/logit/kernel/u": (1, 1),
            "batch_stats/block0/SpectralNorm_0/Conv_0/kernel/sigma": (),
            "batch_stats/block0/SpectralNorm_0/Conv_0/kernel/u": (1, 4),
            "batch_stats/block0/SpectralNorm_1/Conv_1/kernel/sigma": (),
            "batch_stats/block0/SpectralNorm_1/Conv_1/kernel/u": (1, 4),
            "batch_stats/block0/SpectralNorm_2/shortcut/kernel/sigma": (),
            "batch_stats/block0/SpectralNorm_2/shortcut/kernel/u": (1, 4),
            "batch_stats/block1/SpectralNorm_0/Conv_0/kernel/sigma": (),
            "batch_stats/block1/SpectralNorm_0/Conv_0/kernel/u": (1, 4),
            "batch_stats/block1/SpectralNorm_1/Conv_1/kernel/sigma": (),
            "batch_stats/block1/SpectralNorm_1/Conv_1/kernel/u": (1, 4),
            "batch_stats/block1/SpectralNorm_2/shortcut/kernel/sigma": (),
            "batch_stats/block1/SpectralNorm_2/shortcut/kernel/u": (1, 4),
            "batch_stats/block2/SpectralNorm_0/Conv_0/kernel/sigma": (),
            "batch_stats/block2/SpectralNorm_0/Conv_0/kernel/u": (1, 4),
            "batch_stats/block2/SpectralNorm_1/Conv_1/kernel/sigma": (),
            "batch_stats/block2/SpectralNorm_1/Conv_1/kernel/u": (1, 4),
            "batch_stats/block3/SpectralNorm_0/Conv_0/kernel/sigma": (),
            "batch_stats/block3/SpectralNorm_0/Conv_0/kernel/u": (1, 4),
            "batch_stats/block3/SpectralNorm_1/Conv_1/kernel/sigma": (),
            "batch_stats/block3/SpectralNorm_1/Conv_1/kernel/u": (1, 4),
            "params/block0/Conv_0/bias": (4,),
            "params/block0/Conv_0/kernel": (3, 3, 3, 4),
            "params/block0/Conv_1/bias": (4,),
            "params/block0/Conv_1/kernel": (3, 3, 4, 4),
            "params/block0/shortcut/bias": (4,),
            "params/block0/shortcut/kernel": (1, 1, 3, 4),
            "params/block1/Conv_0/bias": (4,),
            "params/block1/Conv_0/kernel": (3, 3, 4, 4),
            "params/block1/Conv_1/bias": (4,),
            "params/block1/Conv_1/kernel": (3, 3, 4, 4),
            "params/block1/shortcut/bias": (4,),
            "params/block1/shortcut/kernel": (1, 1, 4, 4),
            "params/block2/Conv_0/bias": (4,),
            "params/block2/Conv_0/kernel": (3, 3, 4, 4),
            "params/block2/Conv_1/bias": (4,),
            "params/block2/Conv_1/kernel": (3, 3, 4, 4),
            "params/block3/Conv_0/bias": (4,),
            "params/block3/Conv_0/kernel": (3, 3, 4, 4),
            "params/block3/Conv_1/bias": (4,),
            "params/block3/Conv_1/kernel": (3, 3, 4, 4),
            "params/logit/bias": (1,),
            "params/logit/kernel": (4, 1),
        },
    },
    "resnet-conditional-28": {
        "generator": {
            "batch_stats/BatchNorm_0/mean": (4,),
            "batch_stats/BatchNorm_0/var": (4,),
            "batch_stats/block0/ConditionalBatchNorm_0/BatchNorm_0/mean": (4,),
            "batch_stats/block0/ConditionalBatchNorm_0/BatchNorm_0/var": (4,),
            "batch_stats/block0/ConditionalBatchNorm_1/BatchNorm_0/mean": (4,),
            "batch_stats/block0/ConditionalBatchNorm_1/BatchNorm_0/var": (4,),
            "batch_stats/block1/ConditionalBatchNorm_0/BatchNorm_0/mean": (4,),
            "batch_stats/block1/ConditionalBatchNorm_0/BatchNorm_0/var": (4,),
            "batch_stats/block1/ConditionalBatchNorm_1/BatchNorm_0/mean": (4,),
            "batch_stats/block1/ConditionalBatchNorm_1/BatchNorm_0/var": (4,),
            "params/BatchNorm_0/bias": (4,),
            "params/BatchNorm_0/scale": (4,),
            "params/block0/ConditionalBatchNorm_0/scale/embedding": (10, 4),
            "params/block0/ConditionalBatchNorm_0/shift/embedding": (10, 4),
            "params/block0/ConditionalBatchNorm_1/scale/embedding": (10, 4),
            "params/block0/ConditionalBatchNorm_1/shift/embedding": (10, 4),
            "params/block0/Conv_0/bias": (4,),
            "params/block0/Conv_0/kernel": (3, 3, 4, 4),
            "params/block0/UpsampleConv_0/kernel": (3, 3, 4, 4),
            "params/block0/shortcut/bias": (4,),
            "params/block0/shortcut/kernel": (1, 1, 4, 4),
            "params/block1/ConditionalBatchNorm_0/scale/embedding": (10, 4),
            "params/block1/ConditionalBatchNorm_0/shift/embedding": (10, 4),
            "params/block1/ConditionalBatchNorm_1/scale/embedding": (10, 4),
            "params/block1/ConditionalBatchNorm_1/shift/embedding": (10, 4),
            "params/block1/Conv_0/bias": (4,),
            "params/block1/Conv_0/kernel": (3, 3, 4, 4),
            "params/block1/UpsampleConv_0/kernel": (3, 3, 4, 4),
            "params/block1/shortcut/bias": (4,),
            "params/block1/shortcut/kernel": (1, 1, 4, 4),
            "params/output/bias": (1,),
            "params/output/kernel": (3, 3, 4, 1),
            "params/project/bias": (196,),
            "params/project/kernel": (8, 196),
        },
        "discriminator": {
            "batch_stats/SpectralNorm_0/logit/kernel/sigma": (),
            "batch_stats/SpectralNorm_0/logit/kernel/u": (1, 1),
            "batch_stats/SpectralNorm_1/projection/embedding/sigma": (),
            "batch_stats/SpectralNorm_1/projection/embedding/u": (1, 4),
            "batch_stats/block0/SpectralNorm_0/Conv_0/kernel/sigma": (),
            "batch_stats/block0/SpectralNorm_0/Conv_0/kernel/u": (1, 4),
            "batch_stats/block0/SpectralNorm_1/Conv_1/kernel/sigma": (),
            "batch_stats/block0/SpectralNorm_1/Conv_1/kernel/u": (1, 4),
            "batch_stats/block0/SpectralNorm_2/shortcut/kernel/sigma": (),
            "batch_stats/block0/SpectralNorm_2/shortcut/kernel/u": (1, 4),
            "batch_stats/block1/SpectralNorm_0/Conv_0/kernel/sigma": (),
            "batch_stats/block1/SpectralNorm_0/Conv_0/kernel/u": (1, 4),
            "batch_stats/block1/SpectralNorm_1/Conv_1/kernel/sigma": (),
            "batch_stats/block1/SpectralNorm_1/Conv_1/kernel/u": (1, 4),
            "batch_stats/block1/SpectralNorm_2/shortcut/kernel/sigma": (),
            "batch_stats/block1/SpectralNorm_2/shortcut/kernel/u": (1, 4),
            "batch_stats/block2/SpectralNorm_0/Conv_0/kernel/sigma": (),
            "batch_stats/block2/SpectralNorm_0/Conv_0/kernel/u": (1, 4),
            "batch_stats/block2/SpectralNorm_1/Conv_1/kernel/sigma": (),
            "batch_stats/block2/SpectralNorm_1/Conv_1/kernel/u": (1, 4),
            "batch_stats/block3/SpectralNorm_0/Conv_0/kernel/sigma": (),
            "batch_stats/block3/SpectralNorm_0/Conv_0/kernel/u": (1, 4),
            "batch_stats/block3/SpectralNorm_1/Conv_1/kernel/sigma": (),
            "batch_stats/block3/SpectralNorm_1/Conv_1/kernel/u": (1, 4),
            "params/block0/Conv_0/bias": (4,),
            "params/block0/Conv_0/kernel": (3, 3, 1, 4),
            "params/block0/Conv_1/bias": (4,),
            "params/block0/Conv_1/kernel": (3, 3, 4, 4),
            "params/block0/shortcut/bias": (4,),
            "params/block0/shortcut/kernel": (1, 1, 1, 4),
            "params/block1/Conv_0/bias": (4,),
            "params/block1/Conv_0/kernel": (3, 3, 4, 4),
            "params/block1/Conv_1/bias": (4,),
            "params/block1/Conv_1/kernel": (3, 3, 4, 4),
            "params/block1/shortcut/bias": (4,),
            "params/block1/shortcut/kernel": (1, 1, 4, 4),
            "params/block2/Conv_0/bias": (4,),
            "params/block2/Conv_0/kernel": (3, 3, 4, 4),
            "params/block2/Conv_1/bias": (4,),
            "params/block2/Conv_1/kernel": (3, 3, 4, 4),
            "params/block3/Conv_0/bias": (4,),
            "params/block3/Conv_0/kernel": (3, 3, 4, 4),
            "params/block3/Conv_1/bias": (4,),
            "params/block3/Conv_1/kernel": (3, 3, 4, 4),
            "params/logit/bias": (1,),
            "params/logit/kernel": (4, 1),
            "params/projection/embedding": (10, 4),
        },
    },
}


def _trees(case, **extra_options):
  """Variable paths and shapes of G and D, from abstract initialisation.

  ``extra_options`` are added to (or override) the case's model options.
  """
  name, shape, num_classes, options = CASES[case]
  model = build_model(name, shape, num_classes, **{**options, **extra_options})
  batch = 2
  condition = {
      Condition.NONE: None,
      Condition.LABEL: jax.ShapeDtypeStruct((batch,), jnp.int32),
      Condition.IMAGE: jax.ShapeDtypeStruct((batch,) + shape[:2] + (1,), jnp.float32),
  }[model.condition]
  noise = (jax.ShapeDtypeStruct((batch, model.noise_dim), jnp.float32)
           if model.noise_dim else None)
  images = jax.ShapeDtypeStruct((batch,) + shape, jnp.float32)
  trees = {}
  for network, module, x in (("generator", model.generator, noise),
                             ("discriminator", model.discriminator, images)):
    variables = jax.eval_shape(
        lambda x, c: module.init(jax.random.PRNGKey(0), x, c, train=False), x, condition)
    leaves = jax.tree_util.tree_flatten_with_path(variables)[0]
    trees[network] = {"/".join(p.key for p in path): tuple(leaf.shape)
                      for path, leaf in leaves}
  return model, trees


@pytest.mark.parametrize("case", sorted(CASES))
def test_parameter_trees_are_pinned(case):
  _, trees = _trees(case)
  assert trees == GOLDEN[case]


@pytest.mark.parametrize("case", sorted(CASES))
def test_discriminator_batch_norm_is_declared_truly(case):
  model, trees = _trees(case)
  has_batch_norm = any("BatchNorm" in path for path in trees["discriminator"])
  assert model.discriminator_batch_norm == has_batch_norm


def test_every_registered_family_is_pinned():
  assert {name for name, *_ in CASES.values()} == set(MODELS)


def test_condition_is_a_string_value():
  name, shape, num_classes, options = CASES["cgan-concat-concat"]
  model = build_model(name, shape, num_classes, **options)
  assert model.condition is Condition.LABEL
  assert model.condition == "label" and {"label": 1}[model.condition] == 1
  assert f"{model.condition}" == "label"
