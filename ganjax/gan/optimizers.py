"""Optimizers from explicit hyper-parameters (read from ``config.optim.{g,d}``)."""

import optax


def build_optimizer(name: str = "adam", learning_rate: float | optax.Schedule = 2e-4,
                    b1: float = 0.9, b2: float = 0.999, eps: float = 1e-7,
                    weight_decay: float = 0.0) -> optax.GradientTransformation:
  """An optax optimizer; ``eps`` defaults to Keras' 1e-7, which the seed used.

  Raises:
    ValueError: for an unknown optimizer name or a learning rate that is not positive.
  """
  if isinstance(learning_rate, (int, float)) and not learning_rate > 0:
    raise ValueError(f"learning_rate must be positive, not {learning_rate}")
  if name == "adam":
    return optax.adam(learning_rate, b1=b1, b2=b2, eps=eps)
  if name == "adamw":
    return optax.adamw(learning_rate, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)
  if name == "rmsprop":
    return optax.rmsprop(learning_rate, eps=eps)
  if name == "sgd":
    return optax.sgd(learning_rate)
  raise ValueError(f"unknown optimizer {name!r}; choose adam, adamw, rmsprop or sgd")
